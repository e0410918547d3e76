"""`phizer manifest`, `warm --manifest` and `GET /info` on a folder: every render in the
store listed with its true size (checked by opening it) for every mode and EXIF
orientation, placeholders that decode to the photo's shape, and no original read."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
import thumbhash as reference
from PIL import Image
from support.lifecycle import cli, store_crop
from support.serve import serve
from support.warm import warm_config

from phizer.base.urls import signature

SIZES = """
[sizes.square]
width = 40
height = 40
mode = "fill"

[sizes.box]
width = 90
height = 90
mode = "max"

[sizes.tall]
width = 50
height = 80
mode = "portrait"

[sizes.wide]
width = 80
height = 50
mode = "landscape"

[sizes.big]
width = 300
height = 300
mode = "max"
upscale = true
"""
# name: (stored size, EXIF orientation, displayed size)
ORIGINALS = {
    "a/upright.jpg": ((160, 120), 1, (160, 120)),
    "a/turned.jpg": ((160, 120), 6, (120, 160)),
    "b/other-way.jpg": ((150, 90), 8, (90, 150)),
    "b/small.png": ((70, 30), 1, (70, 30)),
    "c/tall.jpg": ((40, 200), 1, (40, 200)),
}


def make(root: Path) -> None:
    for path, (size, orientation, _) in ORIGINALS.items():
        image = Image.linear_gradient("L").resize(size).convert("RGB")
        image.paste((200, 30, 30), (0, 0, size[0] // 3, size[1] // 4))
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(".png"):
            image.save(root / path)
            continue
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(root / path, exif=exif.tobytes())


@pytest.fixture
def site(tmp_path: Path) -> Path:
    make(tmp_path / "originals")
    config = warm_config(tmp_path, '[output]\nformats = ["webp"]\n', sizes=SIZES)
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    store_crop(config, "a/turned.jpg")  # crops are asked for by box: never listed
    return config


def manifest(config: Path, *args: str) -> list[dict[str, Any]]:
    result = cli(config, "manifest", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_every_stored_render_is_listed_with_its_true_size(site: Path) -> None:
    renders = site.parent / "renders"
    entries = manifest(site)

    assert sorted(e["path"] for e in entries) == sorted(ORIGINALS)
    listed = set()
    for item in entries:
        assert (item["width"], item["height"]) == ORIGINALS[item["path"]][2]
        hashed = list(base64.b64decode(item["placeholder"]))
        assert len(hashed) <= 30
        ratio = reference.thumb_hash_to_approximate_aspect_ratio(hashed)
        assert ratio == pytest.approx(item["width"] / item["height"], rel=0.3)
        for render in item["renders"]:
            listed.add(render["key"])
            with Image.open(renders / render["key"]) as image:
                assert image.size == (render["width"], render["height"]), render["key"]
                assert (image.format or "").lower() == render["format"]
            assert (renders / render["key"]).stat().st_size == render["bytes"]
    in_store = {
        f.relative_to(renders).as_posix()
        for f in renders.rglob("*")
        if f.is_file() and not f.relative_to(renders).as_posix().startswith(".phizer/")
    }
    crops = {k for k in in_store if k.split("/")[1][0].isdigit()}
    assert len(crops) == 1
    assert listed == in_store - crops
    assert len(listed) == len(ORIGINALS) * 5 * 2  # five sizes, own format and webp


def test_no_original_is_read_while_its_record_is_current(site: Path) -> None:
    before = manifest(site)
    # Break every original without changing its size or time: reading any would fail.
    for path in ORIGINALS:
        file = site.parent / "originals" / path
        stamp = file.stat()
        file.write_bytes(b"x" * stamp.st_size)
        os.utime(file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))

    result = cli(site, "manifest", "--jsonl")

    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == before
    assert "0 records made" in result.stderr


def test_an_original_without_a_record_is_described_once(site: Path) -> None:
    record = site.parent / "renders/.phizer/originals/a/turned.jpg.json"
    record.unlink()
    before = {e["path"]: e for e in manifest(site)}
    assert record.exists()
    assert (before["a/turned.jpg"]["width"], before["a/turned.jpg"]["height"]) == (120, 160)
    result = cli(site, "manifest")
    assert "0 records made" in result.stderr


def test_sizes_prefix_and_output_file(site: Path) -> None:
    out = site.parent / "out" / "manifest.json"
    result = cli(site, "manifest", "--prefix", "b/", "--sizes", "box,tall", "-o", str(out))
    assert result.exit_code == 0
    entries = json.loads(out.read_text())
    assert sorted(e["path"] for e in entries) == ["b/other-way.jpg", "b/small.png"]
    assert {r["size"] for e in entries for r in e["renders"]} == {"box", "tall"}
    assert not [f for f in out.parent.iterdir() if f.name.startswith(".")]  # no temp left


def test_warm_manifest_matches_phizer_manifest(tmp_path: Path) -> None:
    make(tmp_path / "originals")
    config = warm_config(tmp_path, '[output]\nformats = ["webp"]\n', sizes=SIZES)
    first = cli(config, "warm", "--workers", "1", "--manifest", str(tmp_path / "m1.json"))
    assert first.exit_code == 0, first.output
    again = cli(config, "warm", "--workers", "1", "--manifest", str(tmp_path / "m2.json"))
    assert again.exit_code == 0  # every render fresh: the manifest still covers them all
    expected = manifest(config)
    for name in ("m1.json", "m2.json"):
        assert json.loads((tmp_path / name).read_text()) == expected
    listed = cli(
        config,
        "warm",
        "--from-file",
        "-",
        "--manifest",
        str(tmp_path / "m3.json"),
        stdin="a/turned.jpg\n",
    )
    assert listed.exit_code == 0
    assert json.loads((tmp_path / "m3.json").read_text()) == [
        e for e in expected if e["path"] == "a/turned.jpg"
    ]


@pytest.mark.slow
def test_info_answers_the_manifest_entry_like_a_render(site: Path) -> None:
    entries = {e["path"]: e for e in manifest(site)}
    (site.parent / "originals/new/never-rendered.jpg").parent.mkdir()
    Image.new("RGB", (64, 48), (10, 200, 10)).save(site.parent / "originals/new/never-rendered.jpg")
    with serve(site) as server:
        response = server.get("/info/a/turned.jpg")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert "max-age=31536000" in response.headers["Cache-Control"]
        assert response.json() == entries["a/turned.jpg"]
        again = requests.get(
            server.url + "/info/a/turned.jpg",
            headers={"If-None-Match": response.headers["ETag"]},
            timeout=10,
        )
        assert again.status_code == 304

        fresh = server.get("/info/new/never-rendered.jpg")  # rendered now, record and all
        assert fresh.status_code == 200
        item = fresh.json()
        assert (item["width"], item["height"]) == (64, 48)
        assert {r["size"] for r in item["renders"]} == {"square", "box", "tall", "wide", "big"}

        assert server.get("/info/a/missing.jpg").status_code == 404
        assert server.get("/info/a/../x.jpg").status_code in (400, 404)
        assert server.get("/info/a/notes.txt").status_code == 400


@pytest.mark.slow
def test_info_honours_signing(site: Path) -> None:
    site.write_text(site.read_text() + '\n[security]\nkey = "k3y"\nsign = "all"\n')
    with serve(site) as server:
        assert server.get("/info/a/upright.jpg").status_code == 403
        good = signature("info/a/upright.jpg", "k3y")
        assert server.get(f"/{good}/info/a/upright.jpg").status_code == 200
        assert server.get(f"/{good}/info/a/turned.jpg").status_code == 403
    signed = cli(site, "sign", "/info/a/upright.jpg")
    assert signed.stdout.strip() == f"/{good}/info/a/upright.jpg"


def test_a_photo_whose_sizes_all_crop_gets_a_placeholder_of_the_whole(tmp_path: Path) -> None:
    """Every size here is a square crop; the placeholder still has the photo's shape."""
    make(tmp_path / "originals")
    sizes = '[sizes.sq]\nwidth = 40\nheight = 40\nmode = "fill"\n'
    config = warm_config(tmp_path, sizes=sizes)
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    entries = {e["path"]: e for e in manifest(config)}
    hashed = list(base64.b64decode(entries["c/tall.jpg"]["placeholder"]))
    assert reference.thumb_hash_to_approximate_aspect_ratio(hashed) < 0.5  # 40x200, not 1:1
