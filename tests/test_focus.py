"""Focal points: the geometry that places a crop window around one (exhaustively), the
sources that find one (the application's metadata, MWG regions, EXIF SubjectArea, faces,
saliency), and what a user sees: cropping renders that keep the subject, a size that opts
out unchanged, the point reused from the record, and shown by `render --focus`."""

from __future__ import annotations

import base64
import io
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import thumbhash as reference
from click.testing import CliRunner
from PIL import Image
from support.config import s3_config
from support.focus import BACKGROUND, composed, hopper, jpeg, kept, mwg_xmp
from support.lifecycle import cli
from support.warm import warm_config

from phizer.base.models import CropBox, Focus, SizeSpec
from phizer.cli.main import main
from phizer.config import LimitsConfig
from phizer.engine import focus as finder
from phizer.engine.geometry import plan
from phizer.engine.render import describe

# --- geometry -----------------------------------------------------------------------


def inside(window: tuple[float, ...], width: int, height: int) -> bool:
    eps = 1e-6
    return (
        -eps <= window[0]
        and -eps <= window[1]
        and window[2] <= width + eps
        and window[3] <= height + eps
    )


SPECS = [
    SizeSpec("sq", 100, 100, "fill"),
    SizeSpec("banner", 300, 100, "fill"),
    SizeSpec("tall", 100, 300, "fill"),
    SizeSpec("up", 2000, 2000, "fill", upscale=True),
    SizeSpec("small-orig", 900, 300, "fill"),  # bigger than some originals: 1:1 pixels
    SizeSpec("p", 120, 200, "portrait"),
    SizeSpec("l", 200, 120, "landscape"),
]
ORIGINALS = [(800, 600), (600, 800), (1000, 200), (200, 1000), (640, 640), (333, 517)]
BOXES = [
    (0.0, 0.0, 0.0, 0.0),
    (1.0, 1.0, 1.0, 1.0),
    (0.9, 0.1, 0.95, 0.2),
    (0.05, 0.7, 0.3, 0.95),
    (0.4, 0.4, 0.6, 0.6),
    (0.0, 0.0, 1.0, 1.0),
    (0.1, 0.45, 0.9, 0.55),
    (0.7, 0.0, 0.72, 1.0),
]


@pytest.mark.parametrize(("spec", "original"), list(itertools.product(SPECS, ORIGINALS)))
def test_the_window_holds_the_focal_box_when_it_fits_and_centres_on_it_otherwise(
    spec: SizeSpec, original: tuple[int, int]
) -> None:
    width, height = original
    centred = plan(spec, width, height)
    for box in BOXES:
        focused = plan(spec, width, height, focus=Focus(*box, source="saliency"))
        # Same output and the same window size: only its place moves.
        assert (focused.width, focused.height) == (centred.width, centred.height)
        ww, wh = focused.box[2] - focused.box[0], focused.box[3] - focused.box[1]
        assert (ww, wh) == pytest.approx(
            (centred.box[2] - centred.box[0], centred.box[3] - centred.box[1])
        )
        assert inside(focused.box, width, height)
        target = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
        fits = target[2] - target[0] <= ww + 1e-6 and target[3] - target[1] <= wh + 1e-6
        eps = 1e-6
        if fits:
            assert focused.box[0] <= target[0] + eps
            assert target[2] <= focused.box[2] + eps
            assert focused.box[1] <= target[1] + eps
            assert target[3] <= focused.box[3] + eps
        else:  # centred on the box along an axis it does not fit, unless an edge stops it
            cx = (target[0] + target[2]) / 2
            if target[2] - target[0] > ww and 0 < focused.box[0] and focused.box[2] < width:
                assert (focused.box[0] + focused.box[2]) / 2 == pytest.approx(cx)


@pytest.mark.parametrize(("spec", "original"), list(itertools.product(SPECS, ORIGINALS)))
def test_a_subject_near_the_middle_keeps_the_centre_crop(
    spec: SizeSpec, original: tuple[int, int]
) -> None:
    width, height = original
    middle = Focus(0.48, 0.48, 0.52, 0.52, "saliency")
    assert plan(spec, width, height, focus=middle).box == pytest.approx(
        plan(spec, width, height).box
    )


