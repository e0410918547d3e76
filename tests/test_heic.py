"""HEIC/HEIF originals (phones' photos) through pillow-heif: rendered upright and in sRGB,
refused from the header when too big, 422 when broken, and asked for as a variant
(`a.heic.jpg`), since browsers cannot show HEIC."""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EDGECASES
from PIL import Image, ImageChops, ImageCms, ImageStat
from support.config import write_config
from support.serve import dir_config, live

from phizer.base.errors import TooLarge, Undecodable
from phizer.base.models import RenderTarget, SizeSpec
from phizer.cli import main
from phizer.config import LimitsConfig, OutputConfig, load_config
from phizer.engine.render import render_all
from phizer.pool.targets import make_targets
from phizer.serve.app import create_app

OUT = OutputConfig()
LIMITS = LimitsConfig()


def heic(im: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    im.save(out, "HEIF", quality=90, **options)
    return out.getvalue()


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    a, b = a.convert("RGB"), b.convert("RGB")
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def render(data: bytes, width: int, height: int) -> Image.Image:
    size = SizeSpec("s", width, height, "max")
    [r] = render_all(data, [RenderTarget(size, "k", format="PNG")], OUT, LIMITS)
    im = Image.open(io.BytesIO(r.data))
    im.load()
    return im


def test_a_turned_display_p3_photo_comes_out_upright_and_in_srgb() -> None:
    """A phone's portrait shot: stored sideways with orientation 6, in Display P3."""
    p3_jpeg = Image.open(EDGECASES / "P3-sRGB-color-bars.jpg")
    profile = p3_jpeg.info["icc_profile"]
    upright = p3_jpeg.convert("RGB").resize((200, 160))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown after turning the stored picture 90 degrees clockwise
    data = heic(
        upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes(), icc_profile=profile
    )

    got = render(data, 100, 100)
    assert got.size == (100, 80)  # upright: landscape, as the shot was taken
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    srgb = ImageCms.profileToProfile(upright, source, ImageCms.createProfile("sRGB"))
    assert srgb is not None
    expected = srgb.resize((100, 80), Image.Resampling.LANCZOS)
    assert mean_diff(got, expected) < 3  # upright and converted (HEIC is lossy)
    assert mean_diff(got, upright.resize((100, 80))) > mean_diff(got, expected) + 1
    assert "icc_profile" not in got.info


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_heic_whose_header_is_too_big_is_refused_before_decoding() -> None:
    """A bomb: a small file whose header claims 12000x12000 pixels, over the pixel cap."""
    data = heic(Image.linear_gradient("L").resize((64, 64)).convert("RGB"))
    at = data.index(b"ispe") + 8  # the image's stated width and height
    bomb = data[:at] + struct.pack(">II", 12_000, 12_000) + data[at + 8 :]
    started = time.monotonic()
    with pytest.raises(TooLarge) as info:
        render(bomb, 100, 100)
    assert info.value.status == 413
    assert time.monotonic() - started < 1


def test_a_truncated_heic_is_422() -> None:
    data = heic(Image.linear_gradient("L").resize((64, 64)).convert("RGB"))
    with pytest.raises(Undecodable) as info:
        render(data[: len(data) // 2], 32, 32)
    assert info.value.status == 422


def test_a_heic_originals_renders_are_jpeg_variants(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, dir_config(tmp_path)))
    keys = [t.key for t in make_targets(config, "photos/a.heic")]
    assert keys == [
        "120x120/photos/a.heic.jpg",
        "220x220/photos/a.heic.jpg",
        "400x400/photos/a.heic.jpg",
    ]
    assert all(t.format == "JPEG" for t in make_targets(config, "photos/a.heic"))
    webp = make_targets(config, "photos/a.heic", variants=(None, "webp", "jpg"))
    assert len(webp) == 6  # the default variant is the jpg one: no duplicate


def test_warm_and_serve_a_heic_original(tmp_path: Path) -> None:
    """warm stores `a.heic.jpg` renders; serve answers them, and answers the plain `.heic`
    URL with a 404 that names the form to ask for."""
    sections = dir_config(tmp_path, server={"workers": 0})
    (tmp_path / "originals" / "a.heic").write_bytes(
        heic(Image.radial_gradient("L").resize((300, 200)).convert("RGB"))
    )
    path = write_config(tmp_path, sections)
    warmed = CliRunner().invoke(main, ["-c", str(path), "warm", "--workers", "1"])
    assert warmed.exit_code == 0, warmed.output
    stored = sorted(
        p.relative_to(tmp_path / "renders").as_posix()
        for p in (tmp_path / "renders").rglob("*.jpg")
    )
    assert stored == ["120x120/a.heic.jpg", "220x220/a.heic.jpg", "400x400/a.heic.jpg"]
    with Image.open(tmp_path / "renders" / "400x400" / "a.heic.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (300, 200))

    with live(create_app(load_config(path))) as site:
        plain = site.get("/220x220/a.heic")
        assert plain.status_code == 404
        assert "/220x220/a.heic.jpg" in plain.text
        hit = site.get("/220x220/a.heic.jpg")
        assert hit.status_code == 200
        assert hit.headers["Content-Type"] == "image/jpeg"
        miss = site.get("/220x220/a.heic.webp")
        assert miss.status_code == 200
        assert miss.headers["Content-Type"] == "image/webp"
        assert Image.open(io.BytesIO(miss.content)).size == (200, 200)  # fill, no upscale
