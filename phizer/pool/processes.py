"""`WorkerPool`: render processes, each owning the paths whose crc32 lands on it.

Each worker builds one `Pipeline` and keeps it, so its in-memory originals cache stays warm
for its paths. Each has its own job queue and its own result pipe, read by one thread in the
parent that resolves futures. Own pipes (rather than one shared result queue) matter when a
worker is killed: a worker that dies while writing can only corrupt its own pipe, never block
or garble the others. A dead worker is replaced; the job it was running fails with
`WorkerDied`, the jobs queued behind it go to its replacement.

Without affinity (warm) the parent holds the jobs and gives each worker its next one when it
finishes the last, so no worker idles while another still has a queue: jobs differ widely in
cost (a small JPEG against a 12-megapixel PNG), and spreading them by count would leave the
end of a run to one worker. Of the jobs it holds, a free worker gets the biggest original
first (longest job first), so a big photo late in a listing does not finish the run alone.

Workers are spawned (a fresh interpreter): the parent runs threads (the result reader, queue
feeders, serve's request threads), which a fork would copy in whatever state they were in.
A pool made with `fork=True` (warm's) starts its first workers by forking instead while this
process still runs no other thread, which is safe. A spawned worker starts an interpreter
and imports phizer before its first render; a forked one starts with what warm has loaded and
imports only the render engine. That start-up is most of what a cron warm of a few new photos
spends, and forking shortens it. Workers that replace dead ones are spawned, since the
pool's own threads run by then; so are warm's on a terminal, where the progress bar has its
threads.

It is one module, over the usual size, because the pool's parts share one lock and one
set of invariants (slots, queues, the result reader, replacement of the dead): split, each
part would reach into the others' state.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection, wait
from typing import Any, Final

from phizer.base.errors import PhizerError, WorkerDied
from phizer.config import Config
from phizer.pool.jobs import Admission, JobResult, RenderJob, run_job, worker_index
from phizer.pool.malloc import keep_freed_memory

logger = logging.getLogger(__name__)
WORKER_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [worker %(process)d]: %(message)s"

START_METHOD: Final = "spawn"  # see the module docstring for when a pool forks instead
STOP_TIMEOUT = 30.0  # seconds a closing pool waits for a running render before killing it
MAX_STARTUP_DEATHS = 3  # in a row, before a slot is given up rather than respawned forever


@dataclass
class _Slot:
    """One worker position; its process, queue and pipe are replaced when it dies."""

    index: int
    process: Any  # multiprocessing.process.BaseProcess (spawn context)
    jobs: Any  # multiprocessing.Queue[tuple[int, RenderJob] | None]
    results: Connection | None
    assigned: list[int] = field(default_factory=list)  # job ids in queue order
    running: int | None = None
    ready: bool = False  # its Pipeline is built: from then on a death is the job's fault
    dead: bool = False  # its workers kept dying at start-up: given up, jobs fail at once


@dataclass
class _Pending:
    job: RenderJob
    future: Future[JobResult]
    on_finish: Callable[[], None] | None = None


class WorkerPool:
    """A crc32-sharded pool of render processes. See `phizer.pool.workers` for the contract."""

    def __init__(
        self,
        config: Config,
        workers: int,
        queue_size: int | None,
        *,
        affinity: bool = True,
        fork: bool = False,
    ) -> None:
        """`affinity=False` gives each job to the next worker to be free instead of its
        path's worker: for warm, which fetches each original once, so no cache is kept warm
        and hash placement would only leave workers idle while another has a queue.
        `fork=True`: fork the first workers while this process has no other thread (see the
        module docstring)."""
        if workers < 1:
            raise ValueError(f"a WorkerPool needs at least 1 worker, not {workers}")
        self.config = config
        self.workers = workers
        self.affinity = affinity
        self._ctx = multiprocessing.get_context(START_METHOD)
        self._fork = fork
        self._stop = self._ctx.Event()  # set: workers start no further jobs
        self._admission = Admission(queue_size)
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._held: list[int] = []  # job ids no worker has yet (affinity=False only)
        self._next_id = 0
        self._closing = False
        self._stops_sent = threading.Event()  # every worker has been told to stop
        self._startup_deaths = 0
        self._slots = [self._spawn(i) for i in range(workers)]
        self._reader = threading.Thread(
            target=self._read_results, name="phizer-pool-results", daemon=True
        )
        self._reader.start()

    # --- public ----------------------------------------------------------------------

    def worker_for(self, path: str) -> int:
        return worker_index(path, self.workers)

    def submit(
        self,
        job: RenderJob,
        *,
        block: bool = True,
        on_finish: Callable[[], None] | None = None,
    ) -> Future[JobResult]:
        """Queue `job` on its path's worker (without affinity: hold it until a worker is
        free); `Overloaded` when full and not `block`.
        `on_finish` is called once the whole job has left the pool (every target done, or
        failed, or cancelled), which may be well after the future resolved."""
        if self._closing:
            raise RuntimeError("submit on a closed WorkerPool")
        self._admission.acquire(block)
        future: Future[JobResult] = Future()
        with self._lock:
            job_id, self._next_id = self._next_id, self._next_id + 1
            self._pending[job_id] = _Pending(job, future, on_finish)
            if not self.affinity:
                self._held.append(job_id)
                stranded = self._dispatch()
            elif (slot := self._slots[self.worker_for(job.path)]).dead:
                stranded = [job_id]  # its worker was given up
            else:
                slot.assigned.append(job_id)
                slot.jobs.put((job_id, job))
                stranded = []
        self._fail_stranded(stranded)
        return future

    def _dispatch(self) -> list[int]:
        """(Lock held.) Give held jobs to idle workers, biggest original first. Returns the
        held jobs no worker will ever take (every slot given up); the caller fails them.
        With affinity nothing is held: every job went to its path's worker."""
        if self.affinity:
            return []
        live = [s for s in self._slots if not s.dead and s.process.is_alive()]
        if not live and all(s.dead for s in self._slots):
            stranded = list(self._held)
            self._held.clear()
            return stranded
        for slot in live:
            if not self._held:
                break
            if not slot.assigned:
                job_id = max(self._held, key=self._cost)
                self._held.remove(job_id)
                slot.assigned.append(job_id)
                slot.jobs.put((job_id, self._pending[job_id].job))
        if self._closing and not self._held:
            self._send_stops()
        return []

    def _cost(self, job_id: int) -> int:
        """How long a held job is likely to take, for longest-first: its original's size in
        bytes when the listing told it (a job without one goes last, in order)."""
        known = self._pending[job_id].job.known
        return known.size if known is not None and known.size is not None else -1

    def _send_stops(self) -> None:
        """(Lock held.) Tell every worker to stop once its queue is done; only once."""
        if self._stops_sent.is_set():
            return
        for slot in self._slots:
            if not slot.dead:
                slot.jobs.put(None)
        self._stops_sent.set()

    def _fail_stranded(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            error = WorkerDied("no render worker for it can start (see the log)")
            self._finish(job_id, None, error)

    def pending(self) -> int:
        return self._admission.count

    def alive(self) -> bool:
        return (
            not self._closing
            and self._reader.is_alive()
            and all(s.process.is_alive() and not s.dead for s in self._slots)
        )

    def worker_pids(self) -> list[int]:
        """Current worker process ids (for logs and for tests that kill one)."""
        return [s.process.pid for s in self._slots]

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers once the queued jobs are done, or, with `cancel`, once their
        running job is done (the futures of jobs that never started are cancelled)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            cancelled: list[int] = []
            if cancel:
                self._stop.set()
                cancelled, self._held = list(self._held), []
            if not self._held:
                self._send_stops()
        for job_id in cancelled:
            self._finish(job_id, None)
        # Held jobs are still handed out one by one as workers finish; the timeout below
        # is for the last running renders only.
        while not self._stops_sent.wait(1.0) and self._reader.is_alive():
            pass
        with self._lock:  # the reader is gone (no worker left): nobody will take these
            stranded, self._held = list(self._held), []
        self._fail_stranded(stranded)
        self._reader.join(STOP_TIMEOUT)
        if self._reader.is_alive():  # a render that hangs: its job fails with WorkerDied
            with self._lock:
                stuck = list(self._slots)
            for slot in stuck:
                slot.process.kill()
            self._reader.join()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)

    # --- workers ---------------------------------------------------------------------

    def _spawn(self, index: int) -> _Slot:
        jobs = self._ctx.Queue()
        receive, send = self._ctx.Pipe(duplex=False)
        forking = (
            self._fork
            and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods()  # not on Windows
        )
        context = multiprocessing.get_context("fork") if forking else self._ctx
        process = context.Process(
            target=_worker_main,
            name=f"phizer-worker-{index}",
            args=(self.config, jobs, send, self._stop, logging.getLogger().getEffectiveLevel()),
            daemon=True,
        )
        if forking:
            # Frozen across the fork, the objects this process already has (warm's freshness
            # index can be large) sit in the child's permanent generation, which its
            # collector never scans: their pages stay shared instead of being copied into
            # the child one by one.
            gc.freeze()
            try:
                process.start()
            finally:
                gc.unfreeze()
        else:
            process.start()
        send.close()  # the worker holds the only write end: EOF means it is gone
        return _Slot(index, process, jobs, receive)

    def _read_results(self) -> None:
        """The one thread that hears from workers: results, and deaths (process sentinels)."""
        while True:
            with self._lock:
                slots = list(self._slots)
            slots = [s for s in slots if not s.dead]
            if not slots:
                return
            pipes = {s.results: s for s in slots if s.results is not None}
            sentinels = {s.process.sentinel: s for s in slots}
            ready = wait([*pipes, *sentinels], timeout=1.0)
            for pipe in (r for r in ready if r in pipes):
                self._receive(pipes[pipe])
            for sentinel in (r for r in ready if r in sentinels):
                slot = sentinels[sentinel]
                while slot.results is not None and slot.results.poll():
                    self._receive(slot)  # what it said before it went, up to EOF
                self._worker_exited(slot)

    def _receive(self, slot: _Slot) -> None:
        if slot.results is None:
            return
        try:
            message = slot.results.recv()
        except (EOFError, OSError):
            slot.results.close()
            slot.results = None  # the exit itself is handled when its sentinel fires
            return
        kind, job_id = message[0], message[1]
        if kind == "ready":
            slot.ready, self._startup_deaths = True, 0
            return
        with self._lock:
            pending = self._pending.get(job_id)
            if kind != "reply":
                slot.running = job_id if kind == "start" else None
        if pending is None or kind == "start":
            return
        if kind in ("reply", "done") and not pending.future.done():
            pending.future.set_result(message[2])
        if kind in ("done", "skipped"):
            self._finish(job_id, slot)

    def _finish(self, job_id: int, slot: _Slot | None, error: PhizerError | None = None) -> None:
        """The job leaves the pool: resolve (or cancel) its future, free its place (`slot`:
        the worker it was given to, None for a held job)."""
        with self._lock:
            pending = self._pending.pop(job_id)
            if slot is not None:
                slot.assigned.remove(job_id)
            stranded = self._dispatch()
        self._fail_stranded(stranded)
        if error is not None and not pending.future.done():
            pending.future.set_result(JobResult(pending.job.path, (), error))
        pending.future.cancel()  # a no-op once resolved: only jobs that never ran
        self._admission.release()
        if pending.on_finish is not None:
            pending.on_finish()

    def _worker_exited(self, slot: _Slot) -> None:
        """Fail the job the worker was running; its queue goes to a replacement (or, once
        the pool is closing and every job has been handed out, is cancelled)."""
        slot.process.join()
        code = slot.process.exitcode
        with self._lock:
            died = slot.running
            # Closing with jobs still held (warm, interrupted or not): they need workers.
            closing = self._closing and self._stops_sent.is_set()
        if died is not None:
            path = self._pending[died].job.path
            logger.error(
                "render worker %d (pid %s) died (exit code %s) rendering %s",
                slot.index,
                slot.process.pid,
                code,
                path,
            )
            self._finish(
                died, slot, WorkerDied(f"render worker died (exit code {code}) rendering {path}")
            )
        if not slot.ready and not closing:
            self._startup_deaths += 1
        if closing or self._startup_deaths >= MAX_STARTUP_DEATHS:
            self._retire(slot, closing)
        else:
            self._replace(slot)

    def _retire(self, slot: _Slot, closing: bool) -> None:
        """No replacement: the pool is closing, or workers die before they can take a job
        (then the slot's jobs fail at once and `alive()` turns False for /healthz)."""
        error = None
        if not closing:
            logger.error(
                "render worker %d died %d times at start-up (exit code %s); giving up",
                slot.index,
                self._startup_deaths,
                slot.process.exitcode,
            )
            error = WorkerDied(f"render worker {slot.index} cannot start (see the log)")
        with self._lock:
            if closing:
                self._slots.remove(slot)
            else:
                slot.dead = True
            queued = list(slot.assigned)
        for job_id in queued:
            self._finish(job_id, slot, error)
        with self._lock:
            stranded = self._dispatch()
        self._fail_stranded(stranded)
        _discard(slot.jobs, drained=slot.process.exitcode == 0)

    def _replace(self, slot: _Slot) -> None:
        fresh = self._spawn(slot.index)
        with self._lock:
            # The slot's list has every job still queued on the dead worker (the job that
            # died already left it), in order, including any given to it since it died.
            for job_id in slot.assigned:
                fresh.assigned.append(job_id)
                fresh.jobs.put((job_id, self._pending[job_id].job))
            if self._stops_sent.is_set():
                fresh.jobs.put(None)
            self._slots[self._slots.index(slot)] = fresh
            stranded = self._dispatch()
        self._fail_stranded(stranded)
        _discard(slot.jobs, drained=False)