def test_a_point_ends_up_well_inside_the_window() -> None:
    """A focal point near an edge: the window holds it a quarter of the window in, or as
    far as the picture allows."""
    square = SizeSpec("sq", 100, 100, "fill")
    window = plan(square, 1200, 600, focus=Focus(0.7, 0.5, 0.7, 0.5, "metadata")).box
    assert window[0] + 150 <= 840 <= window[2] - 150
    edge = plan(square, 1200, 600, focus=Focus(0.99, 0.5, 0.99, 0.5, "metadata")).box
    assert edge[2] == pytest.approx(1200)


@pytest.mark.parametrize("original", ORIGINALS)
def test_max_centre_gravity_and_crop_boxes_ignore_the_focal_point(
    original: tuple[int, int],
) -> None:
    width, height = original
    point = Focus(0.95, 0.95, 0.95, 0.95, "faces")
    for spec in SPECS:
        centre = SizeSpec(
            spec.name, spec.width, spec.height, spec.mode, spec.upscale, gravity="centre"
        )
        assert plan(centre, width, height, focus=point) == plan(centre, width, height)
        crop = CropBox(0, 0, width // 2, height // 2)
        assert plan(spec, width, height, crop, point) == plan(spec, width, height, crop)
    fit = SizeSpec("m", 300, 300, "max")
    assert plan(fit, width, height, focus=point) == plan(fit, width, height)


# --- sources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.25,0.75", (0.25, 0.75, 0.25, 0.75)),
        ("0.1,0.2,0.3,0.4", (0.1, 0.2, 0.3, 0.4)),
        (" 0.5 , 0.5 ", (0.5, 0.5, 0.5, 0.5)),
        ("1.5,0.5", None),
        ("0.4,0.4,0.2,0.5", None),
        ("left", None),
        ("", None),
    ],
)
def test_the_applications_focus_metadata(text: str, expected: tuple[float, ...] | None) -> None:
    found = finder.parse_hint(text)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.x1, found.y1, found.x2, found.y2, found.source) == (*expected, "metadata")


def test_an_mwg_region_and_a_subject_area_are_read_from_the_header() -> None:
    image = Image.new("RGB", (400, 200))
    with Image.open(io.BytesIO(jpeg(image, xmp=mwg_xmp((0.7, 0.2, 0.9, 0.6))))) as im:
        found = finder.from_file(im, 1)
    assert found is not None
    assert (found.x1, found.y1, found.x2, found.y2) == pytest.approx((0.7, 0.2, 0.9, 0.6))

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9214] = (300, 50, 40, 20)  # a rectangle: centre, width, height
    with Image.open(io.BytesIO(jpeg(image, exif=exif))) as im:
        found = finder.from_file(im, 1)
    assert found is not None
    assert (found.x1, found.y1, found.x2, found.y2) == pytest.approx((0.7, 0.2, 0.8, 0.3))
    # Stored turned (orientation 6: shown a quarter turn clockwise): the box turns too.
    exif[0x0112] = 6
    with Image.open(io.BytesIO(jpeg(image, exif=exif))) as im:
        found = finder.from_file(im, 6)
    assert found is not None
    assert (found.x1, found.y1, found.x2, found.y2) == pytest.approx((0.7, 0.7, 0.8, 0.8))


def test_saliency_finds_a_single_bright_subject_on_a_plain_background() -> None:
    photo = Image.new("RGB", (600, 300), (40, 40, 40))
    photo.paste((250, 200, 30), (60, 100, 160, 220))
    found = finder.saliency(photo)
    assert found is not None
    assert kept(
        (found.x1 * 600, found.y1 * 300, found.x2 * 600, found.y2 * 300), (80, 120, 140, 200)
    )
    assert found.x2 < 0.5  # the left part, not the whole picture
    assert finder.saliency(Image.new("RGB", (300, 200), (90, 90, 90))) is None


def test_faces_finds_a_face_off_centre(edgecases: Path) -> None:
    face = hopper(edgecases).resize((200, 200))
    photo, box = composed(face, (1000, 500), (0.8, 0.5), "plain")
    copy = photo.copy()
    copy.thumbnail((finder.ANALYSIS_SIDE, finder.ANALYSIS_SIDE))
    found = finder.faces(copy)
    assert found is not None
    assert found.source == "faces"
    found_box = (found.x1 * 1000, found.y1 * 500, found.x2 * 1000, found.y2 * 500)
    assert kept(box, tuple(round(v) for v in found_box), share=0.9)  # type: ignore[arg-type]


# --- what a user sees ---------------------------------------------------------------

