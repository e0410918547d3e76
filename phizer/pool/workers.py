"""The render pool shared by warm and serve: `make_pool(config, workers, queue_size)`.

Two implementations of one `Pool` interface:

- `WorkerPool` (workers >= 1, in `phizer.pool.processes`): processes, the worker for a path
  chosen by crc32 so each keeps its originals cache warm for its own paths.
- `InlinePool` (workers = 0): a few threads over one Pipeline in this process, for serve under
  gunicorn, whose processes are then the workers. Pillow releases the GIL while it decodes,
  resizes and encodes, so threads do overlap.

Both count the jobs they hold and bound them at `queue_size`: `submit(block=False)` raises
`Overloaded` past it (serve answers 503). warm's pool has no bound of its own (`queue_size`
None): warm's window is the one bound on what it submits. A job's future resolves as soon as
its `reply` keys are stored, while the rest of its targets are still rendering.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from phizer.config import Config
from phizer.pool.jobs import (
    Admission,
    JobResult,
    RenderJob,
    run_job,
    usable_cores,
)
from phizer.pool.processes import WorkerPool

if TYPE_CHECKING:
    from phizer.pool.pipeline import Pipeline


class Pool(Protocol):
    """What warm and serve need of a render pool: processes (`WorkerPool`), or threads in
    this process (`InlinePool`, `workers = 0`)."""

    def submit(
        self,
        job: RenderJob,
        *,
        block: bool = True,
        on_finish: Callable[[], None] | None = None,
    ) -> Future[JobResult]:
        """The future resolves when the job's reply keys are stored; `on_finish` is called
        when the whole job is done (serve waits for it before asking for another size)."""
        ...

    def pending(self) -> int:
        """Jobs submitted and not finished (the queue depth for /metrics)."""
        ...

    def alive(self) -> bool: ...

    def close(self, *, cancel: bool = False) -> None: ...


def make_pool(
    config: Config,
    workers: int,
    queue_size: int | None,
    *,
    affinity: bool = True,
    fork: bool = False,
) -> Pool:
    """Processes when `workers` >= 1, threads in this process when 0. `affinity=False`:
    jobs go to the least busy worker rather than their path's; `fork`: workers may start by
    fork (see `WorkerPool`)."""
    if workers == 0:
        return InlinePool(config, queue_size)
    return WorkerPool(config, workers, queue_size, affinity=affinity, fork=fork)


class InlinePool:
    """The `workers = 0` pool: renders run in threads of this process, over one Pipeline."""

    def __init__(
        self,
        config: Config,
        queue_size: int | None,
        threads: int | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        if pipeline is None:
            # Imported here: a process whose renders run in workers never loads the engine.
            from phizer.pool.pipeline import Pipeline

            pipeline = Pipeline.from_config(config)
        self._pipeline = pipeline
        self._admission = Admission(queue_size)
        self._threads = ThreadPoolExecutor(
            threads or min(4, usable_cores()), thread_name_prefix="phizer-render"
        )
        self._stop = threading.Event()

    def worker_for(self, path: str) -> int:
        return 0

    def submit(
        self,
        job: RenderJob,
        *,
        block: bool = True,
        on_finish: Callable[[], None] | None = None,
    ) -> Future[JobResult]:
        if self._stop.is_set():
            raise RuntimeError("submit on a closed InlinePool")
        self._admission.acquire(block)
        future: Future[JobResult] = Future()
        try:
            self._threads.submit(self._run, job, future, on_finish)
        except RuntimeError:  # closed in between
            self._admission.release()
            raise
        return future

    def _run(
        self, job: RenderJob, future: Future[JobResult], on_finish: Callable[[], None] | None
    ) -> None:
        try:
            if self._stop.is_set():
                future.cancel()
                return
            result = run_job(self._pipeline, job, future.set_result)
            if not future.done():
                future.set_result(result)
        finally:
            self._admission.release()
            if on_finish is not None:
                on_finish()

    def pending(self) -> int:
        return self._admission.count

    def alive(self) -> bool:
        return not self._stop.is_set()

    def close(self, *, cancel: bool = False) -> None:
        """Wait for the queued jobs, or with `cancel` only for the running ones."""
        if cancel:
            self._stop.set()
        self._threads.shutdown(wait=True)
        self._stop.set()

    def __enter__(self) -> InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)
