"""A resource each process makes for itself: a thread pool, a connection pool, a client.

A forked child inherits its parent's objects but not its threads, and would share its
sockets: an inherited executor waits forever for threads that are not there, an inherited
connection pool interleaves two processes' requests on one socket. So such a resource is made
on first use and forgotten in a forked child (`os.register_at_fork`), which makes its own.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    """`make()`'s value, made once per process, on first use."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._value: T | None = None
        forget = weakref.WeakMethod(self._forget)
        os.register_at_fork(after_in_child=lambda: (method := forget()) and method())

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value

    def made(self) -> T | None:
        """The value if this process has made it, else None (nothing is made)."""
        with self._lock:
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None

    def _forget(self) -> None:
        # In the child, right after the fork: no other thread runs, and the lock may have
        # been held by a parent's thread that the child does not have.
        self._lock = threading.Lock()
        self._value = None