SIZES = """
[sizes.square]
width = 120
height = 120
mode = "fill"

[sizes.banner]
width = 300
height = 100
mode = "fill"

[sizes.tall]
width = 90
height = 300
mode = "fill"

[sizes.side]
width = 200
height = 150
mode = "portrait"

[sizes.plain]
width = 160
height = 160
mode = "fill"
gravity = "centre"

[sizes.whole]
width = 400
height = 400
mode = "max"
"""


def far_from_background(image: Image.Image) -> int:
    """How many pixels are not the plain background."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int32)
    return int((np.abs(pixels - np.array(BACKGROUND)).sum(axis=2) > 60).sum())


def kept_share(render: Path, photo: Image.Image) -> float:
    """How much of the photo's subject (its pixels off the background) a render shows, in
    the photo's pixels: the render's count scaled back by its scale (the larger of its two
    axes' for a cropping size)."""
    with Image.open(render) as im:
        scale = max(im.width / photo.width, im.height / photo.height)
        shown = far_from_background(im) / (scale * scale)
    return shown / far_from_background(photo)


def site(tmp_path: Path, sources: str, originals: dict[str, bytes]) -> Path:
    for name, data in originals.items():
        (tmp_path / "originals" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "originals" / name).write_bytes(data)
    return warm_config(tmp_path, f"[focus]\nsources = {sources}\n", sizes=SIZES)


def test_a_face_off_centre_stays_in_every_cropping_render(tmp_path: Path, edgecases: Path) -> None:
    face = hopper(edgecases).resize((200, 200))
    photo, _ = composed(face, (1200, 600), (0.85, 0.3), "plain")
    config = site(tmp_path, '["faces"]', {"left.jpg": jpeg(photo)})
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    renders = tmp_path / "renders"
    for dims in ("120x120", "300x100", "90x300", "200x150"):
        assert kept_share(renders / dims / "left.jpg", photo) > 0.85, dims
    # The size that opts out keeps the centre, where the face is not.
    assert kept_share(renders / "160x160/left.jpg", photo) < 0.1
    record = json.loads((renders / ".phizer/originals/left.jpg.json").read_text())
    assert record["focus"]["source"] == "faces"


def test_saliency_and_metadata_move_the_crop(tmp_path: Path) -> None:
    bright = Image.new("RGB", (1200, 600), BACKGROUND)
    bright.paste((250, 210, 20), (60, 200, 220, 420))
    tagged = Image.new("RGB", (1200, 600), BACKGROUND)
    tagged.paste((20, 20, 20), (1000, 100, 1150, 300))  # what the region marks
    tagged.paste((250, 210, 20), (60, 200, 220, 420))  # and a brighter decoy
    xmp = mwg_xmp((1000 / 1200, 100 / 600, 1150 / 1200, 300 / 600))
    config = site(
        tmp_path,
        '["metadata", "saliency"]',
        {"bright.jpg": jpeg(bright), "tagged.jpg": jpeg(tagged, xmp=xmp)},
    )
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    renders = tmp_path / "renders"
    assert kept_share(renders / "120x120/bright.jpg", bright) > 0.85  # the yellow block
    # The marked (dark) block, not the brighter decoy.
    with Image.open(renders / "120x120/tagged.jpg") as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.int32)
    assert (pixels.sum(axis=2) < 150).sum() > 0.85 * (150 * 200) * 0.2**2
    assert ((pixels[..., 0] > 200) & (pixels[..., 2] < 80)).sum() == 0
    entry = {e["path"]: e for e in json.loads(cli(config, "manifest").stdout)}
    assert entry["tagged.jpg"]["focus"]["source"] == "metadata"
    assert entry["bright.jpg"]["focus"]["source"] == "saliency"


def test_the_record_spares_the_next_run_and_force_looks_again(tmp_path: Path) -> None:
    bright = Image.new("RGB", (1200, 600), BACKGROUND)
    bright.paste((250, 210, 20), (60, 200, 220, 420))
    config = site(tmp_path, '["saliency"]', {"a.jpg": jpeg(bright)})
    record = tmp_path / "renders/.phizer/originals/a.jpg.json"
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    first = json.loads(record.read_text())
    # New settings for a cropping size: it is rendered again, the focal point is not sought.
    config.write_text(
        config.read_text().replace(
            'width = 120\nheight = 120\nmode = "fill"',
            'width = 120\nheight = 120\nmode = "fill"\nquality = 70',
        )
    )
    again = cli(config, "warm", "--workers", "1", "--json")
    assert json.loads(again.stdout)["rendered"] == 1
    second = json.loads(record.read_text())
    assert second["focus"] == first["focus"]
    assert second["focus_made"] == first["focus_made"]  # no focus work
    forced = cli(config, "warm", "--workers", "1", "--force")
    assert forced.exit_code == 0
    assert json.loads(record.read_text())["focus_made"] > first["focus_made"]


