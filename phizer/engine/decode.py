"""Opening an original: decide from its bytes whether phizer takes it, check the limits from the
header alone, then decode it once, as small as the largest render allows.

Refusals happen here, before any pixel is decoded: a format outside the allow-list is 415
(told apart from garbage by its magic bytes, never by a file name), a header over the pixel
or frame cap is 413, and anything Pillow cannot parse or finish decoding is 422. Pillow's
globals (MAX_IMAGE_PIXELS, LOAD_TRUNCATED_IMAGES) are left alone; the caps come from
`LimitsConfig`.

Over the usual size because the header checks, the format sniffing, the DCT-scaled decode
and the orientation maths all read the same opened image; a split would pass it around
half-initialised.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageFile, UnidentifiedImageError

from phizer.base.errors import TooLarge, Undecodable, UnsupportedFormat
from phizer.base.formats import ACCEPTED_FORMATS
from phizer.config import LimitsConfig
from phizer.engine import jpeg_eighths, png_chunks
from phizer.engine.geometry import Box

logger = logging.getLogger(__name__)


# The Pillow plugins of the formats phizer opens and writes. Importing just these, rather
# than `Image.init()` (every plugin Pillow has), keeps the start of each worker and CLI run
# short; `Image.open(formats=...)` then finds them all registered.
for _plugin in ("Jpeg", "Png", "Gif", "WebP", "Avif"):
    importlib.import_module(f"PIL.{_plugin}ImagePlugin")
# HEIC/HEIF through pillow-heif, which registers its plugin the same way. It applies the
# file's rotation and mirroring as it opens (resetting the EXIF orientation to 1), so the
# image and its header are upright already. One decode thread: a job keeps to its core, and
# the image's auxiliary pictures (thumbnails, depth maps) are never read.
pillow_heif.register_heif_opener(
    thumbnails=False, depth_images=False, aux_images=False, decode_threads=1
)

# The formats whose frames phizer counts (and keeps, where the output format can hold them).
ANIMATED_FORMATS = ("GIF", "WEBP", "AVIF", "PNG")

# Everything Pillow is known to raise on a malformed or hostile file.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    RuntimeError,  # Pillow's AVIF plugin: "Failed to decode image: Missing or empty image item"
)

# Recognisable image formats phizer refuses (415), as opposed to unreadable bytes (422).
_OTHER_FORMATS: tuple[tuple[str, re.Pattern[bytes]], ...] = tuple(
    (name, re.compile(pattern, re.DOTALL))
    for name, pattern in (
        ("TIFF", rb"\A(II\*\x00|MM\x00\*|II\+\x00|MM\x00\+)"),
        ("BMP", rb"\ABM"),
        ("PSD", rb"\A8BPS"),
        ("JPEG 2000", rb"\A(\x00\x00\x00\x0cjP  \r\n\x87\n|\xff\x4f\xff\x51)"),
        ("JPEG XL", rb"\A(\xff\x0a|\x00\x00\x00\x0cJXL \r\n\x87\n)"),
        ("EPS", rb"\A(%!PS|\xc5\xd0\xd3\xc6)"),
        ("PDF", rb"\A%PDF-"),
        ("FLI", rb"\A.{4}[\x11\x12]\xaf"),
        ("ICO", rb"\A\x00\x00[\x01\x02]\x00"),
        ("QOI", rb"\Aqoif"),
        ("DDS", rb"\ADDS "),
        ("ICNS", rb"\Aicns"),
        ("XCF", rb"\Agimp xcf"),
        ("PNM", rb"\AP[1-7][ \t\r\n]"),
        ("SVG", rb"\A(\xef\xbb\xbf)?\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE svg|<svg)"),
    )
)


@dataclass(frozen=True)
class Header:
    """What the header says, before any pixel is decoded."""

    format: str  # Pillow's name: "JPEG", "MPO", "PNG", ...
    width: int  # as displayed, after the EXIF orientation
    height: int
    frames: int
    orientation: int  # 1..8; 1 also for a missing or malformed tag
    # A progressive JPEG: most of its decode is entropy-decoding every scan, which a
    # DCT-scaled decode does not shrink (see `phizer.engine.render.iter_renders`).
    progressive: bool = False


def sniff_other_format(data: bytes) -> str | None:
    """The name of a known image format phizer does not accept, or None."""
    head = data[:1024]
    for name, pattern in _OTHER_FORMATS:
        if pattern.match(head):
            return name
    bits = jpeg_sample_bits(data)
    if bits is not None and bits != 8:
        # 12- and 16-bit JPEGs (scanners, medical and raw converters): Pillow reads 8 only.
        return f"{bits}-bit JPEG"
    return None


def jpeg_sample_bits(data: bytes) -> int | None:
    """The sample precision a JPEG's frame header declares, or None when `data` is not a
    JPEG or has no frame header before its first scan."""
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 4 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length follows
            at += 2
            continue
        if marker == 0xDA:  # start of scan: no frame header came first
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return data[at + 4]
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


@contextmanager
def opened(data: bytes, limits: LimitsConfig) -> Iterator[tuple[Image.Image, Header]]:
    """Open `data` lazily and check it against the limits; nothing is decoded yet. A PNG that
    fails to open over chunks a browser would skip is opened without them (`png_chunks`)."""
    try:
        im = _open(data)
    except Undecodable:
        repaired = png_chunks.without_skippable_chunks(data)
        if repaired is None:
            raise
        im = _open(repaired)  # still refused: Pillow's reason, for what the picture lacks
    with im:
        _colour_key_at_decoded_depth(im)
        yield im, _check(im, limits)


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        other = sniff_other_format(data)
        if other is not None:
            raise UnsupportedFormat(f"{other} images are not accepted") from None
        raise Undecodable("not a readable image (or a format phizer does not know)") from None
    except DECODE_ERRORS as exc:
        raise Undecodable(f"corrupt image header: {exc}") from None


# PNG raw modes whose samples Pillow rescales as it decodes them, and the same rescaling for a
# tRNS colour key, which Pillow leaves at the file's bit depth.
_KEY_AT_DECODED_DEPTH: dict[str, Callable[[int], int]] = {
    "1": lambda level: 255 if level else 0,  # 1-bit grey: pixels 0 or 255
    "L;2": lambda level: level * 85,  # 2-bit grey: 0, 85, 170, 255
    "L;4": lambda level: level * 17,  # 4-bit grey: 0, 17, ..., 255
    "RGB;16B": lambda level: level >> 8,  # 16-bit RGB: each sample's high byte
}


def _colour_key_at_decoded_depth(im: Image.Image) -> None:
    """Move a PNG's tRNS colour key to the bit depth Pillow decodes its pixels at. Pillow
    scales 1-, 2- and 4-bit grey up to 8 bits and 16-bit RGB down to it, but keeps the key
    as the file wrote it, so no decoded pixel matched it and the render came out opaque
    where browsers show it transparent. (16-bit grey keeps its depth: see `phizer.engine.colour`.)
    For 16-bit RGB every colour whose 8-bit value is the key's then counts as the key; at 8
    bits those colours look the same anyway."""
    key = im.info.get("transparency")
    if im.format != "PNG" or key is None or not isinstance(im, ImageFile.ImageFile) or not im.tile:
        return
    rescale = _KEY_AT_DECODED_DEPTH.get(str(im.tile[0][3]))
    if rescale is None:
        return
    if isinstance(key, int):
        im.info["transparency"] = rescale(key)
    elif isinstance(key, tuple):
        im.info["transparency"] = tuple(rescale(int(level)) for level in key)


def probe(data: bytes, limits: LimitsConfig) -> tuple[str, int, int]:
    """(format, width, height as displayed) from the header alone; the refusals of a render."""
    with opened(data, limits) as (_, header):
        return header.format, header.width, header.height


def _check(im: Image.Image, limits: LimitsConfig) -> Header:
    width, height = im.size
    if width < 1 or height < 1:
        raise Undecodable(f"image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"image is {width}x{height} = {width * height} pixels; the limit is {limits.max_pixels}"
        )
    try:
        frames = int(getattr(im, "n_frames", 1)) if im.format in ANIMATED_FORMATS else 1
    except DECODE_ERRORS as exc:
        raise Undecodable(f"corrupt animation: {exc}") from None
    if frames > limits.max_frames:
        raise TooLarge(f"image has {frames} frames; the limit is {limits.max_frames}")
    orientation = header_orientation(im)
    if orientation >= 5:
        width, height = height, width
    progressive = bool(im.info.get("progressive") or im.info.get("progression"))
    return Header(str(im.format), width, height, frames, orientation, progressive)


def header_orientation(im: Image.Image) -> int:
    """The EXIF/XMP orientation known without decoding. A PNG may keep its eXIf chunk after
    the pixels, and Pillow would decode everything to find it, so an unannounced PNG counts
    as upright here and is checked again after the decode."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    return orientation_of(im)


