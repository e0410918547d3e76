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

import threading

from PIL import Image

from phizer.geometry import Box

RESAMPLE = Image.Resampling.LANCZOS
# Pillow's documented threshold past which reduce()-then-resample is indistinguishable from
# a plain LANCZOS resample, while much faster on big reductions.
REDUCING_GAP = 3.0
# A band is at least this many output rows: below it a thread costs more than it saves.
MIN_BAND_ROWS = 64
# Nor is a source region smaller than this worth splitting (well under 5 ms to resample).
MIN_SPLIT_PIXELS = 512 * 512


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
        bands = band_count(box, size, threads) if im.mode not in ("1", "P") else 1
        out = _in_bands(im, box, size, bands) if bands > 1 else _resize(im, box, size)
    # Pillow copies `info` into derived images, and some encoders read it: drop the
    # original's profile, EXIF and colour key so only what encode() passes is written.
    out.info = {}
    return out


def band_count(box: Box, size: tuple[int, int], threads: int) -> int:
    """How many bands to resample `box` -> `size` in: 1 unless it is big enough to gain, and
    never when Pillow would reduce() first (a band's reduce grid would start at the band's
    own edge, not the picture's, and shift its pixels against its neighbour's)."""
    width, height = box[2] - box[0], box[3] - box[1]
    if threads < 2 or width * height < MIN_SPLIT_PIXELS:
        return 1
    if width / size[0] >= 2 * REDUCING_GAP or height / size[1] >= 2 * REDUCING_GAP:
        return 1
    return max(1, min(threads, size[1] // MIN_BAND_ROWS))


def _resize(im: Image.Image, box: Box, size: tuple[int, int]) -> Image.Image:
    return im.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)


def _in_bands(im: Image.Image, box: Box, size: tuple[int, int], bands: int) -> Image.Image:
    """`bands` horizontal strips resampled on as many threads (this one included), pasted
    together. A strip's box spans exactly the source rows its output rows sample, so Pillow
    places every output row's filter where the whole resample would."""
    step = (box[3] - box[1]) / size[1]
    edges = [size[1] * i // bands for i in range(bands + 1)]
    strips: dict[int, Image.Image] = {}
    failures: list[BaseException] = []

    def strip(i: int) -> None:
        top, bottom = edges[i], edges[i + 1]
        part = (box[0], box[1] + top * step, box[2], box[1] + bottom * step)
        try:
            strips[i] = _resize(im, part, (size[0], bottom - top))
        except BaseException as exc:  # re-raised in the caller's thread below
            failures.append(exc)

    helpers = [threading.Thread(target=strip, args=(i,)) for i in range(1, bands)]
    for helper in helpers:
        helper.start()
    strip(0)
    for helper in helpers:
        helper.join()
    if failures:
        raise failures[0]
    out = Image.new(im.mode, size)
    for i, part_image in strips.items():
        out.paste(part_image, (0, edges[i]))
    return out
