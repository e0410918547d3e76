"""`phizer warm` dir -> dir, as a user runs it: every size of every original lands in the store
and decodes at the right dimensions; a second run touches nothing and reads no original; a
newer original or new size settings re-render exactly what they change; shards partition."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from support.warm import (
    FORMATS,
    SIZE_MODES,
    SIZES_TOML,
    expected_size,
    make_originals,
    snapshot,
    warm_config,
)

from phizer.cli.main import main
from phizer.config import Config
from phizer.pool import workers

Warm = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def warm(tmp_path: Path) -> Warm:
    def run(*args: str, config: Path | None = None) -> tuple[int, dict[str, Any]]:
        path = config or tmp_path / "phizer.toml"
        result = CliRunner().invoke(main, ["-c", str(path), "warm", "--json", *args])
        assert result.output.count("\n") == 1, result.output  # exactly one JSON object
        return result.exit_code, json.loads(result.output)

    return run


@pytest.mark.slow
def test_warm_renders_everything_then_a_second_run_reads_no_original(
    tmp_path: Path, warm: Warm
) -> None:
    originals = make_originals(tmp_path / "originals", 240)
    (tmp_path / "originals/a/notes.txt").write_text("not an image")
    warm_config(tmp_path)

    code, first = warm("--workers", "2")

    assert code == 0, first
    assert (first["originals"], first["rendered"], first["failed"]) == (240, 720, 0)
    renders = tmp_path / "renders"
    for path, size in originals.items():
        for (w, h), mode in SIZE_MODES.items():
            with Image.open(renders / f"{w}x{h}/{path}") as image:
                assert image.format == FORMATS[path[-4:]]
                assert image.size == expected_size(mode, (w, h), size), (path, w, h)
    before = snapshot(renders)
    # And one settings marker per size, the clock probe, and each original's record.
    assert len(before) == 720 + 3 + 1 + 240
    # Break every original without changing its time: a run that fetched any would fail.
    for path in originals:
        stamp = (tmp_path / "originals" / path).stat()
        (tmp_path / "originals" / path).write_bytes(b"not an image any more")
        os.utime(tmp_path / "originals" / path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))

    code, second = warm("--workers", "2")

    assert code == 0, second
    assert (second["rendered"], second["skipped"], second["failed"]) == (0, 720, 0)
    assert snapshot(renders) == before


@pytest.mark.slow
def test_warm_workers_keep_no_originals_in_memory(
    tmp_path: Path, warm: Warm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm run fetches each original once, so its workers keep none in memory: serve's
    memory LRU (100 MB a worker by default) would hold only what no job asks for again.
    The disk cache, which later runs read, stays as configured."""
    made: list[Config] = []
    real = workers.make_pool

    def spy(config: Config, *args: Any, **kwargs: Any) -> workers.Pool:
        made.append(config)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(workers, "make_pool", spy)
    make_originals(tmp_path / "originals", 4)
    warm_config(tmp_path, '[cache]\npath = "c"\nmax_bytes = 5000000\nmemory_bytes = 50000000\n')
    code, out = warm("--workers", "1")
    assert code == 0, out
    assert out["rendered"] == 12
    [config] = made
    assert config.cache.memory_bytes == 0
    assert (config.cache.path, config.cache.max_bytes) == (tmp_path / "c", 5_000_000)


@pytest.mark.slow
def test_a_newer_original_re_renders_exactly_its_sizes(tmp_path: Path, warm: Warm) -> None:
    make_originals(tmp_path / "originals", 30)
    warm_config(tmp_path)
    assert warm("--workers", "1")[0] == 0
    renders = tmp_path / "renders"
    before = snapshot(renders)
    touched = tmp_path / "originals/b/c/img0001.jpg"
    later = touched.stat().st_mtime + 60
    os.utime(touched, (later, later))

    code, summary = warm("--workers", "1")

    assert code == 0
    assert (summary["rendered"], summary["skipped"]) == (3, 87)
    after = snapshot(renders)
    changed = {key for key in after if after[key] != before.get(key)}
    assert changed == {f"{d}/b/c/img0001.jpg" for d in ("48x48", "100x100", "60x90")} | {
        ".phizer/originals/b/c/img0001.jpg.json"  # its record, for the new version
    }


