"""Resampling in bands: a miss's render split across idle cores must look exactly like the
same render made on one core, and split only where that pays."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw

from phizer import resample as resample_module
from phizer.jobs import MAX_RESAMPLE_THREADS, resample_threads
from phizer.resample import band_count, resample


def detailed(mode: str, width: int = 1300, height: int = 900) -> Image.Image:
    """Fine lines at every angle plus gradients: any band misplaced by a fraction of a pixel
    shows as a difference far above float rounding."""
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for x in range(0, width, 7):
        draw.line([(x, 0), (x + height // 2, height)], fill=(255, 255, 255))
    for y in range(0, height, 5):
        draw.line([(0, y), (width, y + 3)], fill=(10, 200, 30))
    if mode in ("RGBA", "LA"):
        alpha = Image.radial_gradient("L").resize((width, height))
        im = im.convert(mode[:-1]).convert(mode)
        im.putalpha(alpha)
        return im
    return im.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
@pytest.mark.parametrize("threads", [2, 3])
def test_bands_match_one_resample(mode: str, threads: int) -> None:
    im = detailed(mode)
    box = (10.3, 7.75, 1297.2, 893.5)  # sub-pixel, as after a DCT-scaled decode
    size = (800, 553)
    assert band_count(box, size, threads) == threads
    whole = resample(im, box, size)
    banded = resample(im, box, size, threads)
    assert banded.mode == whole.mode
    assert banded.size == whole.size
    if mode in ("RGBA", "LA"):
        # Pillow resamples premultiplied; un-premultiplying magnifies a one-level rounding
        # in a nearly clear pixel. What shows on any background is the premultiplied value.
        premultiplied = {"RGBA": "RGBa", "LA": "La"}[mode]
        whole, banded = whole.convert(premultiplied), banded.convert(premultiplied)
    worst = max(high for _, high in _extrema(ImageChops.difference(whole, banded)))
    assert worst <= 2  # float rounding in Pillow's filter weights, never a shifted strip


def test_a_shifted_band_would_be_caught() -> None:
    """The check above can fail: one output row of shift in a band is far above 2 levels."""
    im = detailed("RGB")
    whole = resample(im, (0, 0, 1300, 896.75), (800, 552))
    shifted = resample(im, (0, 1.625, 1300, 898.375), (800, 552))
    assert max(high for _, high in _extrema(ImageChops.difference(whole, shifted))) > 2


def _extrema(im: Image.Image) -> list[tuple[float, float]]:
    """(low, high) per band, for one band or several alike."""
    extrema: Any = im.getextrema()
    return [extrema] if isinstance(extrema[0], int) else list(extrema)


@pytest.mark.parametrize(
    ("box", "size", "threads", "bands"),
    [
        ((0, 0, 1600, 1200), (800, 600), 1, 1),  # one thread asked for
        ((0, 0, 1600, 1200), (800, 600), 2, 2),
        ((0, 0, 1600, 1200), (800, 600), 4, 4),
        ((0, 0, 400, 300), (200, 150), 2, 1),  # too small to gain
        ((0, 0, 1600, 1200), (260, 100), 2, 1),  # 6x: Pillow reduce()s first
        ((0, 0, 1600, 1200), (800, 100), 4, 1),  # bands would be under 64 rows
        ((0, 0, 1600, 400), (800, 150), 4, 2),
    ],
)
def test_band_count(
    box: tuple[float, float, float, float], size: tuple[int, int], threads: int, bands: int
) -> None:
    assert band_count(box, size, threads) == bands


def test_a_failing_band_fails_the_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in a helper thread reaches the caller; no render with a blank strip."""
    real = resample_module._resize

    def failing(im: Image.Image, box: tuple[float, ...], size: tuple[int, int]) -> Image.Image:
        if box[1] > 0:
            raise MemoryError("no room for this strip")
        return real(im, box, size)  # type: ignore[arg-type]

    monkeypatch.setattr(resample_module, "_resize", failing)
    with pytest.raises(MemoryError, match="strip"):
        resample(detailed("RGB"), (0, 0, 1300, 900), (800, 554), threads=2)


@pytest.mark.parametrize(
    ("cores", "busy", "limit", "threads"),
    [
        (2, 0, 0, 2),
        (2, 1, 0, 1),
        (2, 7, 0, 1),
        (1, 0, 0, 1),
        (16, 0, 0, MAX_RESAMPLE_THREADS),
        (16, 13, 0, 3),
        (16, 0, 1, 1),  # server.miss_threads = 1: never split
        (16, 0, 8, 8),
    ],
)
def test_a_miss_gets_the_cores_no_other_job_holds(
    cores: int, busy: int, limit: int, threads: int
) -> None:
    assert resample_threads(cores, busy, limit) == threads
