"""Filling a miss: build the job (requested render first, then render-ahead), hand it to the
worker pool without blocking, and share it with every concurrent request for the same key.

The pool's future resolves as soon as the requested render is rendered and stored; the
worker then goes on with the original's other sizes from the same decode, so a page asking
for several sizes of one photo pays one fetch and one decode. A request for another size of
an original whose job is in flight waits for that whole job (render-ahead included) before
starting its own: usually the job has stored the size by then and the request is answered
from the store; otherwise the original is in the originals cache. One fetch and one decode
per original, whatever the pool (and in the process pool, crc32 sends both jobs to the same
worker and its memory cache, where the second would only have queued behind the first).

A miss costs the store one look (the GET that missed) and one write: the store is asked
again before rendering only when a job of this process could have stored the render since
that look (`Misses.ticket`), and the write's answer carries the validators the response
needs. On S3 each look spared (a HEAD before rendering, a HEAD after the write) is a round
trip.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, wait
from dataclasses import dataclass, field

from phizer.base.errors import OriginError, PhizerError
from phizer.base.models import RenderOutcome, RenderTarget, SizeSpec
from phizer.base.urls import RenderURL
from phizer.config import Config
from phizer.pool.jobs import (
    JobResult,
    RenderJob,
    crc32,
    resample_threads,
    usable_cores,
)
from phizer.pool.targets import make_targets
from phizer.pool.workers import Pool
from phizer.serve.metrics import Metrics
from phizer.stores import RenderStore

logger = logging.getLogger(__name__)

# How many counters of finished jobs `Misses.ticket` spreads originals over: enough that on a
# busy server another original's job rarely shares a miss's slot (4 KiB of counters).
FINISHED_SLOTS = 512


@dataclass
class _Job:
    """The one job in flight for an original: the render its client waits for, that render's
    outcome (None when it turned out to be stored already), and the job's end (render-ahead
    included)."""

    key: str
    answer: Future[JobResult | None] = field(default_factory=Future)
    finished: Future[None] = field(default_factory=Future)


class Misses:
    def __init__(self, config: Config, store: RenderStore, pool: Pool, metrics: Metrics) -> None:
        self.config = config
        self.store = store
        self.pool = pool
        self.metrics = metrics
        self.cores = usable_cores()
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}  # by original path: at most one job each
        # Jobs finished so far, counted by crc32(path) % FINISHED_SLOTS: see `ticket`.
        self._finished = [0] * FINISHED_SLOTS

    def ticket(self, path: str) -> int:
        """Taken before looking in the store for a render of `path`, and handed to `fill`
        when it missed. Unless a job for `path` (or for an original sharing its slot) has
        finished since, or is still running, no job of this process can have stored the
        render meanwhile, and `fill` starts rendering without asking the store again: on
        S3 a HEAD, one more round trip on every miss."""
        return self._finished[_slot(path)]

    def fill(
        self, url: RenderURL, size: SizeSpec, ticket: int | None = None, *, whole: bool = False
    ) -> RenderOutcome | None:
        """Render `url`, or share the render under way for it: its outcome, with its bytes
        and the store's validators. None means another request stored it before this one
        started a job: serve it from the store. `ticket`: see `ticket`; without one the
        store is always asked again before rendering.

        One job per original is in flight at a time. A request for the render that job's
        client waits for shares its answer; a request for another size of the original
        waits for the whole job (render-ahead included), which has most likely stored that
        size too, then looks in the store again (otherwise the original is in the originals
        cache). Starting at once would fetch and decode the original a second time.
        `whole`: return once the whole job is done, render-ahead and the original's record
        included (`GET /info` waits for the record)."""
        recheck = ticket is None
        while True:
            with self._lock:
                job = self._jobs.get(url.path)
                lead = job is None
                if job is None:
                    job = self._jobs[url.path] = _Job(url.key)
            if lead:
                changed = ticket != self._finished[_slot(url.path)]
                self._start(job, url, size, recheck or changed)
            elif job.key != url.key:
                wait([job.finished])
                recheck = True
                continue
            result = job.answer.result()
            if whole:
                wait([job.finished])
            if result is None:
                return None
            if lead:
                self._record(result)
            return _outcome(result, url.key)

    def _start(self, job: _Job, url: RenderURL, size: SizeSpec, recheck: bool) -> None:
        """Submit `job`'s render (or find it stored, when a job may have stored it since this
        request looked), without blocking; `job.answer` and `job.finished` say how it went."""
        try:
            # A request that missed the store may have lost a race with a job that finished
            # meanwhile: look once more before rendering the same key twice (and changing its
            # validators under every cache that holds it).
            if recheck and self.store.stat(url.key) is not None:
                job.answer.set_result(None)
                self._finish(url.path, job)
                return
            limit = self.config.server.miss_threads
            threads = resample_threads(self.cores, self.pool.pending(), limit)
            render = RenderJob(
                url.path, self.targets(url, size), reply=frozenset({url.key}), threads=threads
            )
            future = self.pool.submit(
                render, block=False, on_finish=lambda: self._finish(url.path, job)
            )
        except BaseException as exc:
            job.answer.set_exception(exc)
            self._finish(url.path, job)
            return
        future.add_done_callback(lambda done: _settle(job.answer, done))

    def _finish(self, path: str, job: _Job) -> None:
        """The job has left the pool: the next miss for `path` starts afresh, and tickets
        taken before now are stale."""
        with self._lock:
            if job.finished.done():
                return
            if self._jobs.get(path) is job:
                del self._jobs[path]
            self._finished[_slot(path)] += 1
        job.finished.set_result(None)

    def targets(self, url: RenderURL, size: SizeSpec) -> tuple[RenderTarget, ...]:
        """The requested render first; then, for plain resizes with render-ahead on, the
        original's other sizes in the same format (the worker renders those only where the
        store does not hold them yet, once the requested one is stored: see
        `Pipeline.render_and_store`)."""
        config = self.config
        wanted = make_targets(config, url.path, [size], [url.variant], url.crop)
        if url.crop is None and config.server.render_ahead:
            others = [s for s in config.sizes if s != size]
            wanted += make_targets(config, url.path, others, [url.variant])
        return tuple(wanted)

    def _record(self, result: JobResult) -> None:
        self.metrics.render_seconds.observe(result.seconds)
        if result.outcomes:  # the fetch succeeded; a failed one is in origin_errors
            self.metrics.fetch_seconds.observe(result.fetch_seconds)
        if isinstance(result.error, OriginError):
            self.metrics.origin_errors.inc()


def _settle(answer: Future[JobResult | None], done: Future[JobResult]) -> None:
    """The pool's answer for the job, passed on to every request sharing it."""
    if done.cancelled():
        answer.cancel()
    elif (exc := done.exception()) is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(done.result())


def _outcome(result: JobResult, key: str) -> RenderOutcome:
    if result.error is not None:
        raise _copy(result.error)
    outcome = next((o for o in result.outcomes if o.key == key and o.data is not None), None)
    if outcome is None:
        raise PhizerError(f"the render pool answered {result.path} without {key}")
    return outcome


def _copy(error: PhizerError) -> PhizerError:
    """A fresh exception per waiting request: one object raised in many threads at once
    would share (and scramble) its traceback."""
    try:
        return type(error)(error.message)
    except TypeError:
        return PhizerError(error.message)


def _slot(path: str) -> int:
    return crc32(path) % FINISHED_SLOTS
