"""The render pool: jobs land in the store, bytes come back only for reply keys, the worker for
a path is stable, a full queue refuses, and a killed worker fails only the job it held."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from support.waiting import wait_until
from support.warm import dir_pipeline_config

from phizer.base.errors import ConfigError, OriginalNotFound, Overloaded, WorkerDied
from phizer.base.models import OriginalInfo, SizeSpec, StoredInfo
from phizer.config import Config, SourceConfig
from phizer.pool.jobs import JobResult, RenderJob, crc32, in_shard, worker_index
from phizer.pool.pipeline import Pipeline
from phizer.pool.processes import WorkerPool
from phizer.pool.targets import make_targets
from phizer.pool.workers import InlinePool, make_pool
from phizer.sources.build import build_source
from phizer.stores.dir import DirStore

SIZES = (SizeSpec("s", 40, 40, "fill"), SizeSpec("m", 90, 90, "max"))


def make_config(tmp_path: Path) -> Config:
    return dir_pipeline_config(tmp_path, SIZES)


def write_jpeg(root: Path, path: str, size: tuple[int, int] = (160, 120)) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 80, 40)).save(target, "JPEG")


def job_for(config: Config, path: str, reply: frozenset[str] = frozenset()) -> RenderJob:
    return RenderJob(path, tuple(make_targets(config, path)), None, reply)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    for i in range(6):
        write_jpeg(tmp_path / "originals", f"p/{i}.jpg")
    return make_config(tmp_path)


def test_the_worker_for_a_path_is_its_crc32() -> None:
    paths = [f"photos/{i}.jpg" for i in range(3000)]
    assert all(worker_index(p, 4) == crc32(p) % 4 for p in paths)
    assert {worker_index(p, 4) for p in paths} == {0, 1, 2, 3}


def test_shards_cover_every_path_exactly_once() -> None:
    paths = [f"photos/{i}.jpg" for i in range(3000)]
    owners = [[k for k in range(3) if in_shard(p, k, 3)] for p in paths]
    assert all(len(o) == 1 for o in owners)
    assert {o[0] for o in owners} == {0, 1, 2}


@pytest.mark.slow
def test_pool_stores_every_render_and_returns_bytes_only_for_reply_keys(config: Config) -> None:
    reply_key = "40x40/p/0.jpg"
    with WorkerPool(config, workers=2, queue_size=8) as pool:
        replied = pool.submit(job_for(config, "p/0.jpg", frozenset({reply_key})))
        plain = [pool.submit(job_for(config, f"p/{i}.jpg")) for i in range(1, 6)]
        first = replied.result(timeout=60)
        rest = [f.result(timeout=60) for f in plain]
        wait_until(lambda: pool.pending() == 0)
    # Closed means the queues' feeder threads are done too: one left to finish at exit
    # could leave a semaphore behind and a "leaked semaphore" warning on stderr.
    assert not [t for t in threading.enumerate() if t.name == "QueueFeederThread"]
    [outcome] = [o for o in first.outcomes if o.key == reply_key]
    assert outcome.data is not None
    assert Image.open(io.BytesIO(outcome.data)).size == (40, 40)
    assert all(o.data is None for r in rest for o in r.outcomes)
    assert all(r.error is None and len(r.outcomes) == 2 for r in rest)
    renders = config.store.path
    assert renders is not None
    for i in range(6):
        assert Image.open(renders / f"40x40/p/{i}.jpg").size == (40, 40)
        assert Image.open(renders / f"90x90/p/{i}.jpg").size == (90, 68)


@pytest.mark.slow
def test_a_failed_job_reports_its_error_and_the_pool_goes_on(config: Config) -> None:
    with WorkerPool(config, workers=1, queue_size=4) as pool:
        missing = pool.submit(job_for(config, "p/absent.jpg")).result(timeout=60)
        fine = pool.submit(job_for(config, "p/1.jpg")).result(timeout=60)
    assert isinstance(missing.error, OriginalNotFound)
    assert "p/absent.jpg" in missing.error.message
    assert fine.error is None
    assert [o.stored for o in fine.outcomes] == [True, True]


@pytest.mark.slow
def test_a_full_queue_refuses_without_blocking(config: Config) -> None:
    # Workers take far longer to start than these submits: the first two stay pending.
    with WorkerPool(config, workers=1, queue_size=2) as pool:
        pool.submit(job_for(config, "p/0.jpg"), block=False)
        pool.submit(job_for(config, "p/1.jpg"), block=False)
        with pytest.raises(Overloaded):
            pool.submit(job_for(config, "p/2.jpg"), block=False)
        assert pool.pending() == 2
        blocked = pool.submit(job_for(config, "p/3.jpg"))  # waits for room instead
        assert blocked.result(timeout=60).error is None


@pytest.mark.slow
def test_a_killed_worker_fails_its_job_only_and_is_replaced(tmp_path: Path) -> None:
    config, originals = with_fifo(tmp_path, "stuck.jpg", "after.jpg")
    with WorkerPool(config, workers=1, queue_size=4) as pool:
        stuck = pool.submit(job_for(config, "stuck.jpg"))
        queued = pool.submit(job_for(config, "after.jpg"))
        writer = _open_when_read(originals / "stuck.jpg")
        try:
            [pid] = pool.worker_pids()
            os.kill(pid, signal.SIGKILL)
            died = stuck.result(timeout=60)
            after = queued.result(timeout=60)
        finally:
            os.close(writer)
        assert isinstance(died.error, WorkerDied)
        assert "stuck.jpg" in died.error.message
        assert after.error is None
        assert len(after.outcomes) == 2
        wait_until(pool.alive)
        assert pool.worker_pids() != [pid]
        assert pool.submit(job_for(config, "after.jpg")).result(timeout=60).error is None


@pytest.mark.slow
def test_without_affinity_the_biggest_waiting_original_goes_first(tmp_path: Path) -> None:
    """Longest job first: a big photo late in the listing does not end the run alone."""
    sizes = {"small.jpg": 10, "big.jpg": 9000, "medium.jpg": 500}
    config, originals = with_fifo(tmp_path, "first.jpg", *sizes, "unknown.jpg")
    done: list[str] = []
    with WorkerPool(config, workers=1, queue_size=5, affinity=False) as pool:
        first = pool.submit(job_for(config, "first.jpg"))
        writer = _open_when_read(originals / "first.jpg")
        try:
            for path in ["unknown.jpg", *sizes]:  # held while the worker is busy
                known = OriginalInfo(path, size=sizes.get(path))
                job = RenderJob(path, tuple(make_targets(config, path)), known)
                pool.submit(job).add_done_callback(lambda f: done.append(f.result().path))
        finally:
            os.write(writer, (originals / "small.jpg").read_bytes())
            os.close(writer)
        assert first.result(timeout=60).error is None
    assert done == ["big.jpg", "medium.jpg", "small.jpg", "unknown.jpg"]


@pytest.mark.slow
def test_a_worker_killed_while_the_pool_closes_leaves_no_held_job_undone(tmp_path: Path) -> None:
    config, originals = with_fifo(tmp_path, "stuck.jpg", "a.jpg", "b.jpg")
    pool = WorkerPool(config, workers=1, queue_size=3, affinity=False)
    stuck = pool.submit(job_for(config, "stuck.jpg"))
    writer = _open_when_read(originals / "stuck.jpg")
    held = [pool.submit(job_for(config, p)) for p in ("a.jpg", "b.jpg")]
    closer = threading.Thread(target=pool.close)  # waits for the held jobs
    closer.start()
    try:
        [pid] = pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        assert isinstance(stuck.result(timeout=60).error, WorkerDied)
        assert all(f.result(timeout=60).error is None for f in held)  # by a replacement
    finally:
        os.close(writer)
        closer.join(60)
    assert not closer.is_alive()


def with_fifo(tmp_path: Path, fifo: str, *jpegs: str) -> tuple[Config, Path]:
    """A config whose originals are `jpegs` and a FIFO named `fifo`: the worker that fetches
    it blocks reading until the test lets go (see `_open_when_read`)."""
    config = make_config(tmp_path)
    originals = tmp_path / "originals"
    originals.mkdir()
    os.mkfifo(originals / fifo)
    for path in jpegs:
        write_jpeg(originals, path)
    return config, originals


def _open_when_read(fifo: Path) -> int:
    """A write end for `fifo`, once a worker has it open for reading (it then blocks)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("no worker opened the original")
            time.sleep(0.02)