def test_render_shows_the_focal_point(tmp_path: Path) -> None:
    bright = Image.new("RGB", (1200, 600), BACKGROUND)
    bright.paste((250, 210, 20), (60, 200, 220, 420))
    (tmp_path / "a.jpg").write_bytes(jpeg(bright))
    config = warm_config(tmp_path, '[focus]\nsources = ["saliency"]\n', sizes=SIZES)
    result = CliRunner().invoke(
        main,
        [
            "-c",
            str(config),
            "render",
            str(tmp_path / "a.jpg"),
            "square",
            "--focus",
            "-o",
            str(tmp_path / "o.jpg"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "from saliency" in result.stderr
    plain = warm_config(tmp_path, "", sizes=SIZES)
    result = CliRunner().invoke(
        main, ["-c", str(plain), "render", str(tmp_path / "a.jpg"), "square", "--focus", "-o", "-"]
    )
    assert "none looked for" in result.stderr


def test_describe_looks_for_no_focal_point_so_a_later_job_does() -> None:
    """The manifest describes an original no job rendered: its size and placeholder, and no
    focal point, marked as not looked for."""
    data = jpeg(Image.new("RGB", (300, 200), (10, 200, 10)))
    picture = describe(data, LimitsConfig())
    assert (picture.width, picture.height, picture.focus) == (300, 200, None)
    assert picture.focus_computed is False
    hashed = list(base64.b64decode(picture.placeholder))
    assert reference.thumb_hash_to_approximate_aspect_ratio(hashed) == pytest.approx(1.5, 0.25)


def test_a_focus_source_the_config_does_not_know_is_refused(tmp_path: Path) -> None:
    from phizer.base.errors import ConfigError
    from phizer.config import load_config

    path = tmp_path / "phizer.toml"
    path.write_text('[focus]\nsources = ["horoscope"]\n')
    with pytest.raises(ConfigError, match=r"\[focus\]"):
        load_config(path, environ={})
    path.write_text('[sizes.a]\nwidth = 10\nheight = 10\nmode = "fill"\ngravity = "north"\n')
    with pytest.raises(ConfigError, match="gravity"):
        load_config(path, environ={})


@pytest.mark.slow
def test_the_masters_focus_metadata_places_the_crop(s3_credentials: Any, tmp_path: Path) -> None:
    """S3 user metadata `focus` (x-amz-meta-focus), set by the application, wins over what
    phizer would find: here a plain photo, with the point over a dark block on the right."""
    s3 = s3_credentials
    master, store = s3.new_bucket(), s3.new_bucket()
    photo = Image.new("RGB", (1200, 600), BACKGROUND)
    photo.paste((20, 20, 20), (1000, 100, 1150, 300))
    client = s3.client()
    client.put_object(Bucket=master, Key="a.jpg", Body=jpeg(photo), Metadata={"focus": "0.9,0.33"})
    extra = f'[focus]\nsources = ["metadata", "saliency"]\n{SIZES}'
    config = s3_config(tmp_path, s3.endpoint_url, master, store, extra)
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    body = client.get_object(Bucket=store, Key="120x120/a.jpg")["Body"].read()
    with Image.open(io.BytesIO(body)) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.int32)
    assert (pixels.sum(axis=2) < 150).sum() > 0.85 * (150 * 200) * 0.2**2
    record = json.loads(
        client.get_object(Bucket=store, Key=".phizer/originals/a.jpg.json")["Body"].read()
    )
    assert record["focus"] == {"x1": 0.9, "y1": 0.33, "x2": 0.9, "y2": 0.33, "source": "metadata"}

    # The application moves the point (a copy onto itself with new metadata: the same
    # bytes, so the same ETag), and the next forced warm on this host, whose originals
    # cache holds the photo, follows it.
    time.sleep(1.1)  # a new second for the object's time
    client.copy_object(
        Bucket=master,
        Key="a.jpg",
        CopySource={"Bucket": master, "Key": "a.jpg"},
        Metadata={"focus": "0.1,0.5"},
        MetadataDirective="REPLACE",
    )
    assert cli(config, "warm", "--workers", "1", "--force").exit_code == 0
    moved = client.get_object(Bucket=store, Key=".phizer/originals/a.jpg.json")["Body"].read()
    assert json.loads(moved)["focus"]["x1"] == 0.1
