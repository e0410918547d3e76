"""`phizer warm` as a process that gets killed: SIGKILL at any moment leaves no corrupt render
and the next run finishes the job; SIGTERM stops cleanly with a summary and exit 143."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from support.warm import make_originals, snapshot, warm_config

pytestmark = pytest.mark.slow

COUNT = 200
SIZES = 3
BIG = """
[sizes.thumb]
width = 48
height = 48
mode = "fill"

[sizes.medium]
width = 300
height = 300
mode = "max"

[sizes.tall]
width = 60
height = 90
mode = "portrait"
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made once per module: larger originals than elsewhere, so a run lasts long enough to
    be interrupted mid-way."""
    originals = tmp_path_factory.mktemp("corpus") / "originals"
    make_originals(originals, COUNT)
    for file in originals.rglob("*.jpg"):
        with Image.open(file) as image:
            image.resize((image.width * 4, image.height * 4)).save(file, quality=90)
    return originals


@pytest.fixture
def tree(tmp_path: Path, corpus: Path) -> Path:
    shutil.copytree(corpus, tmp_path / "originals")
    warm_config(tmp_path, sizes=BIG)
    return tmp_path


def start_warm(tree: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from phizer.cli.main import main; main()"]
    return subprocess.Popen(
        [*command, "-c", str(tree / "phizer.toml"), "warm", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Its own process group, so the test can stop the workers too, but not its own
        # session: with the kernel's autogroup scheduling a new session is a group of its own
        # that gets as much CPU as all of pytest, and on a loaded machine warm then finishes
        # the whole run before the test, polling, sees the renders it waits for.
        process_group=0,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate()


def renders(tree: Path) -> list[str]:
    return [k for k in snapshot(tree / "renders") if not k.startswith(".phizer")]


def interrupted_run(
    tree: Path,
    processes: list[subprocess.Popen[str]],
    after: int,
    interrupt: Callable[[subprocess.Popen[str]], None],
) -> tuple[subprocess.Popen[str], str, str]:
    """A two-worker warm, interrupted once `after` renders are on disk, and how it ended.

    A run that had written every render before the signal landed was not interrupted: the
    machine was too busy for the test to catch it mid-run. Its renders are removed and it is
    run again, a few times at most. A warm that ignored the signal writes every render each
    time, so the test still fails on it."""
    for _ in range(3):
        warm = start_warm(tree, "--workers", "2")
        processes.append(warm)
        deadline = time.monotonic() + 120
        while len(renders(tree)) < after and warm.poll() is None:
            assert time.monotonic() < deadline, "warm made no progress"
            time.sleep(0.02)
        if warm.poll() is None:
            interrupt(warm)
        out, err = warm.communicate(timeout=60)
        if len(renders(tree)) < COUNT * SIZES:
            return warm, out, err
        shutil.rmtree(tree / "renders")
    pytest.fail("warm rendered everything three times: it ignored the signal, or outran it")


def assert_all_decode(tree: Path) -> None:
    for key in renders(tree):
        with Image.open(tree / "renders" / key) as image:
            image.load()  # a truncated file fails here


def group_gone(pgid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_run_leaves_no_corrupt_render_and_a_rerun_completes(
    tree: Path, processes: list[subprocess.Popen[str]]
) -> None:
    def kill(warm: subprocess.Popen[str]) -> None:
        os.killpg(warm.pid, signal.SIGKILL)  # the parent and its workers, mid-write or not

    first, _, _ = interrupted_run(tree, processes, 60, kill)
    assert first.returncode == -signal.SIGKILL
    left = len(renders(tree))
    assert left < COUNT * SIZES
    assert_all_decode(tree)

    second = start_warm(tree, "--workers", "2")
    processes.append(second)
    out, err = second.communicate(timeout=240)

    assert second.returncode == 0, err
    summary = json.loads(out)
    assert summary["failed"] == 0
    assert summary["rendered"] + summary["skipped"] == COUNT * SIZES
    assert summary["skipped"] >= left - 2 * SIZES  # it resumed rather than starting over
    assert len(renders(tree)) == COUNT * SIZES
    assert_all_decode(tree)


def test_sigterm_stops_cleanly_with_a_summary_and_exit_143(
    tree: Path, processes: list[subprocess.Popen[str]]
) -> None:
    def terminate(warm: subprocess.Popen[str]) -> None:
        warm.send_signal(signal.SIGTERM)  # the parent only, as Kubernetes or a scheduler does

    warm, out, err = interrupted_run(tree, processes, 30, terminate)

    assert warm.returncode == 143
    summary = json.loads(out)
    assert 0 < summary["rendered"] < COUNT * SIZES
    assert summary["failures"] == []
    assert "SIGTERM" in err
    assert group_gone(warm.pid), "worker processes outlived the run"
    assert_all_decode(tree)
    assert len(renders(tree)) == summary["rendered"]


def test_failures_are_logged_with_path_and_reason(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    tree = tmp_path
    make_originals(tree / "originals", 3)
    warm_config(tree)
    (tree / "originals/a/zz-corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    warm = start_warm(tree, "--workers", "1", "--prefix", "a/zz")
    processes.append(warm)
    out, err = warm.communicate(timeout=60)

    assert warm.returncode == 1
    assert json.loads(out)["failures"][0]["path"] == "a/zz-corrupt.jpg"
    [line] = [x for x in err.splitlines() if "a/zz-corrupt.jpg" in x]
    assert "WARNING" in line
