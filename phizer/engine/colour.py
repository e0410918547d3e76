"""Bring any decoded original to one of the three working modes the renderer resamples and the
encoders write: L (grey), RGB, or RGBA (anything with transparency), in sRGB.

Browsers assume sRGB for untagged images, and renders are served untagged, so an embedded ICC
profile (Display P3, Adobe RGB, a CMYK press profile, a grey one) must be applied here or its
colours are shown wrong. A profile that is sRGB already (the common tag) is recognised and
skipped: LittleCMS takes longer to convert a photo than libjpeg-turbo takes to decode it.
Transparency hidden in palette entries or tRNS colour keys becomes a real alpha band now,
before resampling, so edges blend instead of keeping a hard colour key.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from PIL import Image, ImageChops, ImageCms, ImageMath

from phizer.engine import bands

logger = logging.getLogger(__name__)

WORKING_MODES = ("L", "RGB", "RGBA")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_working_mode(im: Image.Image, threads: int = 1) -> Image.Image:
    """`im` as L, RGB or RGBA in sRGB, its embedded profile applied. Its `info` (profile,
    EXIF, colour key) no longer describes the pixels: the renderer's resampling drops it.
    `threads` > 1: a profile may be applied in that many bands at once (`phizer.engine.bands`;
    a serve miss on idle cores), with the same pixels as in one."""
    profile = im.info.get("icc_profile")
    if "transparency" in im.info and im.mode in ("1", "L", "RGB", "P"):
        im = im.convert("RGBA")  # a colour key becomes alpha before any profile is applied
    elif profile and im.mode == "P":
        im = im.convert("RGB")  # a palette's colours are in the profile's space too
    if profile and im.mode in ("RGB", "RGBA") and acts_as_srgb(bytes(profile)):
        return _plain_convert(im)
    if profile and im.mode in ("RGB", "RGBA", "CMYK"):
        converted = _apply_profile(im, bytes(profile), threads)
        if converted is not None:
            return converted
    grey = bytes(profile) if profile and bytes(profile[16:20]) == b"GRAY" else None
    if grey and im.mode in _SIXTEEN_BIT:
        # To 8 bits first (LittleCMS is handed L), its colour key already alpha.
        im = _sixteen_bit_grey(im)
        if im.mode == "RGBA":
            im = Image.merge("LA", (im.getchannel("R"), im.getchannel("A")))
    if grey and im.mode in ("L", "LA"):
        converted = _apply_grey_profile(im, grey)
        if converted is not None:
            return converted
    return _plain_convert(im)


def _plain_convert(im: Image.Image) -> Image.Image:
    transparent = "transparency" in im.info
    if im.mode in WORKING_MODES and not transparent:
        return im  # the common case: no copy of a 20-megapixel photo
    if im.mode in _SIXTEEN_BIT:
        out = _sixteen_bit_grey(im)
    elif im.mode in ("F", "1"):
        out = im.convert("L")
    elif im.mode in ("LA", "La", "PA", "RGBa") or transparent:
        out = im.convert("RGBA")
    else:  # P, CMYK without a profile, YCbCr, LAB, HSV, RGBX
        out = im.convert("RGB")
    out.info = {}
    return out


def _sixteen_bit_grey(im: Image.Image) -> Image.Image:
    """16-bit grey as L, or as RGBA when a tRNS colour key marks one grey level transparent.
    convert("L") would clip values at 255, so they are scaled from 0..65535 instead; the key
    is a 16-bit level, so it is matched before the scaling merges 257 levels into one."""
    wide = im.convert("I")
    grey = wide.point(lambda v: v * (1 / 257)).convert("L")
    key = im.info.get("transparency")
    if not isinstance(key, int):
        return grey
    alpha = ImageMath.lambda_eval(lambda a: (a["wide"] != key) * 255, wide=wide)
    return Image.merge("RGBA", (grey, grey, grey, alpha.convert("L")))


def _apply_profile(im: Image.Image, profile: bytes, threads: int = 1) -> Image.Image | None:
    """The sRGB version of `im`, or None when the profile is unusable: a broken profile is the
    original author's mistake, and showing the pixels untransformed beats refusing them.
    LittleCMS converts each pixel on its own, so bands on `threads` threads give the same
    pixels, sooner."""
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"

    def convert(part: Image.Image) -> Image.Image:
        out = ImageCms.applyTransform(part, transform)
        if out is None:  # only when applied in place, which we never ask for
            raise ValueError("LittleCMS returned no image")
        return out

    count = bands.band_count(im.height, im.width * im.height, threads)
    try:
        transform = _srgb_transform(profile, im.mode, out_mode)
        if count > 1:
            out = bands.in_bands(
                im.height, count, lambda top, bottom: convert(im.crop((0, top, im.width, bottom)))
            )
        else:
            out = convert(im)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        logger.warning("ignoring unusable ICC profile: %s", exc)
        return None
    out.info = {}
    return out


def _apply_grey_profile(im: Image.Image, profile: bytes) -> Image.Image | None:
    """The sRGB grey of an L or LA image that carries a grey profile. Photoshop embeds its
    grey working space ("Dot Gain 20%" by default) in the greyscale files it saves, and
    browsers apply it, so ignoring it shows midtones lighter or darker than the original.
    LittleCMS maps grey only into a colour space, so the picture goes through sRGB and back
    to one band, which loses nothing: its three channels come out equal."""
    rgb = _apply_profile(im.getchannel("L") if im.mode == "LA" else im, profile)
    if rgb is None:
        return None
    out = rgb.convert("L")
    if im.mode == "LA":
        out = Image.merge("LA", (out, im.getchannel("A"))).convert("RGBA")
    return out


# Every level of every channel the sRGB check tries: a 16-step grid of colours (4,913 pixels)
# and all 256 greys, a tiny picture to transform once per profile.
_CHECK_LEVELS = (*range(0, 256, 16), 255)


@lru_cache(maxsize=16)
def acts_as_srgb(profile: bytes) -> bool:
    """Whether an RGB profile maps every colour to itself in sRGB, within one level. Most
    tagged uploads carry an sRGB profile (Photoshop's and Lightroom's exports embed one, as
    phizer's renders do with keep_metadata), and LittleCMS runs every pixel of the decode
    through it like through any other: a large share of a render's CPU, for a no-op
    (`scripts/bench-tags` compares sRGB-tagged photos with the same photos untagged). So the
    profile's transform is tried once on a grid of colours and every grey, and when nothing
    moves by more than a level (the rounding of an sRGB profile that is written differently,
    HP's classic one against LittleCMS's own) the pixels are kept as they are."""
    levels = _CHECK_LEVELS
    grid = [(r, g, b) for r in levels for g in levels for b in levels]
    probe = Image.new("RGB", (len(grid) + 256, 1))
    probe.putdata(grid + [(v, v, v) for v in range(256)])
    try:
        out = ImageCms.applyTransform(probe, _srgb_transform(profile, "RGB", "RGB"))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False  # unusable: `_apply_profile` says so and keeps the pixels
    if out is None:
        return False
    moved = ImageChops.difference(out, probe).point(lambda level: 255 if level > 1 else 0)
    return moved.getbbox() is None


# A handful of profiles (sRGB, Display P3, Adobe RGB, a few CMYK presses) cover nearly every
# upload, and building a transform costs far more than applying it to a thumbnail; the cache
# is bounded so a stream of unusual profiles cannot grow memory.
@lru_cache(maxsize=16)
def _srgb_transform(profile: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform:
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    # NOCACHE: LittleCMS's one-pixel cache makes a shared transform unsafe across threads,
    # and server.workers = 0 renders in request threads.
    return ImageCms.buildTransform(source, _srgb(), in_mode, out_mode, flags=ImageCms.Flags.NOCACHE)


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=1)
def srgb_profile_bytes() -> bytes:
    """The sRGB profile embedded in renders when metadata is kept, so the output still says
    which colour space its pixels are in."""
    return _srgb().tobytes()