def orientation_of(im: Image.Image) -> int:
    """The orientation tag, or 1 when absent, out of range or unreadable: malformed EXIF is
    the uploader's camera's fault and must not fail the render."""
    try:
        value = im.getexif().get(0x0112, 1)
    except DECODE_ERRORS + (AttributeError,) as exc:
        logger.info("ignoring unreadable EXIF: %s", exc)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# How much reduction of its own LANCZOS must have left after a DCT-scaled decode at each step
# (in eighths of the original's size), so the decode costs no visible detail: the least that
# keeps every 800 and 1600px render of both benchmark corpora within 0.1 dB PSNR of the naive
# pipeline's (full decode, LANCZOS, the same quality; `scripts/bench` prints it).
# - 1/8 (the block average), 1/4, 3/8 and 1/2 (reduced IDCTs) alias unless a good part of the
#   reduction is left to LANCZOS; 5/8 and 6/8 are finer and need less. With a SIMD resampler
#   the extra margin costs little: a larger decode is still quick to resample.
# - There is no 7/8 step: libjpeg-turbo's IDCTs but the 8x8, 4x4 and 2x2 are plain C, and at
#   7/8 that costs more than the fewer pixels save (see `phizer.engine.jpeg_eighths`).
_MARGINS = {1: 3.0, 2: 2.0, 3: 2.0, 4: 2.0, 5: 1.6, 6: 1.6}


