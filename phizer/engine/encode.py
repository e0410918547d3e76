"""Encoding a resampled render into the bytes phizer stores and serves.

Every encoder gets explicit settings and an explicit (usually empty) set of metadata: Pillow
would otherwise carry `info` from the original (ICC profiles, EXIF with its orientation, PNG
text, GIF comments) into renders, leaking camera data and re-rotating upright pixels.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, PngImagePlugin

from phizer.base.models import SizeSpec
from phizer.engine.colour import srgb_profile_bytes

# Formats that can carry an alpha band; JPEG renders are flattened onto the canvas colour.
ALPHA_FORMATS = ("PNG", "WEBP", "AVIF", "GIF")
# Formats whose animation phizer keeps (PNG as APNG); other outputs of an animation get its
# first frame.
ANIMATION_FORMATS = ("GIF", "WEBP", "PNG", "AVIF")
# AVIF's default speed (6) is slow on big renders; 7 encodes much faster for files only a
# little bigger.
AVIF_SPEED = 7
# A progressive JPEG is smaller than a baseline one only from about 180x180 pixels up, and
# takes longer to encode at every size. Below this many pixels a render is baseline whatever
# `progressive` says: browsers show a thumbnail in one go anyway.
PROGRESSIVE_MIN_PIXELS = 32_400
# zlib level 4 encodes a PNG photo render much faster than level 6 (Pillow's default), to
# nearly the same size; at level 6 that encode is the costliest step of warming a PNG
# original. Flat graphics shrink clearly more at level 6, and at thumbnail sizes that costs
# little time, so renders up to this many pixels keep level 6.
PNG_FAST_MIN_PIXELS = 65_536
PNG_FAST_LEVEL = 4
PNG_SMALL_LEVEL = 6
# zlib's run-length strategy only looks for repeats of the previous byte, which is all that
# PNG's row filters leave to find in a photograph: on photographs it is faster than level 4
# and most often smaller than level 6. On a screenshot or diagram, whose repeats lie further
# back, it is much bigger than level 4. So it is used only for big renders of photographic
# originals. (Pillow's PNG encoder takes it as `compress_type`, an option as old as PIL's
# zlib support.)
PNG_PHOTO_STRATEGY = zlib.Z_RLE
# What tells a photograph from a graphic before encoding: a lossless original's bytes per
# pixel. The grain of a photograph barely compresses, so its PNG copy takes well over this
# many bytes a pixel; screenshots and diagrams well under it.
PHOTO_MIN_BYTES_PER_PIXEL = 0.4
# Lossy originals are photographs (or have been made to look like one).
PHOTO_FORMATS = ("JPEG", "MPO")


@dataclass(frozen=True)
class Metadata:
    """What a render carries over from its original when `output.keep_metadata` is set."""

    exif: bytes | None = None  # the original's EXIF without its orientation tag
    srgb: bool = False  # embed the sRGB profile the pixels were converted to


@dataclass(frozen=True)
class Animation:
    """The timing of an animated render: one duration (ms) per frame, and the loop count
    (None: the original had none, i.e. play once)."""

    durations: tuple[int, ...]
    loop: int | None


def canvas_rgb(canvas: str) -> tuple[int, int, int]:
    """`#rgb` or `#rrggbb` as an RGB triple (config.py has already validated the text)."""
    digits = canvas.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def for_format(im: Image.Image, fmt: str, canvas: str) -> Image.Image:
    """`im` in a mode `fmt` can store: alpha flattened where the format has none."""
    if im.mode == "RGBA" and fmt not in ALPHA_FORMATS:
        flat = Image.new("RGB", im.size, canvas_rgb(canvas))
        flat.paste(im, mask=im.getchannel("A"))
        return flat
    if im.mode == "L" and fmt == "AVIF":
        return im.convert("RGB")
    return im


def photographic(original_format: str, original_bytes: int, pixels: int) -> bool:
    """Whether an original's renders are photographs, for the PNG encoder's strategy."""
    return original_format in PHOTO_FORMATS or original_bytes >= PHOTO_MIN_BYTES_PER_PIXEL * pixels


def encode(
    im: Image.Image,
    fmt: str,
    size: SizeSpec,
    canvas: str,
    meta: Metadata = Metadata(),
    *,
    photo: bool = False,
) -> bytes:
    """One still render as `fmt` bytes. `photo` (see `photographic`) picks PNG's zlib
    strategy for big renders."""
    im = for_format(im, fmt, canvas)
    out = io.BytesIO()
    options = _options(fmt, size)
    if fmt == "JPEG" and im.width * im.height < PROGRESSIVE_MIN_PIXELS:
        options["progressive"] = False
    if fmt == "PNG" and im.width * im.height <= PNG_FAST_MIN_PIXELS:
        options["compress_level"] = PNG_SMALL_LEVEL
    elif fmt == "PNG" and photo:
        options["compress_type"] = PNG_PHOTO_STRATEGY
    im.save(out, fmt, **options, **_metadata(fmt, im.mode, meta))
    return out.getvalue()


def encode_animation(
    frames: Sequence[Image.Image], fmt: str, size: SizeSpec, animation: Animation
) -> bytes:
    """An animated render. Each frame is a complete picture (Pillow composites the
    original's frames): opaque frames are left in place so the GIF encoder stores only what
    changed, frames with transparent pixels are cleared before the next so nothing of an
    earlier frame shows through them; an APNG frame replaces the whole canvas, its
    transparency included. An original that plays once (a GIF without a loop count) plays
    once in every format: WebP, APNG and AVIF loop forever unless told."""
    out = io.BytesIO()
    extra: dict[str, Any] = {"duration": list(animation.durations)}
    if animation.loop is not None:
        extra["loop"] = animation.loop
    elif fmt != "GIF":
        extra["loop"] = 1
    if fmt == "GIF":
        extra["disposal"] = 1 if all(_opaque(f) for f in frames) else 2
    if fmt == "PNG":
        extra["disposal"] = PngImagePlugin.Disposal.OP_NONE
        extra["blend"] = PngImagePlugin.Blend.OP_SOURCE
    first, *rest = frames
    first.save(out, fmt, save_all=True, append_images=rest, **_options(fmt, size), **extra)
    return out.getvalue()


def _options(fmt: str, size: SizeSpec) -> dict[str, Any]:
    if fmt == "JPEG":
        # optimize (Huffman tables fitted to the image): a smaller baseline render for a
        # longer encode, which stays short at the thumbnail sizes that are baseline.
        # Progressive renders are always fitted (libjpeg).
        return {"quality": size.quality, "progressive": size.progressive, "optimize": True}
    if fmt == "WEBP":
        return {"quality": size.quality, "method": 4}
    if fmt == "AVIF":
        return {"quality": size.quality, "speed": AVIF_SPEED}
    if fmt == "PNG":
        return {"compress_level": PNG_FAST_LEVEL}
    return {}  # GIF: Pillow picks the palette


def _metadata(fmt: str, mode: str, meta: Metadata) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if meta.exif and fmt != "GIF":
        options["exif"] = meta.exif
    # An RGB profile in a greyscale file is invalid, and GIF has no place for one.
    if meta.srgb and mode != "L" and fmt != "GIF":
        options["icc_profile"] = srgb_profile_bytes()
    return options


def _opaque(im: Image.Image) -> bool:
    return im.mode != "RGBA" or im.getchannel("A").getextrema()[0] == 255