def _discard(jobs: Any, *, drained: bool) -> None:
    """Close a gone worker's queue. A worker that exited cleanly (`drained`) had read all
    of it, so the queue's feeder thread ends at once: wait for it, so the queue's
    semaphores are released here. Left to itself, that daemon thread could release them
    at interpreter exit and be frozen between unlinking one and telling multiprocessing's
    resource tracker, which then warns of a "leaked semaphore" on stderr. A worker that
    died may have left a full pipe, on which the feeder could block for good: that one is
    not waited for."""
    jobs.close()
    if drained:
        jobs.join_thread()
    else:
        jobs.cancel_join_thread()


def _send_reply(results: Connection, job_id: int, result: JobResult) -> None:
    results.send(("reply", job_id, result))


def _worker_main(config: Config, jobs: Any, results: Connection, stop: Any, log_level: int) -> None:
    """A worker process: one Pipeline, kept for the life of the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # A forked worker inherits the parent's handler (warm's clean stop), which would keep
    # it alive through a SIGTERM meant to end it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Log to stderr at the parent's level, marked as this worker's (a forked worker would
    # otherwise keep the parent's handlers and format).
    logging.basicConfig(level=log_level, format=WORKER_LOG_FORMAT, force=True)
    keep_freed_memory()
    from phizer.pool.pipeline import Pipeline

    try:
        pipeline: Pipeline | None = Pipeline.from_config(config)
        broken: PhizerError | None = None
    except PhizerError as exc:  # reported on every job rather than dying in a respawn loop
        pipeline, broken = None, exc
    parent = multiprocessing.parent_process()
    try:
        results.send(("ready", -1))
        while True:
            try:
                item = jobs.get(timeout=1.0)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return  # orphaned (the parent was killed): nobody wants our results
                continue
            if item is None:
                return
            job_id, job = item
            if stop.is_set():
                results.send(("skipped", job_id))
                continue
            results.send(("start", job_id))
            if pipeline is None:
                result = JobResult(job.path, (), broken)
            else:
                result = run_job(pipeline, job, partial(_send_reply, results, job_id))
            results.send(("done", job_id, result))
    except (BrokenPipeError, EOFError):
        return  # the parent is gone