class GatedStore(DirStore):
    """A real dir store whose writes of one key wait for the test to open a gate."""

    def __init__(self, root: Path, gated_key: str) -> None:
        super().__init__(root)
        self.gated_key = gated_key
        self.gate = threading.Event()

    def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredInfo:
        if key == self.gated_key:
            assert self.gate.wait(30)
        return super().put(key, data, content_type, metadata)


def test_the_future_resolves_when_the_reply_is_stored_not_when_the_job_ends(
    config: Config, tmp_path: Path
) -> None:
    store = GatedStore(tmp_path / "renders", gated_key="90x90/p/0.jpg")
    pipeline = Pipeline(config, build_source(config), store)
    with InlinePool(config, queue_size=2, pipeline=pipeline) as pool:
        future = pool.submit(job_for(config, "p/0.jpg", frozenset({"40x40/p/0.jpg"})))
        result = future.result(timeout=30)  # while the 90x90 render is held at the gate
        assert [o.key for o in result.outcomes] == ["40x40/p/0.jpg"]
        assert pool.pending() == 1
        assert not (tmp_path / "renders/90x90/p/0.jpg").exists()
        store.gate.set()
        wait_until(lambda: pool.pending() == 0)
    assert (tmp_path / "renders/90x90/p/0.jpg").exists()


