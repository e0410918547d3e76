"""The size and crop arithmetic of every mode, kept apart from Pillow so it can be tested
exhaustively: given an original's displayed size, a size spec and an optional crop box, which
region of the original becomes which output size.

A `Plan` says "resample this (sub-pixel) box of the displayed original to width x height".
A cropping mode (`fill`, `portrait`, `landscape`) cuts its window from the middle, or, given
the photo's focal box, moves the window the least it takes to hold the box (with room
around it) when it fits and centres it on the box when it does not, always inside the
picture (`_placed`). An explicit crop box and a size with `gravity = "centre"` ignore the
focal box.
Expressing each mode as one box plus one size lets the renderer crop and scale in a single
`Image.resize(size, box=...)` call, with no intermediate copy and no rounding of the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

from phizer.base.errors import BadRequest
from phizer.base.models import CropBox, Focus, SizeSpec

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Plan:
    """Resample `box` (displayed pixels of the original, x2/y2 exclusive) to width x height."""

    box: Box
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Output pixels per source pixel (the larger axis, which needs the most detail)."""
        x1, y1, x2, y2 = self.box
        return max(self.width / (x2 - x1), self.height / (y2 - y1))


def check_crop(crop: CropBox, width: int, height: int) -> None:
    """Refuse a crop box that is empty or reaches outside the displayed image; a proxy must
    answer 400 with the reason rather than silently clamp the box."""
    if crop.x1 < 0 or crop.y1 < 0:
        raise BadRequest(f"crop box {_text(crop)} starts outside the image")
    if crop.x2 <= crop.x1 or crop.y2 <= crop.y1:
        raise BadRequest(f"crop box {_text(crop)} is empty")
    if crop.x2 > width or crop.y2 > height:
        raise BadRequest(f"crop box {_text(crop)} reaches outside the {width}x{height} image")


def plan(
    size: SizeSpec,
    width: int,
    height: int,
    crop: CropBox | None = None,
    focus: Focus | None = None,
) -> Plan:
    """Where `size` takes its pixels from in a `width` x `height` original (as displayed);
    `focus` places a cropping size's window (see the module docstring)."""
    if width < 1 or height < 1:
        raise ValueError(f"an original must have pixels, not {width}x{height}")
    if crop is not None:
        check_crop(crop, width, height)
        region: Box = (crop.x1, crop.y1, crop.x2, crop.y2)
    else:
        region = (0, 0, width, height)
    target: Box | None = None
    if focus is not None and crop is None and size.follows_focus:
        target = (focus.x1 * width, focus.y1 * height, focus.x2 * width, focus.y2 * height)
    if size.mode == "max":
        return _fit(region, size)
    if size.mode == "fill":
        return _fill(region, size, target)
    if size.mode == "portrait":
        return _strip(region, size, target, along_height=True)
    return _strip(region, size, target, along_height=False)


def _fit(region: Box, size: SizeSpec) -> Plan:
    w, h = _extent(region)
    scale = _capped(min(size.width / w, size.height / h), size)
    return Plan(region, _dim(w * scale), _dim(h * scale))


def _fill(region: Box, size: SizeSpec, target: Box | None) -> Plan:
    w, h = _extent(region)
    cover = max(size.width / w, size.height / h)
    if cover <= 1 or size.upscale:
        # Cover the box exactly, cropping the overflow (evenly, or around the focal box).
        window = _placed(region, size.width / cover, size.height / cover, target)
        return Plan(window, size.width, size.height)
    # Too small to cover without upscaling: keep 1:1 pixels, crop to the target's aspect.
    if w * size.height > h * size.width:
        out_w, out_h = _dim(h * size.width / size.height), _dim(h)
    else:
        out_w, out_h = _dim(w), _dim(w * size.height / size.width)
    out_w, out_h = min(out_w, _dim(w)), min(out_h, _dim(h))
    return Plan(_placed(region, out_w, out_h, target), out_w, out_h)


def _strip(region: Box, size: SizeSpec, target: Box | None, along_height: bool) -> Plan:
    """portrait (scale to H, crop the sides) and landscape (scale to W, crop top/bottom)."""
    w, h = _extent(region)
    if along_height:
        scale = _capped(size.height / h, size)
        out_w, out_h = _dim(w * scale), _dim(h * scale)
        if out_w <= size.width:  # nothing to crop: keep every column, like `max`
            return Plan(region, out_w, out_h)
        return Plan(_placed(region, size.width / scale, h, target), size.width, out_h)
    scale = _capped(size.width / w, size)
    out_w, out_h = _dim(w * scale), _dim(h * scale)
    if out_h <= size.height:
        return Plan(region, out_w, out_h)
    return Plan(_placed(region, w, size.height / scale, target), out_w, size.height)


def _capped(scale: float, size: SizeSpec) -> float:
    return scale if size.upscale else min(scale, 1.0)


def _dim(value: float) -> int:
    # Never 0: a 10000x1 original at max 100 is 100x1, not an empty image.
    return max(1, round(value))


def _extent(region: Box) -> tuple[float, float]:
    return region[2] - region[0], region[3] - region[1]


def _placed(region: Box, w: float, h: float, target: Box | None) -> Box:
    """A `w` x `h` window inside `region`, centred on it, then moved along each axis as far
    as it takes to hold `target`, the focal box, with half the room to spare around it
    (`_moved`); centred on the box where it does not fit; clamped to the region. A subject
    near the middle leaves the centred window where it is: focus costs a centred photo
    nothing, and moves an off-centre subject in from the edge."""
    x1, y1, x2, y2 = region
    # min(): a cover scale computed in floats can overshoot the region by an ulp.
    w, h = min(w, x2 - x1), min(h, y2 - y1)
    left, top = x1 + (x2 - x1 - w) / 2, y1 + (y2 - y1 - h) / 2
    if target is not None:
        left = _moved(left, w, target[0], target[2])
        top = _moved(top, h, target[1], target[3])
    left = min(max(left, x1), x2 - w)
    top = min(max(top, y1), y2 - h)
    return (left, top, left + w, top + h)


def _moved(start: float, size: float, low: float, high: float) -> float:
    """One axis of `_placed`: the window [start, start + size) moved the least to hold
    [low, high] grown by a quarter of the room the window has left on each side (so a
    subject is not left touching the edge, and a point ends up at least a quarter of the
    window in), or centred on [low, high] when that is longer than the window."""
    length = high - low
    if length > size:
        return (low + high) / 2 - size / 2
    pad = (size - length) / 4
    return min(max(start, high + pad - size), low - pad)


def _text(crop: CropBox) -> str:
    return f"({crop.x1},{crop.y1})-({crop.x2},{crop.y2})"
