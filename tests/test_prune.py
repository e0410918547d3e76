"""`phizer warm --prune` on a folder store: exactly the renders of deleted originals go, and
every guard holds (max-prune, an empty listing, a slave's upload, other shards, keys that are
not renders, an interrupted prune)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.lifecycle import cli, files, renders_of, store_crop, summary, warmed
from support.serve import PHIZER

from phizer.pool.jobs import in_shard

GONE = ("d/img0002.jpg", "b/c/img0004.jpg")  # in different shards of 2


def prune(config: Path, *args: str) -> Any:
    return cli(config, "warm", "--workers", "1", "--prune", "--json", *args)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Six originals warmed (plus webp), a crop of a kept and of a deleted one, two of the
    originals then deleted, and files in the store that are not renders."""
    config, _ = warmed(tmp_path)
    store_crop(config, GONE[0])
    store_crop(config, "b/c/img0001.jpg")
    for path in GONE:
        (tmp_path / "originals" / path).unlink()
    (tmp_path / "renders/48x48/d/notes.txt").write_text("a person's file")
    (tmp_path / "renders/48x48/d/img0002.jpg.bak").write_text("not a render key")
    return config


def test_prune_deletes_exactly_the_renders_of_deleted_originals(site: Path) -> None:
    renders = site.parent / "renders"
    before = files(renders)
    doomed = set().union(*(renders_of(before, p) for p in GONE))
    assert len(doomed) == 2 * 3 * 2 + 1  # 2 originals x 3 sizes x own + webp, and a crop

    result = prune(site, "--max-prune", "100%")

    assert result.exit_code == 0, result.output
    report = summary(result)
    assert sorted(report["pruned_keys"]) == sorted(doomed)
    assert report["pruned"] == len(doomed)
    after = files(renders)
    gone = set(before) - set(after)
    records = {f".phizer/originals/{p}.json" for p in GONE}
    assert gone - {k for k in gone if k.startswith(".phizer/crops/d/")} == doomed | records
    assert all(after[k] == before[k] for k in after)  # the rest untouched, markers included
    assert {"48x48/d/notes.txt", "48x48/d/img0002.jpg.bak"} <= set(after)
    assert any(k.startswith(".phizer/crops/b/") for k in after)
    assert {k for k in after if k.startswith(".phizer/sizes/")} == {
        k for k in before if k.startswith(".phizer/sizes/")
    }

    again = prune(site, "--max-prune", "0")  # nothing left to prune: within any limit
    assert again.exit_code == 0
    assert summary(again)["pruned"] == 0


@pytest.mark.parametrize("limit", ["35%", "50%", "13"])
def test_within_max_prune_every_orphan_goes(site: Path, limit: str) -> None:
    """The limit is settled once every render is counted: orphans listed before the
    total was known are all pruned, not just those that fitted a running share."""
    before = files(site.parent / "renders")
    doomed = set().union(*(renders_of(before, p) for p in GONE))

    result = prune(site, "--max-prune", limit)

    assert result.exit_code == 0, result.output
    assert set(summary(result)["pruned_keys"]) == doomed
    assert not doomed & set(files(site.parent / "renders"))


def test_over_max_prune_deletes_nothing_says_how_many_and_exits_1(site: Path) -> None:
    before = files(site.parent / "renders")

    result = prune(site)  # default 10%: 13 of 38 renders is over it

    assert result.exit_code == 1
    report = summary(result)
    assert report["pruned"] == 0
    assert "13 of the 38 renders" in report["prune_refused"]
    assert "--max-prune 13" in report["prune_refused"]
    assert files(site.parent / "renders") == before

    assert prune(site, "--max-prune", "12").exit_code == 1
    assert prune(site, "--max-prune", "13").exit_code == 0


def test_dry_run_lists_what_would_go_and_deletes_nothing(site: Path) -> None:
    before = files(site.parent / "renders")

    result = prune(site, "--max-prune", "100%", "--dry-run")

    assert result.exit_code == 0
    report = summary(result)
    assert sorted(report["would_prune"]) == sorted(
        set().union(*(renders_of(before, p) for p in GONE))
    )
    assert report["pruned"] == 0
    assert files(site.parent / "renders") == before
    text = cli(site, "warm", "--prune", "--max-prune", "100%", "--dry-run")
    assert "prune 48x48/d/img0002.jpg\n" in text.stdout