@pytest.mark.slow
def test_new_settings_for_one_size_re_render_only_that_size(tmp_path: Path, warm: Warm) -> None:
    make_originals(tmp_path / "originals", 20)
    warm_config(tmp_path)
    assert warm("--workers", "1")[0] == 0
    before = snapshot(tmp_path / "renders")
    warm_config(tmp_path, sizes=SIZES_TOML.replace("quality = 80", "quality = 60"))

    code, summary = warm("--workers", "1")

    assert code == 0
    assert (summary["rendered"], summary["skipped"]) == (20, 40)
    after = snapshot(tmp_path / "renders")
    changed = {key.split("/")[0] for key in after if after[key] != before.get(key)}
    assert changed == {"100x100", ".phizer"}  # its renders and its settings marker
    marker = json.loads((tmp_path / "renders/.phizer/sizes/100x100.json").read_text())
    assert "q=60" in marker["fingerprint"]
    assert warm("--workers", "1")[1]["rendered"] == 0  # and the new settings are now settled


@pytest.mark.slow
def test_shards_together_render_the_full_set_exactly_once(tmp_path: Path, warm: Warm) -> None:
    make_originals(tmp_path / "originals", 90)
    keys: list[set[str]] = []
    for k in range(3):
        config = warm_config(tmp_path, sizes=SIZES_TOML)
        text = config.read_text().replace('path = "renders"', f'path = "renders{k}"')
        config.write_text(text)
        code, summary = warm("--workers", "2", "--shard", f"{k}/3")
        assert code == 0
        assert summary["failed"] == 0
        made = {p for p in snapshot(tmp_path / f"renders{k}") if not p.startswith(".phizer")}
        assert summary["rendered"] == len(made) > 0
        keys.append(made)
    assert sum(map(len, keys)) == len(set.union(*keys)) == 90 * 3
    assert set.union(*keys) == {
        f"{d}/{p}"
        for d in ("48x48", "100x100", "60x90")
        for p in make_originals(tmp_path / "again", 90)
    }


@pytest.mark.slow
def test_from_file_fetches_each_original_once_and_a_rerun_fetches_none(
    tmp_path: Path, warm: Warm, origins: Any
) -> None:
    made = make_originals(tmp_path / "uploads", 40)
    files = {path: (tmp_path / "uploads" / path).read_bytes() for path in made}
    origin = origins(files=files)  # a slave: the (empty) master has none of them
    (tmp_path / "originals").mkdir()
    warm_config(tmp_path, extra=f'[[slaves]]\nurl = "{origin.url}"\n')
    listing = tmp_path / "paths.txt"
    listing.write_text("".join(f"{path}\n" for path in made))

    code, first = warm("--workers", "2", "--from-file", str(listing))

    assert code == 0, first
    assert (first["originals"], first["rendered"]) == (40, 120)
    gets = sorted(seen.path for seen in origin.seen if seen.method == "GET")
    assert gets == sorted(f"/uploads/{path}" for path in made)  # once each, for all sizes
    origin.seen.clear()

    code, second = warm("--workers", "2", "--from-file", str(listing))

    assert code == 0
    assert (second["rendered"], second["skipped"]) == (0, 120)
    assert origin.seen == []  # not a GET, not a HEAD


@pytest.mark.slow
def test_a_big_original_listed_last_is_not_left_to_finish_the_run(
    tmp_path: Path, warm: Warm
) -> None:
    """Warm looks far enough ahead in the listing for the pool's biggest-first to reach a
    big original listed last: it is rendered second (the first job goes out before the
    listing is read), not when the listing gets to it."""
    originals = tmp_path / "originals"
    originals.mkdir()
    for i in range(12):
        Image.new("RGB", (160, 120), (10 * i, 80, 40)).save(originals / f"a{i:02d}.jpg")
    grain = [Image.effect_noise((1200, 900), 60) for _ in range(3)]
    Image.merge("RGB", grain).save(originals / "z.png")  # ~3 MB, listed last
    warm_config(tmp_path)

    code, summary = warm("--workers", "1")

    assert code == 0, summary
    assert summary["rendered"] == 13 * 3
    order = sorted(
        (render.stat().st_mtime_ns, render.name)
        for render in (tmp_path / "renders" / "100x100").iterdir()
    )
    assert [name for _, name in order].index("z.png") <= 1, order
