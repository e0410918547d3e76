"""The shared folder of real-world problem images, each given the outcome MANIFEST.tsv asks
for: rendered (decodable, right size, upright, sRGB, animation kept) or refused with the
phizer error and 4xx status the manifest names, never a crash or a hang."""

from __future__ import annotations

import csv
import io
import math
import re
import time
from pathlib import Path
from typing import cast

import pytest
from conftest import EDGECASES
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat
from support.edgecases import expectation

from phizer.base.errors import PhizerError
from phizer.base.models import Rendered, RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine.geometry import plan
from phizer.engine.render import iter_renders, render_all

OUT = OutputConfig()
LIMITS = LimitsConfig()
SIZES = (SizeSpec("m", 300, 300, "max"), SizeSpec("s", 120, 120, "fill"))


def manifest_rows() -> list[dict[str, str]]:
    """Read at collection time, for one test id per file. Without the folder a single
    placeholder row remains, whose `edgecases` fixture then fails loudly."""
    manifest = EDGECASES / "MANIFEST.tsv"
    if not manifest.exists():
        return [{"filename": "MANIFEST.tsv-missing", "phizer_expects": "", "resizer_should": ""}]
    with manifest.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = manifest_rows()


def targets(fmt: str | None = None) -> list[RenderTarget]:
    return [RenderTarget(s, f"{s.dimensions}/x", format=fmt) for s in SIZES]


def decoded(r: Rendered) -> Image.Image:
    im = Image.open(io.BytesIO(r.data))
    im.load()
    return im


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def allowed_statuses(row: dict[str, str]) -> set[int]:
    """The statuses the manifest's notes name for a refusal ("refuse 415", "(413/422)");
    any 4xx when they name none."""
    named = {int(s) for s in re.findall(r"\b4\d\d\b", row["resizer_should"])}
    return named or set(range(400, 500))


@pytest.mark.parametrize("row", ROWS, ids=[r["filename"] for r in ROWS])
def test_manifest_outcome(row: dict[str, str], edgecases: Path) -> None:
    data = (edgecases / row["filename"]).read_bytes()
    expects = expectation(row)
    started = time.monotonic()
    if expects == "refuse":
        with pytest.raises(PhizerError) as info:
            render_all(data, targets(), OUT, LIMITS)
        assert info.value.status in allowed_statuses(row), info.value
        assert time.monotonic() - started < 2, "refusals are decided from the header"
        return
    assert expects in ("render", "render-animated")
    renders = render_all(data, targets(), OUT, LIMITS)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    for size, r in zip(SIZES, renders, strict=True):
        p = plan(size, *shown.size)
        got = decoded(r)
        assert got.size == (p.width, p.height) == (r.width, r.height)
        assert got.getexif().get(0x0112) is None  # upright pixels, no orientation tag
        if expects == "render-animated":
            assert getattr(got, "n_frames", 1) > 1


@pytest.mark.parametrize("orientation", range(9))
def test_exif_orientations_render_the_same_upright_picture(
    orientation: int, edgecases: Path
) -> None:
    def render(n: int) -> Image.Image:
        data = (edgecases / f"Landscape_{n}.jpg").read_bytes()
        [r] = render_all(data, [RenderTarget(SIZES[0], "k", format="PNG")], OUT, LIMITS)
        return decoded(r)

    upright, got = render(1), render(orientation)
    assert got.size == upright.size == (300, 200)
    assert mean_diff(got, upright) < 2
    # The comparison can tell a wrong orientation from the right one.
    assert mean_diff(upright.transpose(Image.Transpose.ROTATE_180), upright) > 10
    assert mean_diff(upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT), upright) > 10


def test_webp_exif_orientation(edgecases: Path) -> None:
    data = (edgecases / "hopper_orientation_6.webp").read_bytes()
    [r] = render_all(data, [RenderTarget(SIZES[0], "k", format="PNG")], OUT, LIMITS)
    upright = Image.open(edgecases / "hopper.png")
    assert mean_diff(decoded(r), upright) < 8
    assert mean_diff(decoded(r).transpose(Image.Transpose.ROTATE_90), upright) > 20


def test_cmyk_colours_are_not_inverted(edgecases: Path) -> None:
    """The picture is red lettering on black; inverted CMYK shows cyan on white."""
    data = (edgecases / "pil_sample_cmyk.jpg").read_bytes()
    [r] = render_all(data, [RenderTarget(SIZES[0], "k", format="PNG")], OUT, LIMITS)
    got = decoded(r).convert("RGB")
    pixels = cast(list[tuple[int, int, int]], list(got.get_flattened_data()))
    dark = [p for p in pixels if sum(p) < 60]
    red = [p for p in pixels if p[0] > 180 and p[1] < 80 and p[2] < 80]
    assert len(dark) > len(pixels) / 2
    assert len(red) > 200


