"""The render engine end to end on images made in code: sizes and content per mode, crop
boxes, orientation after a DCT-scaled decode, colour, alpha, formats, metadata and limits."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from typing import Any, cast

import pytest
import simplejpeg
from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat
from support.png import chunk

from phizer.base.errors import BadRequest, TooLarge, Undecodable, UnsupportedFormat
from phizer.base.models import CropBox, Mode, Rendered, RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine import jpeg_eighths
from phizer.engine import render as render_module
from phizer.engine import resample as resample_module
from phizer.engine.decode import decode_scaled, eighths_for
from phizer.engine.geometry import plan
from phizer.engine.render import iter_renders, probe, render_all

OUT = OutputConfig()
LIMITS = LimitsConfig()


def encoded(im: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def photo(width: int, height: int) -> Image.Image:
    """A picture with detail at every scale and no symmetry, so a flip, a rotation, a shift
    or a blur each changes the pixels."""
    im = Image.linear_gradient("L").resize((width, height))
    red = Image.radial_gradient("L").resize((width, height))
    im = Image.merge("RGB", (red, im, im.transpose(Image.Transpose.ROTATE_90).resize(im.size)))
    draw = ImageDraw.Draw(im)
    step = max(4, width // 40)
    for x in range(0, width, step):
        draw.line([(x, 0), (x + height // 3, height)], fill=(255, 255, 255), width=1)
    draw.rectangle([width // 10, height // 10, width // 4, height // 3], fill=(255, 0, 0))
    return im


def target(mode: Mode, w: int, h: int, **kw: object) -> RenderTarget:
    upscale = bool(kw.pop("upscale", False))
    size = SizeSpec(f"{mode}{w}x{h}", w, h, mode, upscale=upscale)
    return RenderTarget(size=size, key=f"{w}x{h}/a", **kw)  # type: ignore[arg-type]


def decoded(r: Rendered) -> Image.Image:
    im = Image.open(io.BytesIO(r.data))
    im.load()
    return im


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    a, b = a.convert("RGB"), b.convert("RGB")
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def reference(
    im: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None
) -> Image.Image:
    return im.convert("RGB").resize(size, Image.Resampling.LANCZOS, box=box)


@pytest.mark.parametrize(
    ("original", "mode", "box", "expected"),
    [
        ((640, 480), "max", (300, 300), (300, 225)),
        ((480, 640), "max", (300, 300), (225, 300)),
        ((640, 480), "fill", (200, 200), (200, 200)),
        ((480, 640), "fill", (300, 100), (300, 100)),
        ((100, 80), "fill", (200, 200), (80, 80)),
        ((900, 300), "portrait", (200, 150), (200, 150)),
        ((300, 900), "landscape", (150, 200), (150, 200)),
        ((100, 80), "max", (200, 200), (100, 80)),
        ((2000, 3), "max", (100, 100), (100, 1)),
        ((3, 2000), "max", (100, 100), (1, 100)),
    ],
)
def test_dimensions_end_to_end(
    original: tuple[int, int], mode: Mode, box: tuple[int, int], expected: tuple[int, int]
) -> None:
    [r] = render_all(encoded(photo(*original)), [target(mode, *box)], OUT, LIMITS)
    assert (r.width, r.height) == expected
    assert decoded(r).size == expected
    assert r.content_type == "image/jpeg"


def test_upscale_only_when_the_size_asks() -> None:
    data = encoded(photo(100, 80), "PNG")
    plain, up = render_all(
        data, [target("max", 200, 200), target("max", 200, 200, upscale=True)], OUT, LIMITS
    )
    assert decoded(plain).size == (100, 80)
    assert decoded(up).size == (200, 160)


def test_fill_keeps_the_centre_and_renders_its_pixels() -> None:
    original = photo(900, 300)
    [r] = render_all(encoded(original, "PNG"), [target("fill", 150, 150)], OUT, LIMITS)
    expected = reference(original, (150, 150), (300, 0, 600, 300))
    assert mean_diff(decoded(r), expected) < 3
    assert mean_diff(decoded(r), reference(original, (150, 150), (0, 0, 300, 300))) > 10


def test_crop_box_is_applied_before_the_mode() -> None:
    original = photo(800, 600)
    crop = CropBox(80, 60, 200, 200)  # the red rectangle's corner and its surroundings
    [r] = render_all(encoded(original, "PNG"), [target("max", 60, 60, crop=crop)], OUT, LIMITS)
    assert decoded(r).size == (51, 60)
    assert mean_diff(decoded(r), reference(original, (51, 60), (80, 60, 200, 200))) < 3


@pytest.mark.parametrize(
    "crop", [CropBox(0, 0, 0, 10), CropBox(0, 0, 641, 10), CropBox(5, 5, 2, 9)]
)
def test_bad_crop_box_is_refused_before_any_render(crop: CropBox) -> None:
    renders = iter_renders(
        encoded(photo(640, 480)),
        [target("max", 100, 100), target("max", 50, 50, crop=crop)],
        OUT,
        LIMITS,
    )
    with pytest.raises(BadRequest):
        next(renders)


def test_crop_box_counts_displayed_pixels() -> None:
    """A 600x400 stored picture tagged 'rotate 90' displays as 400x600: a box reaching
    y=500 is inside it, one reaching x=500 is not."""
    data = jpeg_with_orientation(photo(400, 600), 6)
    [r] = render_all(data, [target("max", 100, 100, crop=CropBox(0, 0, 400, 500))], OUT, LIMITS)
    assert (r.width, r.height) == (80, 100)
    with pytest.raises(BadRequest):
        render_all(data, [target("max", 100, 100, crop=CropBox(0, 0, 500, 400))], OUT, LIMITS)


def test_renders_come_in_target_order_with_their_keys() -> None:
    targets = [target("fill", 50, 50), target("max", 400, 400), target("max", 120, 90)]
    targets = [RenderTarget(t.size, f"k{i}") for i, t in enumerate(targets)]
    renders = render_all(encoded(photo(1200, 900)), targets, OUT, LIMITS)
    assert [r.key for r in renders] == ["k0", "k1", "k2"]
    assert [(r.width, r.height) for r in renders] == [(50, 50), (400, 300), (120, 90)]


def jpeg_with_orientation(upright: Image.Image, orientation: int) -> bytes:
    """`upright` stored the way a camera would with `orientation` in its EXIF."""
    undo = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }
    stored = upright.transpose(undo[orientation]) if orientation in undo else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(stored, quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", [1, 6])
def test_an_awaited_render_decodes_small_for_the_first_target_and_again_for_bigger_ones(
    orientation: int,
) -> None:
    """serve's render-ahead: the thumbnail a client waits for comes from a 1/8 decode, the
    sizes after it from a second, bigger decode; every render as faithful as from one decode."""
    original = photo(2006, 1338)
    data = jpeg_with_orientation(original, orientation)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    targets = [target("fill", 60, 60, format="PNG"), target("max", 1000, 1000, format="PNG")]
    fast = list(iter_renders(data, targets, OUT, LIMITS, awaited=True))
    assert [(r.width, r.height) for r in fast] == [(60, 60), (1000, 667)]
    # The 1000px render is from a 5/8 decode at the edge of its margin, the most a step
    # loses (see the test below).
    assert mean_diff(decoded(fast[1]), reference(shown, (1000, 667))) < 1.0
    for slow, quick in zip(render_all(data, targets, OUT, LIMITS), fast, strict=True):
        assert mean_diff(decoded(slow), decoded(quick)) < 0.8


def test_first_threads_change_no_pixel() -> None:
    """A miss's awaited render may use idle cores: the renders are the same pictures."""
    data = encoded(photo(2006, 1338), quality=95)
    targets = [target("max", 1000, 1000, format="PNG"), target("max", 900, 900, format="PNG")]
    plain = list(iter_renders(data, targets, OUT, LIMITS, awaited=True))
    split = list(iter_renders(data, targets, OUT, LIMITS, awaited=True, first_threads=2))
    for one, two in zip(plain, split, strict=True):
        assert (one.width, one.height) == (two.width, two.height)
        assert ImageChops.difference(decoded(one), decoded(two)).getbbox() is None