def eighths_for(scale: float) -> int:
    """The fewest eighths of its size (1..8) a JPEG may be decoded at for `scale` (output
    pixels per original pixel) and still leave LANCZOS its margin."""
    for eighths, margin in _MARGINS.items():
        if scale * margin * 8 <= eighths:
            return eighths
    return 8


def decode_scaled(im: Image.Image, data: bytes, scale: float) -> tuple[Image.Image, Box]:
    """The pixels of `im` (opened from `data`, not yet loaded), DCT-scaled as far as `scale`
    allows when it is a JPEG; a corrupt body is 422 (`load`). Returns the decoded image
    (`im` itself, or a new one carrying its `info`) and the region of it that holds the whole
    original: its last row and column may be partial pixels, and resampling from the exact
    region (not the rounded-up size) avoids a sub-pixel shift that costs visible detail."""
    width, height = im.size
    eighths = eighths_for(scale) if im.format in ("JPEG", "MPO") else 8
    if eighths not in jpeg_eighths.PILLOW_EIGHTHS:
        scaled = jpeg_eighths.decode(data, im.mode, width, height, eighths)
        if scaled is not None:
            scaled.info = dict(im.info)  # the profile, EXIF and the rest, as Pillow keeps them
            return scaled, (0, 0, width * eighths / 8, height * eighths / 8)
        eighths = jpeg_eighths.pillow_step(eighths)
    region: Box = (0, 0, width, height)
    if eighths < 8:
        # Pillow picks the largest reduction whose result is at least the asked size.
        step = 8 // eighths
        result = im.draft(None, (max(1, width // step), max(1, height // step)))
        if result is not None:
            region = result[1]
    load(im)
    return im, region


def load(im: Image.Image) -> None:
    """Decode the pixels of the current frame; a truncated or corrupt body is 422."""
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"image too large: {exc}") from None
    except DECODE_ERRORS as exc:
        raise Undecodable(f"cannot decode image: {exc}") from None


_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_UNDO = {6: 8, 8: 6}


def turn(im: Image.Image, orientation: int) -> Image.Image:
    """`im` (stored pixels) as displayed. Renders are turned after resampling (see
    `phizer.engine.render`), so only the box of a DCT-scaled decode is turned first: its last row
    and column are partial pixels, and a rotation moves them to the top or left edge."""
    method = _TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


def turned_box(orientation: int, box: Box, width: int, height: int) -> Box:
    """Where `box`, a region of a `width` x `height` stored image, lies once displayed."""
    if orientation not in _TRANSPOSE:
        return box
    x1, y1, x2, y2 = box
    corners = [_turn(orientation, x, y, width, height) for x, y in ((x1, y1), (x2, y2))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return (min(xs), min(ys), max(xs), max(ys))


def stored_box(orientation: int, box: Box, width: int, height: int) -> Box:
    """Where `box`, a region of a `width` x `height` displayed image, lies in its stored
    pixels: the turn undone (each turn is its own inverse but the two quarter turns)."""
    return turned_box(_UNDO.get(orientation, orientation), box, width, height)


def _turn(orientation: int, x: float, y: float, w: int, h: int) -> tuple[float, float]:
    """Where the point (x, y) of a w x h stored image lands once displayed upright."""
    return {
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (h - y, x),
        7: (h - y, w - x),
        8: (y, w - x),
    }[orientation]