@pytest.mark.parametrize("longest", [1000, 450])  # decoded in full; at 6/8 (simplejpeg)
def test_p3_profile_is_converted_to_srgb(edgecases: Path, longest: int) -> None:
    data = (edgecases / "P3-sRGB-color-bars.jpg").read_bytes()
    size = SizeSpec("full", longest, longest, "max")
    [r] = render_all(data, [RenderTarget(size, "k", format="PNG")], OUT, LIMITS)
    original = Image.open(io.BytesIO(data))
    source = ImageCms.ImageCmsProfile(io.BytesIO(original.info["icc_profile"]))
    expected = ImageCms.profileToProfile(original, source, ImageCms.createProfile("sRGB"))
    assert expected is not None
    expected = expected.resize((longest, longest * 4 // 5), Image.Resampling.LANCZOS)
    got = decoded(r)
    assert got.size == (longest, longest * 4 // 5)
    assert mean_diff(got, expected) < 1
    assert mean_diff(original, expected) > 3  # the conversion is not a no-op on this image
    assert "icc_profile" not in got.info


def test_a_miss_converts_its_decode_on_the_threads_it_is_given(
    edgecases: Path, lcms_calls: list[tuple[int, int]]
) -> None:
    """serve's first render of a miss may use idle cores for the colour conversion too."""
    data = (edgecases / "P3-sRGB-color-bars.jpg").read_bytes()
    full = [RenderTarget(SizeSpec("full", 1000, 1000, "max"), "k")]  # decoded in full
    render_all(data, full, OUT, LIMITS)  # the profile's sRGB check, cached from here
    before = len(lcms_calls)
    [r] = iter_renders(data, full, OUT, LIMITS, awaited=True, first_threads=2)
    assert [height for _, height in lcms_calls[before:]] == [400, 400]
    assert decoded(r).size == (1000, 800)


def test_an_srgb_profile_leaves_the_pixels_as_they_are(edgecases: Path) -> None:
    """Photoshop's sRGB profile (HP's classic, the one in the PSD) moves some colours by a
    level through LittleCMS; phizer recognises it and keeps the decoded pixels, so a tagged
    photo renders exactly as the same photo untagged."""
    hp_srgb = Image.open(edgecases / "hopper.psd").info["icc_profile"]
    colours = Image.open(edgecases / "P3-sRGB-color-bars.jpg").convert("RGB")
    colours.info = {}  # the JPEG's own (P3) profile, which convert() carries over
    plain, tagged = io.BytesIO(), io.BytesIO()
    colours.save(plain, "PNG")
    colours.save(tagged, "PNG", icc_profile=hp_srgb)
    size = SizeSpec("same", 1000, 800, "max")
    [untagged_render] = render_all(plain.getvalue(), [RenderTarget(size, "k")], OUT, LIMITS)
    [tagged_render] = render_all(tagged.getvalue(), [RenderTarget(size, "k")], OUT, LIMITS)
    got = decoded(tagged_render)
    assert ImageChops.difference(got, decoded(untagged_render)).getbbox() is None
    transform = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(hp_srgb)),
        ImageCms.createProfile("sRGB"),
        "RGB",
        "RGB",
    )
    through_lcms = ImageCms.applyTransform(colours, transform)
    assert through_lcms is not None
    assert ImageChops.difference(through_lcms, colours).getbbox() is not None


def test_a_palette_images_profile_is_applied(edgecases: Path) -> None:
    p3 = Image.open(edgecases / "P3-sRGB-color-bars.jpg")
    palette = p3.convert("RGB").resize((250, 200)).quantize(256)
    out = io.BytesIO()
    palette.save(out, "PNG", icc_profile=p3.info["icc_profile"])
    size = SizeSpec("same", 250, 200, "max")
    [r] = render_all(out.getvalue(), [RenderTarget(size, "k", format="PNG")], OUT, LIMITS)
    source = ImageCms.ImageCmsProfile(io.BytesIO(p3.info["icc_profile"]))
    colours = palette.convert("RGB")
    expected = ImageCms.profileToProfile(colours, source, ImageCms.createProfile("sRGB"))
    assert expected is not None
    assert mean_diff(decoded(r), expected) < 1
    assert mean_diff(colours, expected) > 3  # the conversion is not a no-op on this image


def test_transparency_kept_in_png_and_flattened_in_jpeg(edgecases: Path) -> None:
    data = (edgecases / "transparent.png").read_bytes()
    transparent = Image.open(io.BytesIO(data)).getpixel((0, 0))
    assert transparent[3] == 0  # type: ignore[index]
    size = SizeSpec("same", 200, 150, "max")
    png, jpeg = render_all(
        data,
        [RenderTarget(size, "a"), RenderTarget(size, "b", format="JPEG")],
        OutputConfig(canvas="#ff00ff"),
        LIMITS,
    )
    assert decoded(png).mode == "RGBA"
    assert decoded(png).getpixel((0, 0))[3] == 0  # type: ignore[index]
    r, g, b = decoded(jpeg).convert("RGB").getpixel((0, 0))  # type: ignore[misc]
    assert (r > 240, g < 15, b > 240) == (True, True, True)


@pytest.mark.parametrize("name", ["p_trns_single.png", "rgb_trns.png", "gen_lossless_alpha.webp"])
def test_colour_key_transparency_becomes_alpha(name: str, edgecases: Path) -> None:
    data = (edgecases / name).read_bytes()
    [r] = render_all(data, [RenderTarget(SIZES[0], "k", format="PNG")], OUT, LIMITS)
    lowest, _ = decoded(r).convert("RGBA").getchannel("A").getextrema()
    assert isinstance(lowest, int)
    assert lowest < 128


@pytest.mark.parametrize(("name", "fmt"), [("iss634.gif", "GIF"), ("iss634.webp", "WEBP")])
def test_animation_is_kept(name: str, fmt: str, edgecases: Path) -> None:
    data = (edgecases / name).read_bytes()
    original = Image.open(io.BytesIO(data))
    [r] = render_all(data, [RenderTarget(SizeSpec("s", 120, 120, "fill"), "k")], OUT, LIMITS)
    got = decoded(r)
    assert got.format == fmt
    assert got.size == (120, 120)
    frame_count = getattr(original, "n_frames", 1)
    assert getattr(got, "n_frames", 1) == frame_count
    frames = []
    for index in (0, frame_count // 2):
        got.seek(index)
        frames.append(got.convert("RGB"))
    assert mean_diff(*frames) > 1  # the frames differ: it still moves


def test_extreme_aspect_never_reaches_zero(edgecases: Path) -> None:
    data = (edgecases / "gen_extreme_wide_10000x1.png").read_bytes()
    [r] = render_all(data, [RenderTarget(SizeSpec("w", 100, 100, "max"), "k")], OUT, LIMITS)
    assert decoded(r).size == (100, 1)


def test_sixteen_bit_rgba_keeps_its_picture(edgecases: Path) -> None:
    data = (edgecases / "RGBA_16__128x128.png").read_bytes()
    [r] = render_all(data, [RenderTarget(SizeSpec("x", 128, 128, "max"), "k")], OUT, LIMITS)
    assert mean_diff(decoded(r), Image.open(io.BytesIO(data)).convert("RGBA")) < 2


def _psnr(a: Image.Image, b: Image.Image) -> float:
    histogram = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).histogram()
    squares = sum(((i % 256) ** 2) * count for i, count in enumerate(histogram))
    mse = squares / (a.width * a.height * 3)
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("longest", [800, 1600])
def test_a_real_photos_renders_are_as_faithful_as_the_naive_pipeline(
    edgecases: Path, longest: int
) -> None:
    """The engine's shortcuts (a DCT-scaled decode, the SIMD resampler) cost at most 0.2 dB
    against the naive pipeline: a full decode, Pillow's LANCZOS, the same JPEG quality.
    Both are measured against the full decode + LANCZOS before encoding."""
    data = (edgecases / "Landscape_1.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        full = im.convert("RGB")
    size = (longest, round(longest * full.height / full.width))
    truth = full.resize(size, Image.Resampling.LANCZOS)
    naive = io.BytesIO()
    truth.save(naive, "JPEG", quality=85)
    spec = SizeSpec("m", longest, longest, "max", quality=85)
    [render] = render_all(data, [RenderTarget(spec, "m/x")], OUT, LIMITS)
    ours = decoded(render)
    assert ours.size == size
    naive_psnr = _psnr(Image.open(naive), truth)
    assert _psnr(ours, truth) >= naive_psnr - 0.2
