"""Single-flight: concurrent callers asking for one key share one piece of work.

A burst of requests for a render nobody has made yet must cost one fetch and one render,
not one per request. The first caller (the leader) starts the work; the others get the
leader's future. The entry is dropped when the work finishes, so the next miss, if any,
starts afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """A dict of in-flight futures guarded by a lock, keyed by whatever names the work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[T]] = {}

    def join(self, key: str, start: Callable[[], Future[T]]) -> tuple[Future[T], bool]:
        """The future of the work for `key`, and whether this caller started it.

        `start` runs outside the lock (it may do I/O or block on a queue); an exception it
        raises is handed to every caller that joined meanwhile, then re-raised to the leader.
        """
        with self._lock:
            shared = self._inflight.get(key)
            if shared is not None:
                return shared, False
            mine: Future[T] = Future()
            self._inflight[key] = mine
        try:
            work = start()
        except BaseException as exc:
            self._forget(key, mine)
            mine.set_exception(exc)
            raise
        work.add_done_callback(lambda done: self._settle(key, mine, done))
        return mine, True

    def _settle(self, key: str, mine: Future[T], done: Future[T]) -> None:
        # Forget first: whoever sees the result may look the key up again at once.
        self._forget(key, mine)
        if done.cancelled():
            mine.cancel()
            return
        exc = done.exception()
        if exc is not None:
            mine.set_exception(exc)
        else:
            mine.set_result(done.result())

    def _forget(self, key: str, mine: Future[T]) -> None:
        with self._lock:
            if self._inflight.get(key) is mine:
                del self._inflight[key]


class InFlight:
    """One unfinished future per key, forgotten when it finishes: lets later callers wait for
    related work (another size of the same original) without joining it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[str, Future[None]] = {}

    def claim(self, key: str) -> tuple[Future[None], Future[None] | None]:
        """(mine, earlier): `earlier` is the work already under way for `key`, if any;
        `mine` is this caller's marker, which it resolves once its own work has answered.
        Only a claimant that found nothing under way is tracked, so every later caller
        waits for the one that is ahead, not for each other."""
        mine: Future[None] = Future()
        with self._lock:
            earlier = self._futures.get(key)
            if earlier is None:
                self._futures[key] = mine
        if earlier is None:
            mine.add_done_callback(lambda done: self._forget(key, done))
        return mine, earlier

    def _forget(self, key: str, done: Future[None]) -> None:
        with self._lock:
            if self._futures.get(key) is done:
                del self._futures[key]
