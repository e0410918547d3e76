"""The moving parts of one warm run that two threads share: the tally of what was done, the
window of jobs in flight, and the flag a signal raises."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from phizer.base.models import RenderTarget
from phizer.lifecycle.prune import PruneResult
from phizer.pool.jobs import JobResult
from phizer.warm.progress import Counts, status_line

logger = logging.getLogger(__name__)


@dataclass
class Tally:
    """What the run did. `originals` and `failed` count originals, `rendered` and `skipped`
    count renders (one per size and format variant)."""

    originals: int = 0
    done: int = 0  # originals finished: rendered, skipped or failed
    rendered: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # --dry-run: the keys it would render
    fatal: bool = False  # the run itself failed (listing, store), not just some originals
    prune: PruneResult | None = None  # --prune's outcome
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def original(self) -> None:
        with self._lock:
            self.originals += 1

    def skip(self, renders: int, *, whole: bool) -> None:
        """`whole`: every render of the original was fresh, so it is done already."""
        with self._lock:
            self.skipped += renders
            self.done += whole

    def would_render(self, targets: list[RenderTarget]) -> None:
        with self._lock:
            self.planned.extend(t.key for t in targets)

    def fail(self, path: str, error: str, *, fatal: bool = False) -> None:
        logger.warning("%s: %s", path, error)
        with self._lock:
            self.failures.append({"path": path, "error": error})
            self.failed += not fatal
            self.fatal = self.fatal or fatal

    def record(self, result: JobResult) -> None:
        stored = [o for o in result.outcomes if o.stored]
        with self._lock:
            self.done += 1
            self.rendered += len(stored)
            self.bytes += sum(o.size for o in stored)
        if result.error is not None:
            self.fail(result.path, result.error.message)
        elif len(stored) < len(result.outcomes):
            lost = ", ".join(o.key for o in result.outcomes if not o.stored)
            self.fail(result.path, f"render store refused {lost}")

    def pruned(self, result: PruneResult) -> None:
        if result.refused:
            logger.error("prune: %s", result.refused)
        for failure in result.failures:
            logger.warning("prune: %s: %s", failure.key, failure.message)
        with self._lock:
            self.prune = result

    @property
    def prune_failed(self) -> bool:
        """A guard refused the prune, or a delete or CDN purge failed."""
        return self.prune is not None and bool(self.prune.refused or self.prune.failures)

    def counts(self) -> Counts:
        with self._lock:
            return Counts(self.done, self.rendered, self.skipped, self.failed, self.bytes)

    def summary(self, dry_run: bool = False) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "originals": self.originals,
                "rendered": self.rendered,
                "skipped": self.skipped,
                "failed": self.failed,
                "bytes": self.bytes,
                "seconds": round(time.monotonic() - self.started, 3),
                "failures": list(self.failures),
            }
            if dry_run:
                out["would_render"] = list(self.planned)
            if self.prune is not None:
                out.update(self._prune_summary(dry_run))
            return out

    def _prune_summary(self, dry_run: bool) -> dict[str, Any]:
        result = self.prune
        assert result is not None
        out: dict[str, Any] = {
            "pruned": 0 if dry_run else len(result.keys),
            "prune_refused": result.refused,
            "prune_failures": [{"key": f.key, "error": f.message} for f in result.failures],
        }
        out["would_prune" if dry_run else "pruned_keys"] = list(result.keys)
        return out

    def line(self, dry_run: bool = False) -> str:
        """The run's summary line (`warm.progress.status_line`, without rates)."""
        with self._lock:
            counts = Counts(self.originals, self.rendered, self.skipped, self.failed, self.bytes)
            seconds = time.monotonic() - self.started
            prune = self.prune
        line = status_line(counts, seconds, rates=False)
        if prune is not None and not prune.refused:
            line += f", {len(prune.keys)} {'to prune' if dry_run else 'pruned'}"
        return line


class Window:
    """Bounds the jobs in flight, so the listing can never run ahead of the workers; every
    wait gives way to the stop flag."""

    def __init__(self, limit: int, stop: threading.Event) -> None:
        self.limit = limit
        self._stop = stop
        self._count = 0
        self._changed = threading.Condition()

    def enter(self) -> bool:
        """Wait for room; False when the run is being stopped instead."""
        with self._changed:
            while self._count >= self.limit:
                if self._stop.is_set():
                    return False
                self._changed.wait(0.2)
            self._count += 1
            return True

    def leave(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def drain(self) -> None:
        """Wait until every job in flight is done, or the run is stopped."""
        with self._changed:
            while self._count and not self._stop.is_set():
                self._changed.wait(0.2)


class Interrupt:
    """SIGINT/SIGTERM ask the run to stop cleanly; a second one kills it at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        logger.warning(
            "%s: stopping after the renders in progress (again to kill)",
            signal.Signals(signum).name,
        )
        self.signum = signum
        self.event.set()