def test_workers_zero_renders_in_this_process(config: Config) -> None:
    pool = make_pool(config, workers=0, queue_size=4)
    assert isinstance(pool, InlinePool)
    with pool:
        futures: list[Future[JobResult]] = [
            pool.submit(job_for(config, f"p/{i}.jpg")) for i in range(4)
        ]
        results = [f.result(timeout=30) for f in futures]
    assert all(r.error is None and len(r.outcomes) == 2 for r in results)
    assert pool.worker_for("p/0.jpg") == 0


def test_inline_pool_refuses_when_full(config: Config, tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "renders", gated_key="40x40/p/0.jpg")
    pipeline = Pipeline(config, build_source(config), store)
    with InlinePool(config, queue_size=1, threads=1, pipeline=pipeline) as pool:
        held = pool.submit(job_for(config, "p/0.jpg"))
        with pytest.raises(Overloaded):
            pool.submit(job_for(config, "p/1.jpg"), block=False)
        store.gate.set()
        assert held.result(timeout=30).error is None


@pytest.mark.slow
def test_a_worker_that_cannot_build_its_pipeline_fails_each_job_with_the_reason(
    tmp_path: Path,
) -> None:
    broken = replace(make_config(tmp_path), master=SourceConfig(type="dir", path=None))
    with WorkerPool(broken, workers=1, queue_size=2) as pool:
        result = pool.submit(job_for(broken, "p/0.jpg")).result(timeout=60)
        assert pool.alive()  # no respawn loop: the worker stays up and answers
    assert isinstance(result.error, ConfigError)
    assert "[master].path" in result.error.message


