"""Fuzzing the render engine with mutated real images: whatever bytes an origin sends, only
phizer's own errors leave `render_all`, and no single original takes more than a few seconds.

Seeds are the small renderable files of the shared edge-case folder (JPEG baseline, CMYK,
grey and broken-EXIF; PNG palette/colour-key/16-bit; GIF; WebP lossy, lossless, alpha and
EXIF-rotated; AVIF). Mutations are the ways real files go wrong and hostile ones are made:
bit flips, truncation, random byte runs, the width/height fields of the header rewritten
(to 0, 1, 65535, ...), and chunks/segments dropped, duplicated or shuffled.

URL parsing is fuzzed in tests/test_urls.py (total on arbitrary text, canonical, signatures
bound to their path); this file does not repeat it.

`PHIZER_FUZZ_EXAMPLES` raises the example count (default 200 a test, for `scripts/test`).
"""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EDGECASES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from phizer.base.errors import PhizerError
from phizer.base.models import CropBox, RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine.render import render_all

# Pillow warns about what mutated headers claim (sizes, EXIF tags past the end); expected here.
pytestmark = [
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
    pytest.mark.filterwarnings("ignore:Tag data larger than file:UserWarning"),
    pytest.mark.filterwarnings("ignore:Possibly corrupt EXIF:UserWarning"),
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning"),
    pytest.mark.filterwarnings("ignore:Truncated File Read:UserWarning"),
]
EXAMPLES = int(os.environ.get("PHIZER_FUZZ_EXAMPLES", "200"))
# Seconds one example may take. Generous for a loaded 2-core CI machine; the point is that a
# hostile file cannot make a worker spin (the seeds render far quicker).
PER_EXAMPLE = 8.0
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # timed by hand below: a deadline flakes on a shared machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = (
    "hopper.jpg",
    "hopper_gray.jpg",
    "pil_sample_cmyk.jpg",
    "invalid-exif.jpg",
    "hopper.png",
    "p_trns_single.png",
    "rgb_trns.png",
    "RGBA_16__128x128.png",
    "hopper.gif",
    "hopper.webp",
    "transparent.webp",
    "gen_lossless_alpha.webp",
    "hopper_orientation_6.webp",
    "hopper.avif",
)
OUTPUT = OutputConfig()
# A lower pixel cap than the default keeps a mutated header's allocation (up to 4 bytes a
# pixel, before the decoder finds the data short) small enough for two fuzzers side by side;
# the default cap itself is exercised by tests/test_hostile_originals.py.
LIMITS = LimitsConfig(max_pixels=16_000_000, max_frames=20)
SIZES = (SizeSpec("m", 300, 300, "max"), SizeSpec("s", 64, 64, "fill"))


def targets(fmt: str | None = None, crop: CropBox | None = None) -> list[RenderTarget]:
    return [RenderTarget(s, f"{s.dimensions}/x", crop=crop, format=fmt) for s in SIZES]


def seed(name: str) -> bytes:
    return (EDGECASES / name).read_bytes()


# --- mutations -------------------------------------------------------------------------


def flip_bits(data: bytes, positions: list[int]) -> bytes:
    out = bytearray(data)
    for p in positions:
        if out:
            out[(p // 8) % len(out)] ^= 1 << (p % 8)
    return bytes(out)


def overwrite(data: bytes, at: int, run: bytes) -> bytes:
    if not data:
        return run
    at %= len(data)
    return data[:at] + run + data[at + len(run) :]


def splice(data: bytes, at: int, delete: int, insert: bytes) -> bytes:
    at = at % (len(data) + 1)
    return data[:at] + insert + data[at + delete :]


def jpeg_segments(data: bytes) -> tuple[bytes, list[bytes], bytes] | None:
    """(SOI, marker segments before the scan, the scan to the end) of a JPEG."""
    if not data.startswith(b"\xff\xd8"):
        return None
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segments.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return data[:2], segments, data[pos:]


def png_chunks(data: bytes) -> list[bytes] | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        chunks.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return chunks


def riff_chunks(data: bytes) -> list[bytes] | None:
    if not (data.startswith(b"RIFF") and data[8:12] == b"WEBP"):
        return None
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        length = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        end = pos + 8 + length + (length & 1)
        chunks.append(data[pos:end])
        pos = end
    return chunks


def gif_first_frame(data: bytes) -> int | None:
    """The offset of a GIF's first image descriptor: after the global colour table and any
    extension blocks."""
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while pos < len(data) and data[pos] == 0x21:  # an extension: label, then sub-blocks
        pos += 2
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
    return pos if pos < len(data) and data[pos] == 0x2C else None


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + body))
    return struct.pack(">I", len(body)) + kind + body + crc


