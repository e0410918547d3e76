"""The resampling step: fast_image_resize where the mode allows, Pillow's LANCZOS otherwise. The
two must be the same filter on the same fractional source box (a render must not move or blur
when the wheel is missing), threads must not change a pixel, and the engine must run with
the library unavailable."""

from __future__ import annotations

import importlib.util
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from phizer.base.models import RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine.render import render_all
from phizer.engine.resample import resample, resampler_name
from phizer.pool.jobs import MAX_RESAMPLE_THREADS, resample_threads

LIMITS = LimitsConfig()
REPO = Path(__file__).resolve().parent.parent


def detailed(mode: str, width: int = 1300, height: int = 900) -> Image.Image:
    """Fine lines at every angle plus gradients: a box misplaced by a fraction of a pixel, or
    another filter, shows as a difference far above rounding."""
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


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio over every band, in dB (99 for identical pictures)."""
    assert a.size == b.size
    assert a.mode == b.mode
    histogram = ImageChops.difference(a, b).histogram()
    squares = sum(((i % 256) ** 2) * count for i, count in enumerate(histogram))
    mse = squares / (a.width * a.height * len(a.getbands()))
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def shown(im: Image.Image) -> Image.Image:
    """What a picture looks like on any background: premultiplied where it has alpha (a
    one-level rounding in a nearly clear pixel is magnified by un-premultiplying)."""
    return im.convert({"RGBA": "RGBa", "LA": "La"}.get(im.mode, im.mode))


BOXES = [
    ((10.3, 7.75, 1297.2, 893.5), (800, 553)),  # sub-pixel, as after a DCT-scaled decode
    ((100.5, 50.25, 700.75, 500.5), (300, 225)),  # a crop box
    ((0, 0, 1300, 900), (2000, 1385)),  # an upscale (sizes with upscale = true)
]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
@pytest.mark.parametrize(("box", "size"), BOXES)
def test_resample_is_pillows_lanczos_of_the_same_box(
    mode: str, box: tuple[float, float, float, float], size: tuple[int, int]
) -> None:
    im = detailed(mode)
    got = resample(im, box, size)
    want = im.resize(size, Image.Resampling.LANCZOS, box=box)
    assert (got.mode, got.size) == (mode, size)
    # Not identical on these hard 1-pixel lines (rounding between the two passes, clipping of
    # LANCZOS' overshoot), but a box shifted by one source row is far below this.
    assert psnr(shown(got), shown(want)) > 35


def test_a_box_shifted_by_one_row_would_be_caught() -> None:
    """The check above can fail: the same resample one source row off is far below it."""
    im = detailed("RGB")
    got = resample(im, (0, 1, 1300, 897), (800, 552))
    want = im.resize((800, 552), Image.Resampling.LANCZOS, box=(0, 0, 1300, 896))
    assert psnr(got, want) < 30


@pytest.mark.parametrize("left", [8.0, 8.25, 8.5, 10.75])
def test_a_fractional_crop_box_lands_where_it_says(left: float) -> None:
    """On a ramp of 4 levels a column, LANCZOS (which reproduces a straight line) gives output
    pixel i the value of the source position its centre maps to, left + (i + 0.5) * scale,
    less half a pixel for the ramp's own pixel centres. A quarter-pixel shift is one level."""
    ramp = Image.new("L", (64, 8))
    ramp.putdata([4 * x for _ in range(8) for x in range(64)])
    scale = 1.5
    out = resample(ramp, (left, 0, left + 30 * scale, 8), (30, 4))
    for i in range(30):
        expected = 4 * (left + (i + 0.5) * scale - 0.5)
        assert abs(out.getpixel((i, 2)) - expected) <= 0.75, i  # type: ignore[operator]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize("threads", [2, 3])
def test_threads_change_no_pixel(mode: str, threads: int) -> None:
    im = detailed(mode)
    box, size = (10.3, 7.75, 1297.2, 893.5), (800, 553)
    one = resample(im, box, size)
    many = resample(im, box, size, threads)
    assert (many.mode, many.size) == (one.mode, one.size)
    assert ImageChops.difference(one, many).getbbox() is None


def test_a_whole_pixel_one_to_one_box_is_a_crop() -> None:
    im = detailed("RGB")
    out = resample(im, (100, 50, 400, 250), (300, 200))
    assert ImageChops.difference(out, im.crop((100, 50, 400, 250))).getbbox() is None


def test_the_render_carries_none_of_the_originals_info() -> None:
    im = detailed("RGB")
    im.info["icc_profile"] = b"not sRGB"
    assert resample(im, (0, 0, 1300, 900), (650, 450)).info == {}


def test_the_resampler_in_use_is_named() -> None:
    """The name `phizer --version` prints says which resampler this install runs."""
    installed = importlib.util.find_spec("cykooz_resizer") is not None
    expected = "fast_image_resize (cykooz-resizer " if installed else "Pillow LANCZOS"
    assert resampler_name().startswith(expected)


# The engine with fast_image_resize unavailable, as on a platform its wheel does not cover:
# the import fails, Pillow resamples everything, and the renders are the same pictures.
WITHOUT_WHEEL = r"""
import io, sys
sys.modules["cykooz_resizer"] = None  # `import cykooz_resizer` now raises ImportError
from phizer.config import LimitsConfig, OutputConfig
from phizer.base.models import RenderTarget, SizeSpec
from phizer.engine.render import render_all
from phizer.engine.resample import resampler_name
print(resampler_name())
data = sys.stdin.buffer.read()
sizes = [SizeSpec("m", 800, 800, "max"), SizeSpec("f", 220, 220, "fill")]
for r in render_all(data, [RenderTarget(s, s.name) for s in sizes], OutputConfig(),
                    LimitsConfig()):
    sys.stdout.buffer.write(len(r.data).to_bytes(4, "big") + r.data)
"""


def test_the_engine_renders_the_same_pictures_without_the_library() -> None:
    source = io.BytesIO()
    detailed("RGB", 1900, 1300).save(source, "JPEG", quality=95)
    data = source.getvalue()
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_WHEEL],
        input=data,
        capture_output=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    name, _, rest = done.stdout.partition(b"\n")
    assert name == b"Pillow LANCZOS"
    fallback: list[Image.Image] = []
    while rest:
        length = int.from_bytes(rest[:4], "big")
        fallback.append(Image.open(io.BytesIO(rest[4 : 4 + length])))
        rest = rest[4 + length :]

    sizes = [SizeSpec("m", 800, 800, "max"), SizeSpec("f", 220, 220, "fill")]
    here = render_all(
        data, [RenderTarget(s, s.name) for s in sizes], OutputConfig(), LimitsConfig()
    )
    assert [im.size for im in fallback] == [(800, 547), (220, 220)]
    for ours, theirs in zip(here, fallback, strict=True):
        im = Image.open(io.BytesIO(ours.data))
        assert im.size == theirs.size
        assert psnr(im.convert("RGB"), theirs.convert("RGB")) > 35


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
