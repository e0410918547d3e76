"""ThumbHash placeholders: a picture's colours, shape and aspect ratio in about 25 bytes,
which a page decodes into a blurred preview while the render loads (the format and its
decoders: https://evanw.github.io/thumbhash/).

phizer's own encoder, in numpy (already in every worker for the JPEG decodes): the `thumbhash`
package on PyPI encodes in pure Python, several milliseconds a photo, and fails on any picture
with transparency; the other, `thumbhash-python`, requires Pillow < 11. This one follows the
reference encoder step by step, rounding as JavaScript does, and the tests compare it with
the `thumbhash` package on opaque pictures and decode its output with that package.
"""

from __future__ import annotations

import base64
import math

import numpy as np
from PIL import Image

# The reference encoder takes at most 100x100 px; a third of that holds every coefficient
# it keeps (at most 7 across) with room to spare, and costs a ninth of the arithmetic.
MAX_SIDE = 32


def thumbhash(image: Image.Image) -> bytes:
    """The ThumbHash of `image`, which must fit in MAX_SIDE x MAX_SIDE (the caller resamples
    it there: from a render it already has, never from a new decode)."""
    w, h = image.size
    if w > MAX_SIDE or h > MAX_SIDE:
        raise ValueError(f"{w}x{h} does not fit in {MAX_SIDE}x{MAX_SIDE}")
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float64) / 255.0
    alpha = rgba[..., 3]
    total = float(alpha.sum())
    average = (rgba[..., :3] * alpha[..., None]).sum(axis=(0, 1)) / total if total else np.zeros(3)
    has_alpha = total < w * h
    limit = 5 if has_alpha else 7
    lx = max(1, _round(limit * w / max(w, h)))
    ly = max(1, _round(limit * h / max(w, h)))
    # Transparent pixels take the average colour, so they do not darken the picture.
    rgb = average * (1 - alpha[..., None]) + alpha[..., None] * rgba[..., :3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    l_dc, l_ac, l_scale = _channel((r + g + b) / 3, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _channel((r + g) / 2 - b, 3, 3)
    q_dc, q_ac, q_scale = _channel(r - g, 3, 3)
    a_dc, a_ac, a_scale = _channel(alpha, 5, 5) if has_alpha else (1.0, [], 1.0)

    landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    if has_alpha:
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
    nibbles = [_round(15 * f) for f in (*l_ac, *p_ac, *q_ac, *(a_ac if has_alpha else ()))]
    for i in range(0, len(nibbles), 2):
        out.append(nibbles[i] | (nibbles[i + 1] << 4 if i + 1 < len(nibbles) else 0))
    return bytes(out)


def encoded(image: Image.Image) -> str:
    """`thumbhash` as base64, the form pages and the ThumbHash decoders take."""
    return base64.b64encode(thumbhash(image)).decode("ascii")


def _channel(values: np.ndarray, nx: int, ny: int) -> tuple[float, list[float], float]:
    """The DC term, the AC terms scaled to 0..1, and their scale, of one channel: cosine
    coefficients (cx, cy) with cx * ny < nx * (ny - cy), row by row."""
    h, w = values.shape
    fx = np.cos(math.pi / w * np.arange(nx)[:, None] * (np.arange(w)[None, :] + 0.5))
    fy = np.cos(math.pi / h * np.arange(ny)[:, None] * (np.arange(h)[None, :] + 0.5))
    coefficients = fy @ values @ fx.T / (w * h)  # [cy, cx]
    dc = float(coefficients[0, 0])
    ac = [
        float(coefficients[cy, cx])
        for cy in range(ny)
        for cx in range(nx)
        if cx * ny < nx * (ny - cy) and (cx or cy)
    ]
    scale = max((abs(f) for f in ac), default=0.0)
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def _round(value: float) -> int:
    """JavaScript's Math.round (half up), as the reference encoder rounds."""
    return math.floor(value + 0.5)