def set_dimensions(data: bytes, width: int, height: int) -> bytes:
    """The header's width and height rewritten (checksums fixed, so the parser believes it)."""
    out = bytearray(data)
    if data.startswith(b"\xff\xd8"):  # every SOFn frame header
        for sof in (0xC0, 0xC1, 0xC2):
            at = data.find(bytes([0xFF, sof]))
            if at >= 0 and at + 9 <= len(data):
                struct.pack_into(">HH", out, at + 5, height & 0xFFFF, width & 0xFFFF)
        return bytes(out)
    if (chunks := png_chunks(data)) and chunks[0][4:8] == b"IHDR":
        body = struct.pack(">II", width, height) + chunks[0][16:-4]
        return data[:8] + png_chunk(b"IHDR", body) + b"".join(chunks[1:])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 13:
        struct.pack_into("<HH", out, 6, width & 0xFFFF, height & 0xFFFF)
        frame = gif_first_frame(data)
        if frame is not None and frame + 9 <= len(data):
            struct.pack_into("<HH", out, frame + 5, width & 0xFFFF, height & 0xFFFF)
        return bytes(out)
    if chunks := riff_chunks(data):
        fixed = []
        for chunk in chunks:
            c = bytearray(chunk)
            if chunk[:4] == b"VP8X" and len(c) >= 18:
                c[12:15] = ((width - 1) & 0xFFFFFF).to_bytes(3, "little")
                c[15:18] = ((height - 1) & 0xFFFFFF).to_bytes(3, "little")
            elif chunk[:4] == b"VP8 " and len(c) >= 18:
                struct.pack_into("<HH", c, 14, width & 0x3FFF, height & 0x3FFF)
            elif chunk[:4] == b"VP8L" and len(c) >= 13:
                bits = ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
                packed = struct.unpack("<I", bytes(c[9:13]))[0]
                c[9:13] = struct.pack("<I", (packed & ~0x0FFFFFFF) | bits)
            fixed.append(bytes(c))
        body = b"WEBP" + b"".join(fixed)
        return b"RIFF" + struct.pack("<I", len(body)) + body
    ispe = data.find(b"ispe")  # AVIF's image extent box: version/flags, then width, height
    if data[4:8] == b"ftyp" and ispe >= 0 and ispe + 16 <= len(data):
        struct.pack_into(">II", out, ispe + 8, width & 0xFFFFFFFF, height & 0xFFFFFFFF)
    return bytes(out)


def shuffle_chunks(data: bytes, order: list[int], drop: int | None, repeat: int | None) -> bytes:
    """The file's chunks (PNG), segments (JPEG header) or RIFF chunks (WebP) reordered,
    one dropped and one duplicated; other formats are returned unchanged."""

    def rearrange(parts: list[bytes]) -> list[bytes]:
        if not parts:
            return parts
        ranked = sorted(range(len(parts)), key=lambda i: order[i % len(order)] if order else i)
        out = [parts[i] for i in ranked]
        if drop is not None and len(out) > 1:
            del out[drop % len(out)]
        if repeat is not None:
            out.insert(repeat % (len(out) + 1), out[repeat % len(out)])
        return out

    if jpeg := jpeg_segments(data):
        soi, segments, scan = jpeg
        return soi + b"".join(rearrange(segments)) + scan
    if (chunks := png_chunks(data)) is not None:
        return data[:8] + b"".join(rearrange(chunks))
    if (chunks := riff_chunks(data)) is not None:
        body = b"WEBP" + b"".join(rearrange(chunks))
        return b"RIFF" + struct.pack("<I", len(body)) + body
    return data


