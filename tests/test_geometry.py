"""The pure size/crop arithmetic of every mode: which region of the original becomes which
output size. Values are worked out by hand from the modes' definitions (README, "URLs")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phizer.base.errors import BadRequest
from phizer.base.models import CropBox, Mode, SizeSpec
from phizer.engine.geometry import check_crop, plan

W, H = 200, 100  # a non-square box, so a swapped axis shows up


def spec(mode: Mode, upscale: bool = False, w: int = W, h: int = H) -> SizeSpec:
    return SizeSpec("t", w, h, mode, upscale=upscale)


@pytest.mark.parametrize(
    ("original", "mode", "upscale", "size", "box"),
    [
        # max: fit inside, keep the aspect ratio, never upscale unless asked
        ((800, 600), "max", False, (133, 100), (0, 0, 800, 600)),
        ((600, 800), "max", False, (75, 100), (0, 0, 600, 800)),
        ((500, 500), "max", False, (100, 100), (0, 0, 500, 500)),
        ((50, 40), "max", False, (50, 40), (0, 0, 50, 40)),
        ((50, 40), "max", True, (125, 100), (0, 0, 50, 40)),
        ((1, 1000), "max", False, (1, 100), (0, 0, 1, 1000)),
        ((10000, 1), "max", False, (200, 1), (0, 0, 10000, 1)),
        # fill: cover and centre-crop to exactly W x H ...
        ((800, 600), "fill", False, (200, 100), (0, 100, 800, 500)),
        ((600, 800), "fill", False, (200, 100), (0, 250, 600, 550)),
        ((500, 500), "fill", False, (200, 100), (0, 125, 500, 375)),
        ((50, 40), "fill", True, (200, 100), (0, 7.5, 50, 32.5)),
        # ... but a smaller original is only cropped to the box's aspect ratio
        ((50, 40), "fill", False, (50, 25), (0, 7.5, 50, 32.5)),
        ((300, 80), "fill", False, (160, 80), (70, 0, 230, 80)),
        ((10000, 1), "fill", False, (2, 1), (4999, 0, 5001, 1)),
        ((1, 1000), "fill", False, (1, 1), (0, 499.5, 1, 500.5)),
        # portrait: scale to H, crop the sides to at most W, never crop top/bottom
        ((800, 600), "portrait", False, (133, 100), (0, 0, 800, 600)),
        ((600, 800), "portrait", False, (75, 100), (0, 0, 600, 800)),
        ((2000, 500), "portrait", False, (200, 100), (500, 0, 1500, 500)),
        ((50, 40), "portrait", False, (50, 40), (0, 0, 50, 40)),
        ((50, 40), "portrait", True, (125, 100), (0, 0, 50, 40)),
        ((10000, 1), "portrait", False, (200, 1), (4900, 0, 5100, 1)),
        ((1, 1000), "portrait", False, (1, 100), (0, 0, 1, 1000)),
        # landscape: scale to W, crop top/bottom to at most H, never crop the sides
        ((800, 600), "landscape", False, (200, 100), (0, 100, 800, 500)),
        ((600, 800), "landscape", False, (200, 100), (0, 250, 600, 550)),
        ((800, 200), "landscape", False, (200, 50), (0, 0, 800, 200)),
        ((50, 40), "landscape", False, (50, 40), (0, 0, 50, 40)),
        ((50, 40), "landscape", True, (200, 100), (0, 7.5, 50, 32.5)),
        ((1, 1000), "landscape", False, (1, 100), (0, 450, 1, 550)),
        ((10000, 1), "landscape", False, (200, 1), (0, 0, 10000, 1)),
    ],
)
def test_modes(
    original: tuple[int, int],
    mode: Mode,
    upscale: bool,
    size: tuple[int, int],
    box: tuple[float, float, float, float],
) -> None:
    p = plan(spec(mode, upscale), *original)
    assert (p.width, p.height) == size
    assert p.box == pytest.approx(box)


@pytest.mark.parametrize(
    ("mode", "crop", "size", "box"),
    [
        ("max", CropBox(100, 100, 500, 300), (200, 100), (100, 100, 500, 300)),
        ("max", CropBox(0, 0, 100, 400), (25, 100), (0, 0, 100, 400)),
        ("fill", CropBox(0, 0, 400, 400), (200, 100), (0, 100, 400, 300)),
        ("fill", CropBox(10, 20, 60, 45), (50, 25), (10, 20, 60, 45)),
        ("portrait", CropBox(0, 0, 800, 200), (200, 100), (200, 0, 600, 200)),
        ("landscape", CropBox(400, 0, 800, 600), (200, 100), (400, 200, 800, 400)),
        ("max", CropBox(0, 0, 800, 600), (133, 100), (0, 0, 800, 600)),  # the whole image
        ("max", CropBox(799, 599, 800, 600), (1, 1), (799, 599, 800, 600)),  # one pixel
    ],
)
def test_crop_box_comes_first(
    mode: Mode, crop: CropBox, size: tuple[int, int], box: tuple[float, float, float, float]
) -> None:
    p = plan(spec(mode), 800, 600, crop)
    assert (p.width, p.height) == size
    assert p.box == pytest.approx(box)


@pytest.mark.parametrize(
    ("crop", "reason"),
    [
        (CropBox(10, 10, 10, 20), "empty"),
        (CropBox(10, 30, 20, 20), "empty"),
        (CropBox(-1, 0, 20, 20), "outside"),
        (CropBox(0, 0, 801, 20), "outside"),
        (CropBox(0, 0, 20, 601), "outside"),
        (CropBox(900, 700, 950, 750), "outside"),
    ],
)
def test_bad_crop_boxes_are_refused_with_a_reason(crop: CropBox, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason) as info:
        plan(spec("max"), 800, 600, crop)
    assert info.value.status == 400


def test_crop_is_checked_against_the_displayed_size() -> None:
    check_crop(CropBox(0, 0, 600, 800), 600, 800)
    with pytest.raises(BadRequest):
        check_crop(CropBox(0, 0, 600, 800), 800, 600)


@given(
    w=st.integers(1, 20000),
    h=st.integers(1, 20000),
    bw=st.integers(1, 2000),
    bh=st.integers(1, 2000),
    mode=st.sampled_from(["max", "fill", "portrait", "landscape"]),
    upscale=st.booleans(),
)
def test_invariants(w: int, h: int, bw: int, bh: int, mode: Mode, upscale: bool) -> None:
    p = plan(spec(mode, upscale, bw, bh), w, h)
    x1, y1, x2, y2 = p.box
    assert p.width >= 1
    assert p.height >= 1
    assert p.width <= bw
    assert p.height <= bh
    assert -1e-6 <= x1 < x2 <= w + 1e-6
    assert -1e-6 <= y1 < y2 <= h + 1e-6
    if not upscale:  # at most one pixel of rounding, or the 1-pixel floor
        assert p.width <= max(1, x2 - x1 + 0.5)
        assert p.height <= max(1, y2 - y1 + 0.5)
    # The picture is not stretched: the short output axis is within a pixel of the aspect.
    if x2 - x1 >= y2 - y1:
        assert abs(p.height - p.width * (y2 - y1) / (x2 - x1)) <= 1
    else:
        assert abs(p.width - p.height * (x2 - x1) / (y2 - y1)) <= 1
    if mode == "fill" and (upscale or (w >= bw and h >= bh)):
        assert (p.width, p.height) == (bw, bh)
    if mode == "portrait":
        assert (y1, y2) == (0, h)
    if mode == "landscape":
        assert (x1, x2) == (0, w)