def test_an_empty_listing_prunes_nothing(site: Path) -> None:
    for file in (site.parent / "originals").rglob("*.*"):
        file.unlink()
    before = files(site.parent / "renders")

    result = prune(site, "--max-prune", "100%")

    assert result.exit_code == 1
    assert "listed no original" in summary(result)["prune_refused"]
    assert files(site.parent / "renders") == before


def test_an_upload_only_a_slave_holds_keeps_its_renders(tmp_path: Path, origins: Any) -> None:
    config, _ = warmed(tmp_path)
    upload = (tmp_path / "originals" / GONE[0]).read_bytes()
    slave = origins(files={GONE[0]: upload})
    config.write_text(config.read_text() + f'\n[[slaves]]\nurl = "{slave.url}"\n')
    for path in GONE:
        (tmp_path / "originals" / path).unlink()  # d/img0002.jpg: now on the slave only
    before = files(tmp_path / "renders")

    result = prune(config, "--max-prune", "100%")

    assert result.exit_code == 0, result.output
    assert set(summary(result)["pruned_keys"]) == renders_of(before, GONE[1])
    assert renders_of(files(tmp_path / "renders"), GONE[0]) == renders_of(before, GONE[0])
    assert any(s.method == "HEAD" and s.path.endswith(GONE[0]) for s in slave.seen)
    assert not any(s.method == "GET" for s in slave.seen)


def test_a_shard_prunes_only_its_own_originals(site: Path) -> None:
    before = files(site.parent / "renders")
    mine = [p for p in GONE if in_shard(p, 0, 2)]
    assert len(mine) == 1  # the two deleted originals are in different shards

    result = prune(site, "--max-prune", "100%", "--shard", "0/2")

    assert result.exit_code == 0
    assert set(summary(result)["pruned_keys"]) == renders_of(before, mine[0])


def test_prune_needs_the_listing_and_its_options_are_checked(site: Path) -> None:
    assert cli(site, "warm", "--prune", "--from-file", "-", stdin="a/img0000.png\n").exit_code == 2
    assert cli(site, "warm", "--max-prune", "5").exit_code == 2
    assert cli(site, "warm", "--prune", "--max-prune", "lots").exit_code == 2
    assert cli(site, "warm", "--prune", "--max-prune", "120%").exit_code == 2


@pytest.mark.slow
def test_a_prune_killed_midway_leaves_whole_renders_and_a_rerun_finishes(
    tmp_path: Path, origins: Any
) -> None:
    """SIGKILL while prune waits on the CDN between its batches of deletes: each render is
    whole or gone, no temp file is left, and the next run prunes the rest."""
    config, made = warmed(tmp_path, count=90)
    cdn = origins(delay=30.0)  # never answers in time: the prune is killed waiting for it
    config.write_text(config.read_text() + f'\n[purge]\nurls = ["{cdn.root}/{{key}}"]\n')
    gone = sorted(made)[:60]
    for path in gone:
        (tmp_path / "originals" / path).unlink()
    before = files(tmp_path / "renders")
    doomed = set().union(*(renders_of(before, p) for p in gone))
    assert len(doomed) > 100  # more than one batch of deletes

    command = [str(PHIZER), "-c", str(config), "warm", "--workers", "1"]
    process = subprocess.Popen(
        [*command, "--prune", "--max-prune", "100%"], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(files(tmp_path / "renders")) == len(before):
        assert time.monotonic() < deadline
        assert process.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # now waiting on the CDN after its first batch
    process.send_signal(signal.SIGKILL)
    process.wait()

    middle = files(tmp_path / "renders")
    assert doomed & set(middle), "the kill came after the whole prune"
    records = {f".phizer/originals/{p}.json" for p in gone}
    assert set(before) - set(middle) <= doomed | records | {k for k in before if "/crops/" in k}
    for key, data in middle.items():
        assert data == before[key]  # whole: nothing half-written or half-deleted
    assert not [k for k in middle if k.rpartition("/")[2].startswith(".")]

    config.write_text(config.read_text().replace(f'urls = ["{cdn.root}/{{key}}"]', "urls = []"))
    rerun = prune(config, "--max-prune", "100%")
    assert rerun.exit_code == 0, rerun.output
    final = files(tmp_path / "renders")
    assert not doomed & set(final)
    assert set(final) == set(before) - doomed - records
    for key in final:
        if not key.startswith(".phizer/"):
            with Image.open(tmp_path / "renders" / key) as img:
                img.load()
