"""What crosses the worker boundary (jobs and their results), how one job runs, and which
worker or shard owns a path.

Results stay small on purpose: they travel over a pipe for every original, so only the keys
a caller asked to get back (`RenderJob.reply`, serve's requested render) carry their bytes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from phizer.base.errors import Overloaded, PhizerError
from phizer.base.models import OriginalInfo, RenderOutcome, RenderTarget

if TYPE_CHECKING:  # the pipeline pulls in boto3 & co; only workers need it at run time
    from phizer.pool.pipeline import Pipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderJob:
    """Render (and store) `targets` of the original at `path`."""

    path: str
    targets: tuple[RenderTarget, ...]
    known: OriginalInfo | None = None
    reply: frozenset[str] = frozenset()  # keys whose bytes come back; empty = none
    threads: int = 1  # how many threads the first (replied) render may resample on
    force: bool = False  # `warm --force`: look for the focal point again, too


# More threads than this split a render into strips too thin to gain from.
MAX_RESAMPLE_THREADS = 4


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def resample_threads(cores: int, busy: int, limit: int = 0) -> int:
    """How many threads a miss's awaited render may resample on when `busy` jobs already
    hold the pool: the cores none of them is using, at least 1 and at most `limit`
    (`server.miss_threads`; 0 means `MAX_RESAMPLE_THREADS`). On an idle machine a lone
    client then gets every core; under load each job keeps to its one, so the threads
    never cost throughput. Only this pool's jobs count: under gunicorn with several
    processes, each sees its own, so set `miss_threads = 1` there if the machine runs busy."""
    return max(1, min(limit or MAX_RESAMPLE_THREADS, cores - busy))


@dataclass(frozen=True)
class JobResult:
    path: str
    outcomes: tuple[RenderOutcome, ...]
    error: PhizerError | None = None  # the job's failure; never raised inside a pool
    seconds: float = 0.0
    fetch_seconds: float = 0.0  # getting the original; 0 when the fetch failed


def crc32(path: str) -> int:
    return zlib.crc32(path.encode("utf-8"))


def in_shard(path: str, shard: int, shard_count: int) -> bool:
    """`warm --shard K/N`: N runs with K = 0..N-1 cover every path exactly once."""
    return crc32(path) % shard_count == shard


def worker_index(path: str, workers: int) -> int:
    """The worker that owns `path` in serve's pool, so its memory cache stays warm for it.
    (warm's pool gives each job to the next free worker: it fetches each original once.)"""
    return crc32(path) % workers


ReplyHook = Callable[[JobResult], None]


def run_job(pipeline: Pipeline, job: RenderJob, on_reply: ReplyHook | None = None) -> JobResult:
    """Run one job in this process. `on_reply` is called once, as soon as every reply key is
    rendered and stored, while the remaining targets are still to come (render-ahead).

    Errors end the job but never escape: one bad original must not take a worker down."""
    started = time.monotonic()
    outcomes: list[RenderOutcome] = []
    waiting = set(job.reply)
    replied = False
    error: PhizerError | None = None
    fetch_seconds = 0.0
    try:
        # A job with a reply has a client waiting for its first target (serve puts the
        # requested render first): decode for that one first, render ahead the others.
        original = pipeline.fetch(job.path, job.known)
        fetch_seconds = time.monotonic() - started
        renders = pipeline.render_and_store(
            original,
            job.targets,
            awaited=bool(job.reply),
            first_threads=job.threads,
            reuse_focus=not job.force,
        )
        for outcome in renders:
            wanted = outcome.key in job.reply
            outcomes.append(outcome if wanted else replace(outcome, data=None, info=None))
            waiting.discard(outcome.key)
            if wanted and not waiting and on_reply is not None:
                elapsed = time.monotonic() - started
                on_reply(JobResult(job.path, tuple(outcomes), None, elapsed, fetch_seconds))
                replied = True
    except PhizerError as exc:
        error = exc
    except Exception as exc:  # a bug in a lower layer: report it on this job, keep the worker
        logger.exception("unexpected error rendering %s", job.path)
        error = PhizerError(f"internal error: {type(exc).__name__}: {exc}")
    if replied:  # the bytes already went back; do not send them twice
        outcomes = [replace(o, data=None, info=None) for o in outcomes]
    elapsed = time.monotonic() - started
    return JobResult(job.path, tuple(outcomes), error, elapsed, fetch_seconds)


class Admission:
    """Counts the jobs a pool holds (queued or running) and bounds them at `limit`: serve
    refuses beyond it (503). `limit` None: no bound here, for warm, whose window already
    bounds what it submits (and gives way to a signal while it waits)."""

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"queue size must be at least 1, not {limit}")
        self.limit = limit
        self._count = 0
        self._room = threading.Condition()

    def acquire(self, block: bool) -> None:
        limit = self.limit
        with self._room:
            if limit is not None:
                if not block and self._count >= limit:
                    raise Overloaded(f"render queue is full ({limit} jobs pending)")
                self._room.wait_for(lambda: self._count < limit)
            self._count += 1

    def release(self) -> None:
        with self._room:
            self._count -= 1
            self._room.notify()

    @property
    def count(self) -> int:
        return self._count