@pytest.mark.slow
@pytest.mark.parametrize("affinity", [True, False], ids=["serve", "warm"])
def test_workers_that_die_before_they_are_ready_are_given_up_after_three_tries(
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    affinity: bool,
) -> None:
    """A worker that cannot even start (a broken install, say) is not respawned forever:
    after three deaths in a row its jobs fail with the reason, and so do later ones, at once;
    the pool reports itself dead (serve's /healthz then fails)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    # Every interpreter runs sitecustomize at start-up; only spawned workers carry this flag.
    (hook / "sitecustomize.py").write_text(
        "import os, sys\nif '--multiprocessing-fork' in sys.argv:\n    os._exit(3)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(hook))
    with WorkerPool(config, workers=1, queue_size=4, affinity=affinity) as pool:
        queued = pool.submit(job_for(config, "p/0.jpg")).result(timeout=60)
        wait_until(lambda: not pool.alive())
        later = pool.submit(job_for(config, "p/1.jpg")).result(timeout=10)
    given_up = "render worker 0 cannot start (see the log)"  # jobs it held when given up
    none_left = "no render worker for it can start (see the log)"  # jobs after that
    assert isinstance(queued.error, WorkerDied)
    assert isinstance(later.error, WorkerDied)
    assert queued.error.message in (given_up, none_left)
    assert later.error.message == none_left
    assert "died 3 times at start-up (exit code 3); giving up" in caplog.text
    assert not list((tmp_path / "renders").rglob("*.jpg"))


@pytest.mark.slow
def test_without_affinity_a_job_does_not_wait_behind_a_busy_worker(tmp_path: Path) -> None:
    # Two paths of the same worker: with affinity the second would queue behind the first.
    same = [p for p in (f"{i}.jpg" for i in range(100)) if worker_index(p, 2) == 0][:2]
    later = [f"later{i}.jpg" for i in range(3)]
    config, originals = with_fifo(tmp_path, same[0], same[1], *later)
    with WorkerPool(config, workers=2, queue_size=5, affinity=False) as pool:
        stuck = pool.submit(job_for(config, same[0]))
        writer = _open_when_read(originals / same[0])
        try:
            other = pool.submit(job_for(config, same[1])).result(timeout=60)
            # Counting jobs per worker would queue one of these behind the stuck job: each
            # goes to the worker that is free.
            after = [pool.submit(job_for(config, p)) for p in later]
            assert all(f.result(timeout=60).error is None for f in after)
            assert not stuck.done()
        finally:
            os.write(writer, (originals / same[1]).read_bytes())
            os.close(writer)
        assert stuck.result(timeout=60).error is None
    assert other.error is None


# Run in a process of its own: a pytest worker runs threads, so its pools always spawn.
FORKING_POOL = """
import os, signal, sys, threading, time
from pathlib import Path
from PIL import Image
from phizer.config import CacheConfig, Config, SourceConfig
from phizer.pool.jobs import RenderJob
from phizer.base.models import SizeSpec
from phizer.pool.processes import WorkerPool
from phizer.pool.targets import make_targets

root = Path(sys.argv[1])
(root / "originals").mkdir()
for name in ("a", "b", "c"):
    Image.new("RGB", (160, 120), (200, 80, 40)).save(root / "originals" / f"{name}.jpg")
config = Config(
    master=SourceConfig(type="dir", path=root / "originals"),
    store=SourceConfig(type="dir", path=root / "renders"),
    cache=CacheConfig(path=root / "cache"),
    sizes=(SizeSpec("s", 40, 40, "fill"),),
)
signal.signal(signal.SIGTERM, lambda *_: None)  # as warm's clean stop does


def started_by(pid):  # a forked worker has this process's command line
    same = Path(f"/proc/{pid}/cmdline").read_bytes() == Path("/proc/self/cmdline").read_bytes()
    return "fork" if same else "spawn"


def render(pool, name):
    path = f"{name}.jpg"
    job = RenderJob(path, tuple(make_targets(config, path)), None)
    assert pool.submit(job).result(timeout=60).error is None


with WorkerPool(config, 1, 4, affinity=False, fork=True) as pool:
    [first] = pool.worker_pids()
    print(started_by(first))
    render(pool, "a")
    os.kill(first, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while pool.worker_pids() == [first] or not pool.alive():
        assert time.monotonic() < deadline, "the worker outlived SIGTERM"
        time.sleep(0.02)
    print(started_by(pool.worker_pids()[0]))
    render(pool, "b")
busy = threading.Event()
threading.Thread(target=busy.wait, daemon=True).start()
with WorkerPool(config, 1, 4, affinity=False, fork=True) as pool:
    print(started_by(pool.worker_pids()[0]))
    render(pool, "c")
busy.set()
"""


@pytest.mark.slow
def test_a_forking_pool_forks_only_while_alone_and_its_workers_die_on_sigterm(
    tmp_path: Path,
) -> None:
    """warm's pool forks its first workers (no import wait). A forked worker must not keep
    the parent's SIGTERM handler, or a SIGTERM would leave it running; its replacement,
    started while the pool's threads run, and any pool made beside another thread, spawn."""
    run = subprocess.run(
        [sys.executable, "-c", FORKING_POOL, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["fork", "spawn", "spawn"]
    assert sorted(p.name for p in (tmp_path / "renders" / "40x40").iterdir()) == [
        "a.jpg",
        "b.jpg",
        "c.jpg",
    ]
