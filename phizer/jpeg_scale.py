"""A JPEG decoded at 3/8 scale, the step libjpeg-turbo has between 1/4 and 1/2 and Pillow's
`draft` cannot ask for.

It matters for the sizes in between: an 800px render of a 4000px photo cannot decode at 1/4
(1000px leaves LANCZOS too little margin, see `phizer.decode`), so it decoded at 1/2 (2000px);
at 3/8 it decodes 1500px, 44% fewer pixels to decode and resample.

Pillow hands `decoderconfig[0]` to libjpeg as the scale denominator over a numerator of 1,
and libjpeg-turbo rounds 1/3 up to the nearest scale it has: 3/8. `draft` only ever passes 1,
2, 4 or 8, so `draft_three_eighths` sets up what `draft` sets up (the decoder's scale, the
tile's extent, the image's size) for 3. That leans on Pillow's internals, so `supported()`
first checks that the decoder is libjpeg-turbo and that a small JPEG decoded this way has the
size and pixels it should; otherwise phizer keeps to 1/2, 1/4 and 1/8.
"""

from __future__ import annotations

import functools
import io
import logging

from PIL import Image, ImageChops, ImageFile, ImageStat, features

logger = logging.getLogger(__name__)

REDUCTION = 8 / 3
_DENOMINATOR = 3  # what libjpeg-turbo turns into 3/8


def scaled_size(width: int, height: int) -> tuple[int, int]:
    """libjpeg-turbo's output size at 3/8: each side times 3/8, rounded up."""
    return (-(-width * 3 // 8), -(-height * 3 // 8))


def draft_three_eighths(im: Image.Image) -> tuple[float, float, float, float] | None:
    """Set up `im` (a JPEG not yet loaded) to decode at 3/8. Returns the region of the
    decoded image that holds the whole original (as `Image.draft` does), or None when `im`
    is not a plain single-tile JPEG that has not been drafted already."""
    if not isinstance(im, ImageFile.ImageFile) or len(im.tile) != 1 or im.decoderconfig:
        return None
    tile = im.tile[0]
    if tile[0] != "jpeg" or tile[1] != (0, 0, *im.size):
        return None
    width, height = im.size
    size = scaled_size(width, height)
    im.tile = [ImageFile._Tile(tile[0], (0, 0, *size), tile[2], tile[3])]
    im._size = size
    im.decoderconfig = (_DENOMINATOR, 0)
    return (0.0, 0.0, width * 3 / 8, height * 3 / 8)


@functools.cache
def supported() -> bool:
    """Whether this Pillow decodes at 3/8 as `draft_three_eighths` expects (checked once per
    process: a 64x48 JPEG must come out 24x18 and match its picture box-averaged to that)."""
    if not features.check_feature("libjpeg_turbo"):
        return False
    picture = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=95)
    try:
        with Image.open(io.BytesIO(out.getvalue())) as im:
            if draft_three_eighths(im) is None:
                return False
            im.load()
            scaled = im.convert("RGB")
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        logger.info("3/8 JPEG decoding unavailable: %s", exc)
        return False
    expected = picture.resize(scaled_size(64, 48), Image.Resampling.BOX)
    if scaled.size != expected.size:
        return False
    worst = max(ImageStat.Stat(ImageChops.difference(scaled, expected)).rms)
    return worst < 8.0