DIMENSION = st.sampled_from([0, 1, 2, 7, 255, 256, 4000, 16383, 16384, 65535, 70000, 1 << 24])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed and one to three mutations of it."""
    name = draw(st.sampled_from(SEEDS))
    data = seed(name)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "overwrite", "splice", "dims", "chunks"]))
        size = max(len(data), 1)
        if kind == "flip":
            data = flip_bits(data, draw(st.lists(st.integers(0, size * 8 - 1), max_size=16)))
        elif kind == "truncate":
            data = data[: draw(st.integers(0, size))]
        elif kind == "overwrite":
            data = overwrite(data, draw(st.integers(0, size)), draw(st.binary(max_size=32)))
        elif kind == "splice":
            at, delete = draw(st.integers(0, size)), draw(st.integers(0, 64))
            data = splice(data, at, delete, draw(st.binary(max_size=32)))
        elif kind == "dims":
            data = set_dimensions(data, draw(DIMENSION), draw(DIMENSION))
        else:
            order = draw(st.lists(st.integers(0, 20), max_size=20))
            drop = draw(st.none() | st.integers(0, 20))
            repeat = draw(st.none() | st.integers(0, 20))
            data = shuffle_chunks(data, order, drop, repeat)
    return name, data


def render_or_refuse(data: bytes, fmt: str | None = None, crop: CropBox | None = None) -> None:
    """Render `data`; a refusal must be a PhizerError, any render must decode, and either way
    it must be quick."""
    started = time.monotonic()
    try:
        renders = render_all(data, targets(fmt, crop), OUTPUT, LIMITS)
    except PhizerError:
        pass
    else:
        for r in renders:
            image = Image.open(io.BytesIO(r.data))
            image.load()
            assert image.size == (r.width, r.height)
    elapsed = time.monotonic() - started
    assert elapsed < PER_EXAMPLE, f"one original took {elapsed:.1f} s"


# --- the fuzzers -----------------------------------------------------------------------


@FUZZ
@given(mutated())
def test_mutated_originals_raise_only_phizer_errors(case: tuple[str, bytes]) -> None:
    render_or_refuse(case[1])


@FUZZ
@given(mutated(), st.sampled_from(["WEBP", "PNG", "JPEG", "GIF"]))
def test_mutated_originals_as_format_variants(case: tuple[str, bytes], fmt: str) -> None:
    render_or_refuse(case[1], fmt=fmt)


@settings(FUZZ, max_examples=max(EXAMPLES // 2, 20))
@given(
    mutated(),
    st.tuples(*[st.integers(0, 200)] * 4).filter(lambda b: b[2] > b[0] and b[3] > b[1]),
)
def test_mutated_originals_with_crop_boxes(
    case: tuple[str, bytes], box: tuple[int, int, int, int]
) -> None:
    render_or_refuse(case[1], crop=CropBox(*box))


# --- the mutations do what they say (a fuzzer whose mutations are no-ops proves nothing) ---

Mutation = Callable[[bytes], bytes]


@pytest.mark.parametrize("name", SEEDS)
def test_every_seed_renders_unmutated(name: str) -> None:
    assert len(render_all(seed(name), targets(), OUTPUT, LIMITS)) == len(SIZES)


@pytest.mark.parametrize(
    "name", ["hopper.jpg", "hopper.png", "hopper.gif", "hopper.webp", "gen_lossless_alpha.webp"]
)
def test_dimension_edits_reach_the_header(name: str) -> None:
    edited = set_dimensions(seed(name), 321, 123)
    with Image.open(io.BytesIO(edited)) as im:
        assert im.size == (321, 123)


@pytest.mark.parametrize("name", ["hopper.jpg", "hopper.png", "transparent.webp"])
def test_chunk_shuffles_change_the_file(name: str) -> None:
    data = seed(name)
    assert shuffle_chunks(data, [5, 4, 3, 2, 1, 0], drop=1, repeat=None) != data


def test_seeds_exist() -> None:
    missing = [n for n in SEEDS if not Path(EDGECASES, n).exists()]
    assert not missing, f"edge-case seeds missing from {EDGECASES}: {missing}"


# --- AVIFs whose faults Pillow raises as RuntimeError ----------------------------------


def avif_with_byte(offset_of: Callable[[bytes], int], value: int) -> bytes:
    data = bytearray(seed("hopper.avif"))
    data[offset_of(bytes(data))] = value
    return bytes(data)


def test_avif_naming_a_missing_primary_item_is_422_not_500() -> None:
    """Pillow's AVIF plugin raises RuntimeError from Image.open ("Missing or empty image
    item"): untranslated, a corrupt upload would be a 500 and a traceback."""
    data = avif_with_byte(lambda d: d.index(b"pitm") + 9, 0)  # primary item id 1 -> 0
    with pytest.raises(PhizerError) as info:
        render_all(data, targets(), OUTPUT, LIMITS)
    assert info.value.status == 422


def test_avif_whose_pixels_do_not_decode_is_422_not_500() -> None:
    """The same RuntimeError from the decode itself ("Decoding of color planes failed")."""
    data = avif_with_byte(lambda d: d.index(b"iloc") + 20, 0)  # the item's data offset
    with pytest.raises(PhizerError) as info:
        render_all(data, targets(), OUTPUT, LIMITS)
    assert info.value.status == 422
