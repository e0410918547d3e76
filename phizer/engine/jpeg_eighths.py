"""A JPEG decoded at 3/8, 5/8 or 6/8 of its size: steps libjpeg-turbo has between the 1/8,
1/4, 1/2 and 1/1 that Pillow's `draft` can ask for.

They matter for the sizes in between. LANCZOS needs some reduction of its own left after a
DCT-scaled decode (see `phizer.engine.decode`), so without them:
- an 800px render of a 1680-1920px photo decodes it in full, as 1/2 leaves too little; at
  5/8 it resamples from 61% fewer pixels;
- a 1600px render of a 2880-3264px photo decodes it in full too; at 5/8 or 6/8 it resamples
  from 44-61% fewer;
- an 800px render of a 4000px photo resamples 1500px from 3/8 rather than 2000px from 1/2;
- and 1/2 can ask for more margin (see `phizer.engine.decode`): a 1600px render of a 4000-4800px
  photo, for which 1/2 leaves too little, takes 5/8 rather than a full decode.

libjpeg-turbo's SIMD IDCTs are the 8x8 one and the reduced 4x4 and 2x2: the other steps
run in plain C, so a decode at 5/8, 6/8 or 7/8 takes longer than a full one, and longer the
larger the step. What they save is resampling; on stock Pillow that outweighs the decode at
5/8 and 6/8, not at 7/8, which phizer does not use (BENCHMARKS.md has the numbers).

Pillow hands libjpeg a scale of 1/N only, so these decodes go through simplejpeg
(libjpeg-turbo's TurboJPEG API, whose scaling takes any M/8), with the same accurate IDCT
and upsampling as Pillow's. Only what Pillow would decode to RGB or L goes this way (CMYK
keeps Pillow's handling of Adobe's inverted samples), and a file simplejpeg finds any fault
with, even one libjpeg only warns about, is left to Pillow: `decode` returns None and the
caller decodes with Pillow at its next bigger step, which renders or refuses the file
exactly as Pillow alone would.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from PIL import Image

logger = logging.getLogger(__name__)

# The steps Pillow's `draft` reaches itself (scale 1/N: 1/8, 1/4, 1/2, 1/1), in eighths.
PILLOW_EIGHTHS = (1, 2, 4, 8)
# simplejpeg's name for each Pillow mode it decodes to with the same pixels.
_COLORSPACES = {"RGB": "RGB", "L": "GRAY"}


def scaled_size(width: int, height: int, eighths: int) -> tuple[int, int]:
    """libjpeg-turbo's output size at eighths/8: each side scaled, rounded up."""
    return (-(-width * eighths // 8), -(-height * eighths // 8))


def pillow_step(eighths: int) -> int:
    """The smallest step Pillow decodes at itself that has at least `eighths`/8 of the
    pixels: where a decode falls back to when simplejpeg cannot do it."""
    return min(step for step in PILLOW_EIGHTHS if step >= eighths)


def preload() -> None:
    """Import simplejpeg now. It brings numpy, slow to import, which a CLI run that never
    decodes at these steps should not pay for, so `decode` imports it when first needed; a
    render worker's `Pipeline` calls this as it starts, so that no client's miss waits for
    it."""
    _import_simplejpeg()


def _import_simplejpeg() -> Any:  # simplejpeg has no type hints
    # numpy's OpenBLAS starts a thread per core as it loads, and they spin for a while, so
    # the import costs more CPU than with one thread. phizer never calls BLAS, so a process
    # that has not chosen a thread count (the variable unset) gets one.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import simplejpeg

    return simplejpeg


def decode(data: bytes, mode: str, width: int, height: int, eighths: int) -> Image.Image | None:
    """`data`, a `width` x `height` JPEG that Pillow opens as `mode`, decoded at eighths/8;
    None when this is left to Pillow (a mode simplejpeg does not give, a fault in the file).
    The caller has checked the pixel cap against the header already. For a moment both
    simplejpeg's array (3 bytes a pixel) and Pillow's copy (4) are held: at 6/8, 3.9 bytes
    per pixel of the original, under the 4 a full decode by Pillow takes, so the worker's
    memory bound stays what the pixel cap makes it."""
    colorspace = _COLORSPACES.get(mode)
    if colorspace is None:
        return None
    simplejpeg = _import_simplejpeg()

    size = scaled_size(width, height, eighths)
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace, min_width=size[0], min_height=size[1], strict=True
        )
    except (ValueError, OSError, RuntimeError) as exc:
        logger.info("decoding at %d/8 left to Pillow: %s", eighths, exc)
        return None
    if pixels.shape[:2] != (size[1], size[0]):  # not the step asked for: not expected
        logger.warning(
            "simplejpeg decoded %s for %d/8 of %dx%d", pixels.shape, eighths, width, height
        )
        return None
    return Image.frombytes(mode, size, pixels)
