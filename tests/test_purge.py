"""`phizer purge` and `phizer.purge()` on a folder store: every render of an original goes
(sizes, format variants, crops, sizes no longer configured), nothing else does, and serve
never answers from a copy the purge should have retired."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.config import write_config
from support.lifecycle import cli, files, renders_of, store_crop, summary, warmed
from support.serve import decoded, dir_config, image_bytes, serve
from support.waiting import wait_until
from support.warm import warm_config

import phizer
from phizer.base.models import CropBox
from phizer.config import load_config

PATH = "d/img0002.jpg"
OTHER = "b/c/img0001.jpg"


def test_purge_deletes_every_render_of_the_original_and_nothing_else(tmp_path: Path) -> None:
    config, _ = warmed(tmp_path, extra='[sizes.old]\nwidth = 30\nheight = 30\nmode = "fill"\n')
    # A size since dropped from the config: its renders stay until purged, found by the
    # size's marker.
    text = config.read_text().replace('[sizes.old]\nwidth = 30\nheight = 30\nmode = "fill"\n', "")
    config.write_text(text)
    crops = {store_crop(config, PATH), store_crop(config, PATH, CropBox(5, 5, 50, 40), "webp")}
    other_crop = store_crop(config, OTHER)
    before = files(tmp_path / "renders")
    mine = renders_of(before, PATH)
    assert crops < mine
    assert "30x30/" + PATH in mine
    assert "48x48/" + PATH + ".webp" in mine
    assert len(mine) == 4 * 2 + 2  # 4 sizes (one dropped) x own + webp, and 2 crops

    result = cli(config, "purge", PATH, "--json")

    assert result.exit_code == 0, result.output
    report = summary(result)
    assert sorted(report["keys"]) == sorted(mine)
    assert (report["originals"], report["deleted"], report["failed"]) == (1, len(mine), 0)
    after = files(tmp_path / "renders")
    gone = set(before) - set(after)
    bookkeeping = {k for k in gone if k.startswith(".phizer/")}
    assert gone - bookkeeping == mine
    # The crop markers went with their renders, and the original's record last.
    assert len([k for k in bookkeeping if k.startswith(".phizer/crops/")]) == 2
    assert bookkeeping - {k for k in bookkeeping if k.startswith(".phizer/crops/")} == {
        f".phizer/originals/{PATH}.json"
    }
    assert all(after[k] == before[k] for k in after)  # everything else untouched
    assert other_crop in after
    assert ".phizer/sizes/30x30.json" in after
    assert not (tmp_path / "renders/.phizer/crops/d").exists()  # no empty folder left
    assert (tmp_path / "originals" / PATH).exists()  # the original is the application's


def test_dry_run_lists_and_deletes_nothing_and_a_rerun_finds_nothing(tmp_path: Path) -> None:
    config, _ = warmed(tmp_path)
    crop = store_crop(config, PATH)
    before = files(tmp_path / "renders")

    dry = cli(config, "purge", PATH, "--dry-run")
    assert dry.exit_code == 0
    assert set(dry.stdout.split()) == renders_of(before, PATH)
    assert crop in dry.stdout
    assert files(tmp_path / "renders") == before

    assert cli(config, "purge", PATH).exit_code == 0
    again = cli(config, "purge", PATH, "--json")
    assert again.exit_code == 0  # an original with no renders is not an error
    assert summary(again)["keys"] == []


def test_paths_from_a_file_and_the_exit_statuses(tmp_path: Path) -> None:
    config, _ = warmed(tmp_path)
    listed = cli(
        config, "purge", "--from-file", "-", "--json", stdin=f"# gone\n{PATH}\n\n{OTHER}\n"
    )
    assert listed.exit_code == 0
    assert summary(listed)["originals"] == 2

    assert cli(config, "purge").exit_code == 2  # nothing named: a usage error
    bad = cli(config, "purge", "../x.jpg", "--json")
    assert bad.exit_code == 1
    assert summary(bad)["failures"][0]["key"] == "../x.jpg"

    # A render that cannot be deleted (its file made immutable: even root cannot unlink
    # it) is named, and its original's record stays for the rerun.
    stuck = tmp_path / "renders" / "48x48" / "a" / "img0000.png"
    subprocess.run(["chattr", "+i", str(stuck)], check=True)
    try:
        failed = cli(config, "purge", "a/img0000.png", "--json")
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    assert (tmp_path / "renders/.phizer/originals/a/img0000.png.json").exists()
    assert failed.exit_code == 1
    report = summary(failed)
    assert [f["key"] for f in report["failures"]] == ["48x48/a/img0000.png"]
    assert "48x48/a/img0000.png" not in report["keys"]
    assert report["deleted"] == 5
    assert "cannot delete 48x48/a/img0000.png" in failed.stderr


def test_help_says_what_goes() -> None:
    from click.testing import CliRunner

    from phizer.cli.main import main

    result = CliRunner().invoke(main, ["purge", "--help"])
    assert result.exit_code == 0
    assert "crop" in result.output
    assert "--dry-run" in result.output


def test_the_python_api_is_the_same_purge(tmp_path: Path) -> None:
    config, _ = warmed(tmp_path)
    before = files(tmp_path / "renders")

    report = phizer.purge(load_config(config), [PATH])

    assert report.ok
    assert report.originals == 1
    assert set(report.keys) == renders_of(before, PATH)
    assert not renders_of(files(tmp_path / "renders"), PATH)
    assert json.loads(json.dumps(report.as_json()))["deleted"] == len(report.keys)


@pytest.mark.slow
def test_serve_after_purge_renders_again_from_the_origin_and_never_from_a_retired_copy(
    tmp_path: Path, origins: Any
) -> None:
    """An upload only a slave holds: its copy lives in serve's memory and the host's disk
    cache. Purged, the next miss fetches it again; purged once the slave lost it, 404."""
    slave = origins(files={"up/new.jpg": image_bytes(480, 360)})
    (tmp_path / "originals").mkdir()
    config = write_config(tmp_path, dir_config(tmp_path, slaves=[{"url": slave.url}]))
    renders = tmp_path / "renders"
    with serve(config, workers=1) as server:
        assert server.get("/220x220/up/new.jpg").status_code == 200
        assert server.get("/220x220/0x0/200x200/up/new.jpg").status_code == 200
        assert len(slave.seen) == 1
        # A purge while render-ahead still runs could be outrun by it (docs/lifecycle.md).
        wait_until(lambda: len(list(renders.glob("*/up/new.jpg"))) == 3)  # every size

        result = cli(config, "purge", "up/new.jpg", "--json")
        assert result.exit_code == 0, result.output
        assert "220x220/0x0/200x200/up/new.jpg" in summary(result)["keys"]
        assert not (renders / "220x220/up/new.jpg").exists()

        again = server.get("/220x220/up/new.jpg")
        assert again.status_code == 200
        assert decoded(again.content).size == (220, 220)
        assert len(slave.seen) == 2  # from the origin, not from a cached copy
        wait_until(lambda: len(list(renders.glob("*/up/new.jpg"))) == 3)  # every size

        slave.files.clear()  # the photo is deleted upstream...
        assert cli(config, "purge", "up/new.jpg").exit_code == 0  # ...and purged
        for url in (
            "/220x220/up/new.jpg",
            "/120x120/up/new.jpg",
            "/220x220/0x0/200x200/up/new.jpg",
        ):
            assert server.get(url).status_code == 404, url


def test_an_original_nested_under_another_keeps_its_crops(tmp_path: Path) -> None:
    """`d/album.jpg` and `d/album.jpg/x.jpg` are both valid originals (on S3 both can
    exist): the first one's crop-marker prefix holds the second one's markers too, and
    purging the first never touches the second's renders."""
    originals = tmp_path / "originals"
    (originals / "d/album.jpg").mkdir(parents=True)
    Image.new("RGB", (160, 120), (200, 10, 10)).save(originals / "d/album.jpg/x.jpg")
    config = warm_config(tmp_path)
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    nested = store_crop(config, "d/album.jpg/x.jpg")
    before = files(tmp_path / "renders")

    result = cli(config, "purge", "d/album.jpg", "--json")

    assert result.exit_code == 0, result.output
    assert summary(result)["keys"] == []
    assert files(tmp_path / "renders") == before
    assert nested in before
