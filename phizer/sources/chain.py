"""The master/slave chain: the master first, then every slave at once on a master miss.

Slaves hold uploads the master has not received yet, so they are asked only when the master
says "not found" (or, with `failover = true`, when the master is down). They are asked in
parallel on a small pool the chain owns; the first good answer is returned at once and the
slower slaves finish in the background, their answers discarded. When no slave has the
original, the most telling failure wins: too large (it exists), then a timeout, then another
origin error, and only when every slave said "not found" is the original not found.
`list` and `stat` go to the master only: slaves cannot list, and their copies are transient.
`find` asks the slaves too: prune keeps the renders of an original any of them holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from phizer.base.errors import (
    BadRequest,
    OriginalNotFound,
    OriginError,
    OriginTimeout,
    PhizerError,
    TooLarge,
)
from phizer.base.models import Original, OriginalInfo
from phizer.base.perprocess import PerProcess
from phizer.sources import Source

logger = logging.getLogger(__name__)
T = TypeVar("T")

THREADS_PER_SLAVE = 4
MAX_THREADS = 32
# Which failure to report when no slave had the original: the lowest rank wins.
_RANK: tuple[type[PhizerError], ...] = (BadRequest, TooLarge, OriginTimeout, OriginError)


@dataclass(frozen=True)
class Fetched:
    """An original and whether the master supplied it (the cache trusts the two differently)."""

    original: Original
    from_master: bool


class Chain:
    def __init__(
        self, master: Source, slaves: Sequence[Source] = (), failover: bool = False
    ) -> None:
        self.master = master
        self.slaves = tuple(slaves)
        self.failover = failover
        self._threads = min(MAX_THREADS, THREADS_PER_SLAVE * len(self.slaves))
        # The slave pool, one per process (see `phizer.base.perprocess`).
        self._pool = PerProcess(
            lambda: ThreadPoolExecutor(self._threads, thread_name_prefix="phizer-slave")
        )

    def __repr__(self) -> str:
        return f"Chain({self.master!r}, slaves={list(self.slaves)!r}, failover={self.failover})"

    def fetch(self, path: str, known: OriginalInfo | None = None) -> Original:
        """The original from the master or else a slave (`known` is for the cache layer)."""
        return self.fetch_from(path).original

    def fetch_from(self, path: str) -> Fetched:
        try:
            return Fetched(self.master.fetch(path), True)
        except OriginalNotFound:
            if not self.slaves:
                raise
            return Fetched(self._ask_slaves(path), False)
        except OriginError as exc:  # down or timed out, OriginTimeout included
            return Fetched(self._failover(path, exc), False)

    def _failover(self, path: str, master_error: OriginError) -> Original:
        if not (self.failover and self.slaves):
            raise master_error
        logger.warning("master failed for %s (%s); asking slaves", path, master_error)
        try:
            return self._ask_slaves(path)
        except OriginalNotFound:
            raise master_error from None  # the master might have it: report its failure

    def _ask_slaves(self, path: str) -> Original:
        return self._first_answer(path, [partial(s.fetch, path) for s in self.slaves])

    def _first_answer(self, path: str, asks: Sequence[Callable[[], T]]) -> T:
        """The first answer of `asks` run at once, or the worst of their errors."""
        pool = self._pool.get()
        pending: set[Future[T]] = {pool.submit(ask) for ask in asks}
        errors: list[PhizerError] = []
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                exc = future.exception()
                if exc is None:
                    for other in pending:
                        other.cancel()  # not started yet: never start; running: discarded
                    return future.result()
                if not isinstance(exc, PhizerError):
                    raise exc
                errors.append(exc)
        raise _worst(errors, path)

    def stat(self, path: str) -> OriginalInfo:
        return self.master.stat(path)

    def find(self, path: str) -> OriginalInfo:
        """Whether the chain has the original anywhere: the master's stat, else the slaves'
        (HEADs, at once). OriginalNotFound only when every one of them says so; any other
        failure is raised, because "could not ask" is not "gone"."""
        try:
            return self.master.stat(path)
        except OriginalNotFound:
            if not self.slaves:
                raise
        return self._first_answer(path, [partial(s.stat, path) for s in self.slaves])

    def list(self, prefix: str) -> Iterator[OriginalInfo]:
        return self.master.list(prefix)

    def check(self) -> str:
        lines = [self.master.check()]
        lines.extend(slave.check() for slave in self.slaves)
        return "\n".join(lines)

    def close(self) -> None:
        """Stop the slave pool without waiting for slow slaves (their answers are moot)."""
        pool = self._pool.made()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._pool.clear()


def _worst(errors: list[PhizerError], path: str) -> PhizerError:
    for kind in _RANK:
        for exc in errors:
            if isinstance(exc, kind):
                return exc
    return OriginalNotFound(f"original not found on the master or any slave: {path}")