@pytest.mark.parametrize("still", [True, False])
def test_wanted_is_asked_only_after_the_first_render_and_skips_what_it_turns_down(
    still: bool,
) -> None:
    """serve's render-ahead asks the store which sizes it lacks: never before the client's
    render is out, and a size it holds is not rendered again (still and animated)."""
    if still:
        data = encoded(photo(400, 300))
    else:
        frames = [photo(400, 300).convert("P"), photo(400, 300).rotate(90).convert("P")]
        data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    targets = [target("fill", 60, 60), target("max", 200, 200), target("max", 100, 100)]
    asked: list[str] = []

    def wanted(t: RenderTarget) -> bool:
        asked.append(t.key)
        return t.key != "200x200/a"

    renders = iter_renders(data, targets, OUT, LIMITS, awaited=True, wanted=wanted)
    first = next(renders)
    assert (first.width, first.height) == (60, 60)
    assert asked == []
    rest = list(renders)
    assert sorted(asked) == ["100x100/a", "200x200/a"]
    assert [(r.width, r.height) for r in rest] == [(100, 75)]


def test_an_animations_first_render_waits_for_no_other_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """serve's miss of an animated original: the client's render is resampled and out before
    any other size's frame is touched, and a size the store already holds is not resampled
    at all (not only spared its encoding)."""
    frames = [photo(300, 200).rotate(angle).convert("P") for angle in (0, 90, 180, 270)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    targets = [target("max", 120, 120), target("max", 200, 200), target("max", 60, 60)]
    sizes: list[tuple[int, int]] = []
    real = resample_module.resample

    def spy(im: Image.Image, box: Any, size: tuple[int, int], threads: int = 1) -> Image.Image:
        sizes.append(size)
        return real(im, box, size, threads)

    monkeypatch.setattr(render_module, "resample", spy)
    renders = iter_renders(
        data, targets, OUT, LIMITS, awaited=True, wanted=lambda t: t.key != "200x200/a"
    )
    first = next(renders)
    assert (first.width, first.height) == (120, 80)
    assert sizes == [(120, 80)] * 4  # every frame, for the first target only
    rest = list(renders)
    assert [(r.width, r.height) for r in rest] == [(60, 40)]
    assert sizes[4:] == [(60, 40)] * 4  # the held size was never resampled
    with Image.open(io.BytesIO(rest[0].data)) as im:
        assert getattr(im, "n_frames", 1) == 4


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_big_jpeg_is_upright_and_faithful_after_shrink_on_load(orientation: int) -> None:
    """Sizes that are not multiples of 8 leave a partial pixel after a DCT-scaled decode, on
    the side a rotation moves to the top or left; the render must not shift by it."""
    original = photo(2006, 1338)
    data = jpeg_with_orientation(original, orientation)
    [r] = render_all(data, [target("max", 240, 240, format="PNG")], OUT, LIMITS)
    got = decoded(r)
    assert got.size == (240, 160)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    # A render shifted by the partial pixel would be above this.
    assert mean_diff(got, reference(shown, (240, 160))) < 0.8
    assert "exif" not in got.info or got.getexif().get(0x0112) is None


@pytest.mark.parametrize("orientation", [1, 6])
@pytest.mark.parametrize(("longest", "eighths"), [(376, 3), (783, 5), (940, 6)])
def test_a_decode_at_an_eighth_pillow_lacks_is_upright_and_faithful(
    orientation: int, longest: int, eighths: int
) -> None:
    """Sizes between Pillow's steps decode at 3/8, 5/8 or 6/8 (376px of a 2006px photo: 1/4 leaves
    LANCZOS too little margin, 3/8 = 753px enough; 783px: 1/2 too little, 5/8 enough). The
    partial pixel (752.25 of 753) must not shift the render either."""
    original = photo(2006, 1338)
    data = jpeg_with_orientation(original, orientation)
    assert eighths_for(longest / 2006) == eighths
    with Image.open(io.BytesIO(data)) as im:
        stored = im.size  # sideways for orientation 6
        pixels, region = decode_scaled(im, data, longest / 2006)
    assert region == (0, 0, stored[0] * eighths / 8, stored[1] * eighths / 8)
    assert pixels.size == (-(-stored[0] * eighths // 8), -(-stored[1] * eighths // 8))
    size = (longest, round(longest * 1338 / 2006))
    [r] = render_all(data, [target("max", longest, longest, format="PNG")], OUT, LIMITS)
    got = decoded(r)
    assert got.size == size
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    # Each size is at the edge of its step's margin, the most a step ever loses.
    assert mean_diff(got, reference(shown, size)) < 1.0


def test_simplejpeg_decodes_the_pixels_pillow_does() -> None:
    """simplejpeg decodes with the libjpeg-turbo Pillow uses: at 1/2, a step both reach, the
    two give the same pixels (the same IDCT and upsampling)."""
    data = encoded(photo(2006, 1338), quality=90)
    ours = jpeg_eighths.decode(data, "RGB", 2006, 1338, 4)
    assert ours is not None
    with Image.open(io.BytesIO(data)) as im:
        im.draft(None, (1003, 669))
        im.load()
        assert ours.size == im.size == (1003, 669)
        worst = max(high for _, high in ImageChops.difference(ours, im).getextrema())  # type: ignore[misc]
    assert worst <= 1


def test_a_grey_jpeg_decodes_at_an_eighth_as_grey() -> None:
    data = encoded(photo(2006, 1338).convert("L"), quality=90)
    [r] = render_all(data, [target("max", 700, 700, format="PNG")], OUT, LIMITS)  # 5/8
    got = decoded(r)
    assert (got.mode, got.size) == ("L", (700, 467))
    shown = Image.open(io.BytesIO(data))
    assert mean_diff(got, reference(shown, (700, 467))) < 0.8


def with_extraneous_bytes(data: bytes) -> bytes:
    """`data` with junk before its start-of-scan marker: libjpeg warns ("Corrupt JPEG data:
    extraneous bytes before marker") and decodes every pixel."""
    scan = data.index(b"\xff\xda")
    return data[:scan] + b"junk" + data[scan:]


@pytest.mark.parametrize("longest", [700, 300, 480])  # 5/8 and 3/8 (simplejpeg), 1/2 (Pillow)
def test_a_jpeg_libjpeg_warns_about_renders_at_any_step(longest: int) -> None:
    """simplejpeg refuses what libjpeg only warns about; Pillow renders it, as it always
    has (browsers show such files), so the decode falls back to Pillow at its next step up
    (in full, at 1/2), not to a 422."""
    data = with_extraneous_bytes(encoded(photo(2006, 1338), quality=90))
    with pytest.raises(ValueError, match="extraneous"):
        simplejpeg.decode_jpeg(data, "RGB", min_width=1254, min_height=837)
    [r] = render_all(data, [target("max", longest, longest, format="PNG")], OUT, LIMITS)
    size = (longest, round(longest * 1338 / 2006))
    assert decoded(r).size == size
    assert mean_diff(decoded(r), reference(Image.open(io.BytesIO(data)), size)) < 1.0


def test_a_truncated_jpeg_is_refused_at_an_eighth_pillow_lacks() -> None:
    """simplejpeg turns it down, and Pillow then refuses it with its own reason."""
    cut = encoded(photo(2006, 1338), quality=90)[:-5000]
    assert jpeg_eighths.decode(cut, "RGB", 2006, 1338, 5) is None
    with pytest.raises(Undecodable, match="truncated"):
        render_all(cut, [target("max", 700, 700, format="PNG")], OUT, LIMITS)  # 5/8


def test_a_cmyk_jpeg_between_pillows_steps_decodes_with_pillow() -> None:
    """CMYK is left to Pillow (Adobe's inverted samples): at the next step up, the full size."""
    cmyk = photo(2006, 1338).convert("CMYK")
    data = encoded(cmyk, quality=95)
    with Image.open(io.BytesIO(data)) as im:
        pixels, region = decode_scaled(im, data, 900 / 2006)  # 6/8
        assert pixels is im
        assert (pixels.size, region) == ((2006, 1338), (0, 0, 2006, 1338))
    [r] = render_all(data, [target("max", 900, 900, format="PNG")], OUT, LIMITS)
    shown = Image.open(io.BytesIO(data)).convert("RGB")
    assert mean_diff(decoded(r), reference(shown, (900, 600))) < 0.8


def test_render_ahead_decodes_again_only_for_pixels_the_first_decode_lacked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A miss decodes for its own size first; render-ahead decodes again only when a later
    size needs more pixels than that decode gave. A CMYK JPEG asked for at 5/8 is decoded
    in full by Pillow (simplejpeg leaves CMYK alone), which already covers a 6/8 size."""
    calls: list[float] = []
    real = decode_scaled

    def spy(im: Image.Image, data: bytes, scale: float) -> Any:
        calls.append(scale)
        return real(im, data, scale)

    monkeypatch.setattr(render_module, "decode_scaled", spy)
    cmyk = encoded(photo(2006, 1338).convert("CMYK"), quality=95)
    first, later = target("max", 700, 700), target("max", 900, 900)  # 5/8, then 6/8
    renders = list(iter_renders(cmyk, [first, later], OUT, LIMITS, awaited=True))
    assert [(r.width, r.height) for r in renders] == [(700, 467), (900, 600)]
    assert len(calls) == 1
    calls.clear()
    rgb = encoded(photo(2006, 1338), quality=95)  # decoded at 5/8, so 6/8 needs another
    list(iter_renders(rgb, [first, later], OUT, LIMITS, awaited=True))
    assert len(calls) == 2
    calls.clear()
    # A progressive JPEG is decoded once, for every target: a small decode of it would save
    # the client little, and the second would cost nearly a whole decode.
    progressive = encoded(photo(2006, 1338), quality=95, progressive=True)
    renders = list(iter_renders(progressive, [first, later], OUT, LIMITS, awaited=True))
    assert [(r.width, r.height) for r in renders] == [(700, 467), (900, 600)]
    assert calls == [900 / 2006]


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fit", [700, 480])  # decoded at 5/8 (simplejpeg), at 1/2 (Pillow)
def test_crops_fills_and_cascades_land_on_the_displayed_picture(orientation: int, fit: int) -> None:
    """Every kind of box, in displayed coordinates, on a photo stored turned: a crop box, an
    off-square fill, a fit decoded DCT-scaled and a thumbnail cascaded from it. Each must
    show the same pixels as resampling the upright picture, whatever turn the camera stored."""
    original = photo(2006, 1338)
    data = jpeg_with_orientation(original, orientation)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    crop = CropBox(150, 100, 1350, 1000)
    targets = [
        target("max", fit, fit, format="PNG"),
        target("fill", 120, 40, format="PNG"),
        target("max", 300, 300, format="PNG", crop=crop),
    ]
    # The DCT-scaled decode loses a little more than the others (which resample the full
    # decode or the render before them), in every orientation.
    bounds = [1.2, 0.6, 0.6]
    renders = render_all(data, targets, OUT, LIMITS)
    for r, t, bound in zip(renders, targets, bounds, strict=True):
        region = (crop.x1, crop.y1, crop.x2, crop.y2) if t.crop else (0, 0, *shown.size)
        p = plan(t.size, region[2] - region[0], region[3] - region[1])
        box = (
            region[0] + p.box[0],
            region[1] + p.box[1],
            region[0] + p.box[2],
            region[1] + p.box[3],
        )
        got = decoded(r)
        assert got.size == (p.width, p.height)
        assert mean_diff(got, reference(shown, got.size, box)) < bound


@pytest.mark.parametrize("orientation", [5, 6, 8])
def test_a_turned_miss_split_across_threads_shows_the_upright_picture(orientation: int) -> None:
    """A miss's render is resampled in bands of the stored pixels, then turned: each band
    must come from the right rows of the stored picture."""
    data = jpeg_with_orientation(photo(2006, 1338), orientation)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    first = [target("max", 1600, 1600, format="PNG")]  # a full decode
    [r] = iter_renders(data, first, OUT, LIMITS, awaited=True, first_threads=2)
    got = decoded(r)
    assert got.size == (1600, 1067)
    # A band from the wrong rows would be far above this; one pass may differ a little from
    # bands only by rounding (Pillow's two passes in the other order).
    assert mean_diff(got, reference(shown, (1600, 1067))) < 0.5


def test_eighths_for_keeps_lanczos_its_margin_at_each_step() -> None:
    assert eighths_for(1 / 24) == 1  # 3x left after 1/8
    assert eighths_for(0.05) == 2
    assert eighths_for(0.125) == 2  # 2x after 1/4
    assert eighths_for(0.126) == 3
    assert eighths_for(0.1875) == 3  # 2x after 3/8
    assert eighths_for(0.19) == 4
    assert eighths_for(0.25) == 4  # 2x after 1/2
    assert eighths_for(0.26) == 5
    assert eighths_for(0.39) == 5  # 1.6x after 5/8 and 6/8
    assert eighths_for(0.4) == 6
    assert eighths_for(0.47) == 8  # no 7/8: it costs more than it saves
    assert eighths_for(1.0) == 8


def test_alpha_kept_in_png_and_flattened_on_the_canvas_in_jpeg() -> None:
    im = Image.new("RGBA", (100, 100), (0, 0, 255, 255))
    im.paste((0, 0, 0, 0), (0, 0, 50, 100))
    data = encoded(im, "PNG")
    out = OutputConfig(canvas="#0f0")
    png, jpeg = render_all(
        data, [target("max", 50, 50), target("max", 50, 50, format="JPEG")], out, LIMITS
    )
    assert png.content_type == "image/png"
    assert decoded(png).mode == "RGBA"
    assert decoded(png).getpixel((5, 25)) == (0, 0, 0, 0)
    assert jpeg.content_type == "image/jpeg"
    r, g, b = decoded(jpeg).convert("RGB").getpixel((5, 25))  # type: ignore[misc]
    assert g > 240
    assert r < 15
    assert b < 15
    r, g, b = decoded(jpeg).convert("RGB").getpixel((45, 25))  # type: ignore[misc]
    assert b > 240
    assert g < 15


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("WEBP", "image/webp"),
        ("AVIF", "image/avif"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("JPEG", "image/jpeg"),
    ],
)
def test_format_variants(fmt: str, content_type: str) -> None:
    original = photo(400, 300)
    [r] = render_all(encoded(original), [target("max", 200, 200, format=fmt)], OUT, LIMITS)
    got = decoded(r)
    assert r.content_type == content_type
    assert got.format == fmt
    assert mean_diff(got, reference(original, (200, 150))) < 12


def test_quality_and_progressive_follow_the_size() -> None:
    data = encoded(photo(800, 600))
    low = RenderTarget(SizeSpec("a", 400, 400, "max", quality=30, progressive=False), "a")
    high = RenderTarget(SizeSpec("b", 400, 400, "max", quality=95, progressive=True), "b")
    r_low, r_high = render_all(data, [low, high], OUT, LIMITS)
    assert len(r_low.data) < len(r_high.data) / 2
    assert not decoded(r_low).info.get("progressive")
    assert decoded(r_high).info.get("progressive")


def test_thumbnails_are_baseline_jpeg_even_when_the_size_says_progressive() -> None:
    """Under ~180x180 pixels progressive makes a JPEG bigger and slower to encode."""
    data = encoded(photo(400, 300))
    thumb = RenderTarget(SizeSpec("t", 120, 120, "fill", progressive=True), "t")
    [r] = render_all(data, [thumb], OUT, LIMITS)
    assert not decoded(r).info.get("progressive")


def _zlib_level_class(png: bytes) -> int:
    """FLEVEL of the first IDAT's zlib header: 0 for the run-length strategy, 1 for levels
    2-5, 2 for level 6."""
    at = png.index(b"IDAT") + 4
    return png[at + 1] >> 6


def noisy_photo(width: int, height: int) -> Image.Image:
    """Grain at every pixel, as a photograph's PNG copy has (over a byte a pixel)."""
    grain = [Image.effect_noise((width, height), 40 + 10 * k) for k in range(3)]
    return Image.blend(photo(width, height), Image.merge("RGB", grain), 0.5)


def test_big_png_renders_trade_a_little_size_for_a_fast_zlib_level() -> None:
    """Level 6 zlib is the costliest step of warming a PNG; thumbnails keep it. A graphic
    (a few tenths of a byte a pixel) gets level 4, a photograph the run-length strategy."""
    graphic = encoded(photo(900, 600), "PNG")
    assert len(graphic) < 0.4 * 900 * 600
    big = RenderTarget(SizeSpec("b", 600, 600, "max"), "b")  # 600x400: 240,000 px
    small = RenderTarget(SizeSpec("s", 200, 200, "max"), "s")  # 200x133
    r_big, r_small = render_all(graphic, [big, small], OUT, LIMITS)
    assert decoded(r_big).format == decoded(r_small).format == "PNG"
    assert _zlib_level_class(r_big.data) == 1
    assert _zlib_level_class(r_small.data) == 2

    grainy = encoded(noisy_photo(900, 600), "PNG")
    assert len(grainy) > 0.4 * 900 * 600
    r_big, r_small = render_all(grainy, [big, small], OUT, LIMITS)
    assert decoded(r_big).size == (600, 400)
    assert _zlib_level_class(r_big.data) == 0
    assert _zlib_level_class(r_small.data) == 2


def test_png_renders_of_a_jpeg_use_the_photo_strategy() -> None:
    """A JPEG is a photograph however well it compressed."""
    data = encoded(photo(900, 600), "JPEG")
    png = RenderTarget(SizeSpec("b", 600, 600, "max"), "b", format="PNG")
    (r,) = render_all(data, [png], OUT, LIMITS)
    assert decoded(r).format == "PNG"
    assert _zlib_level_class(r.data) == 0


def test_metadata_stripped_unless_kept() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhizerCam"  # Make
    exif[0x0112] = 6
    data = encoded(photo(300, 200), exif=exif.tobytes(), icc_profile=b"")
    (stripped,) = render_all(data, [target("max", 100, 100)], OUT, LIMITS)
    assert not decoded(stripped).getexif()
    (kept,) = render_all(data, [target("max", 100, 100)], OutputConfig(keep_metadata=True), LIMITS)
    got = decoded(kept)
    assert got.getexif().get(0x010F) == "PhizerCam"
    assert got.getexif().get(0x0112) is None
    assert got.info.get("icc_profile")
    assert got.size == (67, 100)  # upright


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    im = Image.new("I;16", (40, 40), 32768)
    [r] = render_all(encoded(im, "PNG"), [target("max", 20, 20)], OUT, LIMITS)
    value = decoded(r).convert("L").getpixel((10, 10))
    assert isinstance(value, int)
    assert 120 <= value <= 136


def test_sixteen_bit_grey_keeps_its_transparent_level() -> None:
    # A tRNS key names one 16-bit level; 300 and 400 scale to the same 8-bit grey, so the key
    # must be matched before scaling or both halves turn transparent (or neither does).
    im = Image.new("I;16", (40, 40), 400)
    im.paste(Image.new("I;16", (20, 40), 300))
    png = encoded(im, "PNG", transparency=300)
    [r] = render_all(png, [target("max", 20, 20, format="PNG")], OUT, LIMITS)
    got = decoded(r)
    assert got.mode == "RGBA"
    assert got.getchannel("A").getpixel((2, 10)) == 0
    assert got.getpixel((17, 10)) in ((1, 1, 1, 255), (2, 2, 2, 255))  # 400 / 257: near black


def keyed_png(bits: int, key: tuple[int, ...], other: tuple[int, ...]) -> bytes:
    """A 40x20 grey (one sample) or RGB (three) PNG of `bits` per sample with a tRNS colour
    key, written by hand (Pillow writes none of these): left half the key, right half
    `other`."""

    samples = [key] * 20 + [other] * 20
    bitstring = "".join(format(level, f"0{bits}b") for pixel in samples for level in pixel)
    bitstring += "0" * (-len(bitstring) % 8)
    row = b"\x00" + int(bitstring, 2).to_bytes(len(bitstring) // 8, "big")
    colour_type = 0 if len(key) == 1 else 2
    header = struct.pack(">IIBBBBB", 40, 20, bits, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tRNS", struct.pack(f">{len(key)}H", *key))
        + chunk(b"IDAT", zlib.compress(row * 20))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("bits", "key", "other"),
    [
        (1, (0,), (1,)),
        (2, (1,), (3,)),
        (4, (5,), (15,)),
        (16, (0x1234, 0x5678, 0x9ABC), (0xFFFF, 0, 0)),
    ],
)
def test_a_colour_key_at_any_bit_depth_is_transparent(
    bits: int, key: tuple[int, ...], other: tuple[int, ...]
) -> None:
    # Pillow rescales these samples to 8 bits as it decodes them, but not the key.
    png = keyed_png(bits, key, other)
    [r] = render_all(png, [target("max", 40, 20, format="PNG")], OUT, LIMITS)
    got = decoded(r)
    assert got.mode == "RGBA"
    assert got.getchannel("A").getpixel((5, 10)) == 0
    assert got.getchannel("A").getpixel((35, 10)) == 255


def grey_profile(gamma: float) -> bytes:
    """A minimal ICC v2 grey display profile (white point and a gamma curve), written by hand:
    Pillow can only make RGB and Lab ones."""

    def fixed(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    d50 = fixed(0.9642) + fixed(1.0) + fixed(0.8249)
    tags = [
        (b"wtpt", b"XYZ \0\0\0\0" + d50),
        (b"kTRC", b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"),
    ]
    at = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for name, data in tags:
        table += name + struct.pack(">II", at + len(body), len(data))
        body += data
    size = 128 + len(table) + len(body)
    header = struct.pack(">I4sI", size, b"", 0x02100000) + b"mntrGRAYXYZ " + bytes(12)
    header += b"acsp" + bytes(28) + d50 + bytes(48)
    return header + table + body


def test_a_grey_profile_is_applied() -> None:
    # Linear grey 128 is sRGB 188: a browser shows the tagged file that light.
    flat = Image.new("L", (40, 20), 128)
    tagged = encoded(flat, "PNG", icc_profile=grey_profile(1.0))
    [r] = render_all(tagged, [target("max", 40, 20, format="PNG")], OUT, LIMITS)
    got = decoded(r)
    assert got.mode == "L"
    assert 186 <= cast(int, got.getpixel((10, 10))) <= 190
    [plain] = render_all(encoded(flat, "PNG"), [target("max", 40, 20, format="PNG")], OUT, LIMITS)
    assert decoded(plain).getpixel((10, 10)) == 128


@pytest.mark.parametrize("keyed", [False, True])
def test_a_grey_profile_is_applied_to_sixteen_bit_grey(keyed: bool) -> None:
    """16-bit grey PNGs (scanners, medical and astronomy exports) are scaled to 8 bits and
    then converted like 8-bit grey; a tRNS colour key still marks its level transparent."""
    flat = Image.new("I;16", (40, 20), 128 * 257)
    flat.paste(Image.new("I;16", (20, 20), 1000))
    extra: dict[str, Any] = {"transparency": 1000} if keyed else {}
    tagged = encoded(flat, "PNG", icc_profile=grey_profile(1.0), **extra)
    [r] = render_all(tagged, [target("max", 40, 20, format="PNG")], OUT, LIMITS)
    got = decoded(r).convert("RGBA")
    assert got.getpixel((35, 10)) == pytest.approx((188, 188, 188, 255), abs=2)
    assert got.getchannel("A").getpixel((5, 10)) == (0 if keyed else 255)


def test_a_grey_profile_keeps_the_alpha_band() -> None:
    half = Image.merge("LA", (Image.new("L", (40, 20), 128), Image.new("L", (40, 20), 255)))
    half.paste((128, 0), (0, 0, 20, 20))
    tagged = encoded(half, "PNG", icc_profile=grey_profile(1.0))
    [r] = render_all(tagged, [target("max", 40, 20, format="PNG")], OUT, LIMITS)
    got = decoded(r).convert("RGBA")
    assert got.getchannel("A").getpixel((5, 10)) == 0
    assert got.getpixel((35, 10)) == pytest.approx((188, 188, 188, 255), abs=2)


def test_probe_reports_the_displayed_size() -> None:
    stored_sideways = jpeg_with_orientation(photo(60, 40), 6)
    assert Image.open(io.BytesIO(stored_sideways)).size == (40, 60)
    assert probe(stored_sideways, LIMITS) == ("JPEG", 60, 40)
    assert probe(encoded(photo(60, 40), "PNG"), LIMITS) == ("PNG", 60, 40)


def test_pixel_cap_comes_from_the_limits() -> None:
    data = encoded(photo(200, 100), "PNG")
    with pytest.raises(TooLarge) as info:
        render_all(data, [target("max", 50, 50)], OUT, LimitsConfig(max_pixels=19_999))
    assert info.value.status == 413
    assert render_all(data, [target("max", 50, 50)], OUT, LimitsConfig(max_pixels=20_000))


def animated_gif(frames: int) -> bytes:
    images = [Image.new("RGB", (60, 40), (i * 20 % 256, 100, 200)) for i in range(frames)]
    return encoded(images[0], "GIF", save_all=True, append_images=images[1:], duration=70, loop=0)


def test_frame_cap_comes_from_the_limits() -> None:
    with pytest.raises(TooLarge):
        render_all(animated_gif(5), [target("max", 30, 30)], OUT, LimitsConfig(max_frames=4))
    [r] = render_all(animated_gif(5), [target("max", 30, 30)], OUT, LimitsConfig(max_frames=5))
    got = decoded(r)
    assert getattr(got, "n_frames", 1) == 5
    assert got.info.get("duration") == 70


def moving(fmt: str, frames: int = 3, loop: int | None = 2) -> bytes:
    """An animation of `frames` frames, each its own colour and duration, with transparency
    in the last (an animation format must keep both)."""
    colours = [(230, 20, 20, 255), (20, 230, 20, 255), (20, 20, 230, 128), (200, 200, 20, 255)]
    images = [Image.new("RGBA", (60, 40), colours[i % 4]) for i in range(frames)]
    extra: dict[str, Any] = {"loop": loop} if loop is not None else {}
    durations = [100 * (i + 1) for i in range(frames)]
    return encoded(
        images[0], fmt, save_all=True, append_images=images[1:], duration=durations, **extra
    )


def timing(im: Image.Image) -> tuple[int, list[int], list[tuple[int, ...]]]:
    """(frames, each frame's duration, each frame's middle pixel), as a browser would play."""
    durations, pixels = [], []
    for index in range(getattr(im, "n_frames", 1)):
        im.seek(index)
        im.load()
        durations.append(int(im.info.get("duration", 0)))
        pixel = im.convert("RGBA").getpixel((im.width // 2, im.height // 2))
        assert isinstance(pixel, tuple)
        pixels.append(pixel)
    return len(durations), durations, pixels


@pytest.mark.parametrize("fmt", ["PNG", "AVIF", "WEBP", "GIF"])
def test_every_animation_format_keeps_its_frames_and_timing(fmt: str) -> None:
    """An APNG, an animated AVIF, WebP and GIF render as animations of the same frames, in
    the same order, for the same time each; the frame cap bounds them as it does a GIF."""
    data = moving(fmt)
    [r] = render_all(data, [target("max", 30, 30)], OUT, LIMITS)
    got = decoded(r)
    assert got.format == fmt
    assert got.size == (30, 20)
    frames, durations, pixels = timing(got)
    assert (frames, durations) == (3, [100, 200, 300])
    colours = [(230, 20, 20), (20, 230, 20), (20, 20, 230)]
    for pixel, colour in zip(pixels, colours, strict=True):
        assert max(abs(a - b) for a, b in zip(pixel[:3], colour, strict=True)) < 40
    if fmt != "GIF":  # GIF has one transparent index, not partial alpha
        assert 100 < pixels[2][3] < 160  # the last frame's alpha, kept
    with pytest.raises(TooLarge):
        render_all(data, [target("max", 30, 30)], OUT, LimitsConfig(max_frames=2))


def test_an_animation_that_plays_once_plays_once_in_every_format() -> None:
    """A GIF without a loop count plays once; WebP, APNG and AVIF would loop forever unless
    told, so its renders in those formats say once."""
    data = moving("GIF", loop=None)
    assert "loop" not in Image.open(io.BytesIO(data)).info
    for fmt in ("WEBP", "PNG"):
        [r] = render_all(data, [target("max", 30, 30, format=fmt)], OUT, LIMITS)
        assert decoded(r).info.get("loop") == 1, fmt


def test_animation_to_jpeg_is_its_first_frame() -> None:
    [r] = render_all(animated_gif(3), [target("max", 30, 30, format="JPEG")], OUT, LIMITS)
    assert decoded(r).size == (30, 20)
    assert decoded(r).convert("RGB").getpixel((15, 10))[0] < 10  # type: ignore[index]


@pytest.mark.parametrize(
    "data",
    [
        encoded(photo(300, 200), "PNG")[:2000],  # truncated
        encoded(photo(300, 200))[:1500],
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"",
        b"hello, world",
    ],
    ids=["truncated-png", "truncated-jpeg", "bad-png", "empty", "text"],
)
def test_undecodable_input_is_422(data: bytes) -> None:
    with pytest.raises(Undecodable) as info:
        render_all(data, [target("max", 50, 50)], OUT, LIMITS)
    assert info.value.status == 422


def test_mpo_renders_its_first_picture_as_jpeg() -> None:
    left, right = photo(320, 240), Image.new("RGB", (320, 240), (0, 0, 255))
    data = encoded(left, "MPO", save_all=True, append_images=[right], quality=95)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    r, png = render_all(
        data, [target("max", 160, 160), target("max", 160, 160, format="PNG")], OUT, LIMITS
    )
    assert r.content_type == "image/jpeg"
    assert decoded(r).format == "JPEG"
    first = Image.open(io.BytesIO(data))  # frame 0, as the MPO stores it
    # Decoded at 5/8 (simplejpeg, which stops at the first picture's end). On this picture's
    # 1-pixel lines that loses as much as 1/2 does at the edge of its margin, hence the bound;
    # the MPO's second picture (all blue) is far off.
    assert mean_diff(decoded(png), reference(first, (160, 120))) < 6
    assert mean_diff(decoded(png), reference(right, (160, 120))) > 50


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"II*\x00" + b"\x00" * 60, "TIFF"),
        (b"BM" + b"\x00" * 60, "BMP"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "EPS"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    ],
)
def test_other_image_formats_are_415_by_content(data: bytes, kind: str) -> None:
    with pytest.raises(UnsupportedFormat, match=kind) as info:
        render_all(data, [target("max", 50, 50)], OUT, LIMITS)
    assert info.value.status == 415


def with_sample_bits(jpeg: bytes, bits: int) -> bytes:
    """`jpeg` with its baseline frame header declaring `bits` per sample."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 4] + bytes([bits]) + jpeg[sof + 5 :]


@pytest.mark.parametrize("bits", [12, 16])
def test_a_jpeg_of_more_than_8_bits_is_415_and_says_so(bits: int) -> None:
    data = with_sample_bits(encoded(photo(64, 48), "JPEG"), bits)
    with pytest.raises(UnsupportedFormat, match=f"{bits}-bit JPEG images are not accepted"):
        render_all(data, [target("max", 50, 50)], OUT, LIMITS)


def test_a_damaged_8_bit_jpeg_stays_422() -> None:
    data = encoded(photo(64, 48), "JPEG")
    sof = data.index(b"\xff\xc0")
    with pytest.raises(Undecodable):  # its frame header cut short: unreadable, not unsupported
        render_all(data[: sof + 6], [target("max", 50, 50)], OUT, LIMITS)


@pytest.mark.slow
def test_preloading_simplejpeg_starts_no_blas_threads() -> None:
    """simplejpeg brings numpy, whose OpenBLAS starts a spinning thread per core unless told
    otherwise; a render worker preloads it at start-up and must stay one thread."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    script = (
        "from phizer.engine import jpeg_eighths\n"
        "jpeg_eighths.preload()\n"
        "import pathlib\n"
        "for line in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
        "    if line.startswith('Threads:'):\n"
        "        print(line.split()[1])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
