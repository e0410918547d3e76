"""Resampling one region of a picture to a render's size: the engine's one LANCZOS step.

It goes through fast_image_resize (the `cykooz-resizer` wheel: Rust, with AVX2, SSE4.1 and
NEON kernels chosen at run time) for the working modes it resamples natively, L, RGB and
RGBA (alpha premultiplied for the filter and divided back, as Pillow does), and through
Pillow's LANCZOS otherwise: another mode, or a platform the wheel does not cover (Linux on
aarch64, musl), where pyproject's environment marker leaves it out and the import fails.
Both are the same filter, LANCZOS with a support of 3, taking the same fractional source
box, so a render is the same picture either way, to within rounding between the two
passes. `resampler_name()` names the one in use (`phizer --version`, `phizer check`).

A serve miss is one client waiting on one worker, and on an idle machine the other cores sit
unused: `threads` > 1 hands the resample to that many threads of the library's own pool,
which splits the rows between them (the result is the same, pixel for pixel).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from phizer.engine.geometry import Box

try:
    import cykooz_resizer as _fir
except ImportError:  # no wheel for this platform: Pillow resamples everything
    _fir = None

RESAMPLE = Image.Resampling.LANCZOS
# Pillow's documented threshold past which reduce()-then-resample is indistinguishable from
# a plain LANCZOS resample, while much faster on big reductions (the fallback path).
REDUCING_GAP = 3.0
# The modes fast_image_resize takes as they are (8 bits a channel, alpha last).
FAST_MODES = ("L", "RGB", "RGBA")
# Below this many source pixels, a second thread costs more than it saves.
MIN_SPLIT_PIXELS = 512 * 512


def resampler_name() -> str:
    """Which resampler this install runs, for `phizer --version` and `phizer check` (asked
    only then: the package metadata is not read by every worker that imports this)."""
    if _fir is None:
        return "Pillow LANCZOS"
    from importlib import metadata

    version = metadata.version("cykooz-resizer")
    simd = _fir.Resizer().cpu_extensions.name
    return f"fast_image_resize (cykooz-resizer {version}, {simd}); Pillow LANCZOS for other modes"


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
    elif _fir is not None and im.mode in FAST_MODES:
        out = _fast(im, box, size, threads)
    else:
        out = im.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)
    # Pillow copies `info` into derived images, and some encoders read it: drop the
    # original's profile, EXIF and colour key so only what encode() passes is written.
    out.info = {}
    return out


def _fast(im: Image.Image, box: Box, size: tuple[int, int], threads: int) -> Image.Image:
    """fast_image_resize's LANCZOS3 of `box` into a new picture of `size`. A pool is made per
    call (cheap against the resample): one kept would not survive a worker's fork."""
    assert _fir is not None
    options: Any = _fir.ResizeOptions(
        resize_alg=_fir.ResizeAlg.convolution(_fir.FilterType.lanczos3),
        crop_box=_fir.CropBox(box[0], box[1], box[2] - box[0], box[3] - box[1]),
    )
    width, height = box[2] - box[0], box[3] - box[1]
    if threads > 1 and width * height >= MIN_SPLIT_PIXELS:
        options.thread_pool = _fir.ResizerThreadPool(threads)
    out = Image.new(im.mode, size, None)  # not filled: every pixel is written
    _fir.Resizer().resize_pil(im, out, options)
    return out
