"""Resampling one region of a picture to a render's size, optionally on several cores at once.

A serve miss is one client waiting on one worker, and on an idle machine the other cores sit
unused while it resamples, the biggest step of an 800px render after the decode. Pillow
releases the GIL while it resamples, so `resample(..., threads=N)` cuts the output into N
horizontal bands and resamples them side by side, each from the region of the source its rows
come from. Every band's sample positions are the ones the whole picture would have, so the
result matches a single resample to within one or two levels of float rounding in Pillow's
filter weights, and there is no seam. (libvips, behind imgproxy, splits an image across its
threads the same way.)
"""

from __future__ import annotations

from PIL import Image

from phizer import bands
from phizer.geometry import Box

RESAMPLE = Image.Resampling.LANCZOS
# Pillow's documented threshold past which reduce()-then-resample is indistinguishable from
# a plain LANCZOS resample, while much faster on big reductions.
REDUCING_GAP = 3.0


def resample(im: Image.Image, box: Box, size: tuple[int, int], threads: int = 1) -> Image.Image:
    """The `box` region of `im` at `size`; a crop when that is a whole-pixel 1:1 copy.
    `threads` > 1 may split the work across that many threads (see the module docstring)."""
    out: Image.Image
    whole = (round(box[0]), round(box[1]), round(box[2]), round(box[3]))
    if (
        all(abs(a - b) < 1e-6 for a, b in zip(whole, box, strict=True))
        and (whole[2] - whole[0], whole[3] - whole[1]) == size
    ):
        out = im.crop(whole)
    else:
        count = band_count(box, size, threads) if im.mode not in ("1", "P") else 1
        out = _in_bands(im, box, size, count) if count > 1 else _resize(im, box, size)
    # Pillow copies `info` into derived images, and some encoders read it: drop the
    # original's profile, EXIF and colour key so only what encode() passes is written.
    out.info = {}
    return out


def band_count(box: Box, size: tuple[int, int], threads: int) -> int:
    """How many bands to resample `box` -> `size` in: 1 unless it is big enough to gain, and
    never when Pillow would reduce() first (a band's reduce grid would start at the band's
    own edge, not the picture's, and shift its pixels against its neighbour's)."""
    width, height = box[2] - box[0], box[3] - box[1]
    if width / size[0] >= 2 * REDUCING_GAP or height / size[1] >= 2 * REDUCING_GAP:
        return 1
    return bands.band_count(size[1], round(width * height), threads)


def _resize(im: Image.Image, box: Box, size: tuple[int, int]) -> Image.Image:
    return im.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)


def _in_bands(im: Image.Image, box: Box, size: tuple[int, int], count: int) -> Image.Image:
    """`count` horizontal strips resampled on as many threads, pasted together. A strip's box
    spans exactly the source rows its output rows sample, so Pillow places every output
    row's filter where the whole resample would."""
    step = (box[3] - box[1]) / size[1]

    def strip(top: int, bottom: int) -> Image.Image:
        part = (box[0], box[1] + top * step, box[2], box[1] + bottom * step)
        return _resize(im, part, (size[0], bottom - top))

    return bands.in_bands(size[1], count, strip)
