"""PNGs Pillow refuses over chunks a browser skips: text, bad ancillary CRCs, profile bombs."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin
from support.png import chunk

from phizer.base.errors import Undecodable
from phizer.base.models import RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine.png_chunks import SIGNATURE, without_skippable_chunks
from phizer.engine.render import render_all

TARGET = RenderTarget(SizeSpec("s", 20, 10, "max"), "k.png")
BOMB = zlib.compress(bytes(PngImagePlugin.MAX_TEXT_CHUNK + 1))  # ~1 KB that inflates past 1 MB
GREEN = (10, 200, 30)


def png_with(*extra: bytes) -> bytes:
    """A 40x20 green PNG with `extra` chunks between its header and its pixels."""
    out = io.BytesIO()
    Image.new("RGB", (40, 20), GREEN).save(out, "PNG")
    plain = out.getvalue()
    after_header = len(SIGNATURE) + 25  # IHDR: 4 length + 4 type + 13 data + 4 CRC
    return plain[:after_header] + b"".join(extra) + plain[after_header:]


def rendered_colour(data: bytes) -> tuple[int, ...]:
    [r] = render_all(data, [TARGET], OutputConfig(), LimitsConfig())
    image = Image.open(io.BytesIO(r.data)).convert("RGB")
    assert image.size == (20, 10)
    pixel = image.getpixel((10, 5))
    assert isinstance(pixel, tuple)
    return pixel


@pytest.mark.parametrize(
    "extra",
    [
        chunk(b"tEXt", b"Comment\x00hello", crc=0),  # bad CRC on an ancillary chunk
        chunk(b"zTXt", b"Comment\x00\x00" + BOMB),  # text that inflates past Pillow's cap
        chunk(b"iCCP", b"icc\x00\x00" + BOMB),  # so does this profile
        chunk(b"gAMA", struct.pack(">I", 45455), crc=1) + chunk(b"tEXt", b"a\x00b" * 1000),
    ],
    ids=["bad-text-crc", "text-bomb", "profile-bomb", "bad-gamma-crc"],
)
def test_pngs_browsers_show_are_rendered_without_the_chunks_they_skip(extra: bytes) -> None:
    data = png_with(extra)
    with pytest.raises((OSError, ValueError, SyntaxError)):
        Image.open(io.BytesIO(data)).load()  # what phizer would otherwise refuse
    assert rendered_colour(data) == pytest.approx(GREEN, abs=2)


def png_ending_with(*extra: bytes) -> bytes:
    """The same green PNG with `extra` chunks after its pixels, before IEND."""
    plain = png_with()
    return plain[:-12] + b"".join(extra) + plain[-12:]  # IEND: 12 bytes


@pytest.mark.parametrize(
    "extra",
    [
        chunk(b"zTXt", b"Comment\x00\x00" + BOMB),
        chunk(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + BOMB),
    ],
    ids=["zTXt", "iTXt"],
)
def test_a_text_bomb_after_the_pixels_is_dropped_too(extra: bytes) -> None:
    """Pillow reads the chunks after the pixel data during the decode, not on opening, and
    refuses the file there; browsers show the picture."""
    data = png_ending_with(extra)
    image = Image.open(io.BytesIO(data))  # opens fine: the bomb comes later
    with pytest.raises((OSError, ValueError, SyntaxError)):
        image.load()
    assert rendered_colour(data) == pytest.approx(GREEN, abs=2)


def test_after_the_pixels_only_text_goes() -> None:
    text, time = chunk(b"tEXt", b"a\x00b"), chunk(b"tIME", bytes(7), crc=0)
    data = png_ending_with(text, time)
    repaired = without_skippable_chunks(data)
    assert repaired is not None
    assert text not in repaired
    assert time in repaired  # Pillow checks no CRC there: nothing to gain by dropping it
    assert repaired == data.replace(text, b"")


def test_a_broken_critical_chunk_is_still_refused_with_pillows_reason() -> None:
    def refusal(data: bytes) -> str:
        with pytest.raises(Undecodable) as info:
            render_all(data, [TARGET], OutputConfig(), LimitsConfig())
        return info.value.message

    broken = bytearray(png_with(chunk(b"tEXt", b"a\x00b")))  # a chunk to drop: a retry
    broken[len(SIGNATURE) + 21] ^= 0xFF  # the IHDR's CRC
    assert without_skippable_chunks(bytes(broken)) is not None
    without_text = bytes(broken).replace(chunk(b"tEXt", b"a\x00b"), b"")
    assert refusal(bytes(broken)) == refusal(without_text)  # Pillow's reason, as without a retry


def test_only_what_a_browser_skips_is_dropped() -> None:
    good_profile = chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"profile"))
    bad_text = chunk(b"tEXt", b"a\x00b", crc=0)
    data = png_with(good_profile, bad_text, chunk(b"iCCP", b"icc\x00\x00" + BOMB))
    repaired = without_skippable_chunks(data)
    assert repaired is not None
    assert good_profile in repaired
    assert bad_text not in repaired
    assert b"iCCP" not in repaired.replace(good_profile, b"")  # one profile at most
    assert repaired.endswith(data[data.index(b"IDAT") - 4 :])  # pixels and all after: as is


def test_nothing_to_drop_is_none() -> None:
    assert without_skippable_chunks(png_with()) is None
    assert without_skippable_chunks(b"GIF89a not a png") is None
