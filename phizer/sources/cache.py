"""The originals cache: a size-bounded directory with LRU eviction, shared by every process on
the host, and a bounded in-memory LRU private to one process.

Disk entries are single files named by the sha256 of the original's path (one level of
fan-out), each a small JSON header (path, validators, where it came from, length, crc32)
followed by the bytes. One file means one atomic `os.replace` publishes data and validators
together; the length and crc32 catch a file truncated or garbled behind phizer's back, which
is then deleted and treated as a miss. Writers write `*.tmp` files, which lookups never name.

Recency is the file's mtime, bumped on every hit (atime is unreliable under noatime). Puts
run under an exclusive `flock` on `.lock`, which also holds the running total of bytes, so
several processes filling the cache at once still keep it within `max_bytes` without a
directory scan per put. Only when a put would cross the bound is the directory scanned (which
also corrects the total) and the least recently used entries deleted down to 90% of the
bound. Readers take no lock; an entry that vanishes under them is simply a miss.

It is phizer's own rather than `diskcache`'s: that one writes its SQLite index on every read
to keep its LRU order, writes more slowly, and would still need the validators and the
integrity check kept here (BENCHMARKS.md has the comparison).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cachetools import LRUCache

from phizer.base.errors import StoreError
from phizer.base.models import Original
from phizer.base.paths import TEMP_SUFFIX, write_atomically

logger = logging.getLogger(__name__)

ENTRY_SUFFIX = ".orig"
TOMBSTONE_SUFFIX = ".purged"  # an empty file: `phizer purge` dropped this original
MAGIC = b"PHZO1\n"
STALE_TEMP_NS = 3600 * 10**9  # no write of one original takes an hour
LEDGER = ".lock"
LOW_WATER = 0.9  # eviction frees down to this share of max_bytes


@dataclass(frozen=True)
class Cached:
    """An original as cached, and whether the master supplied it (else a slave did)."""

    original: Original
    from_master: bool

    @property
    def size(self) -> int:
        return len(self.original.data)


class MemoryLRU:
    """A byte-bounded LRU of originals for one process; thread-safe (cachetools' LRUCache,
    sized by each original's bytes, behind a lock)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: LRUCache[str, Cached] = LRUCache(max_bytes, getsizeof=lambda e: e.size)
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return int(self._entries.currsize)

    def get(self, path: str) -> Cached | None:
        with self._lock:
            return self._entries.get(path)

    def drop(self, path: str) -> None:
        with self._lock:
            self._entries.pop(path, None)

    def put(self, path: str, entry: Cached) -> None:
        with self._lock:
            self._entries.pop(path, None)
            if entry.size <= self.max_bytes:
                self._entries[path] = entry


class DiskCache:
    """The shared on-disk LRU; every OSError is logged and becomes a miss or a StoreError."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"DiskCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    def _file(self, path: str) -> Path:
        digest = hashlib.sha256(path.encode()).hexdigest()
        return self.root / digest[:2] / (digest + ENTRY_SUFFIX)

    def get(self, path: str) -> Cached | None:
        file = self._file(path)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("originals cache: cannot read %s: %s", file, exc)
            return None
        entry = _decode(raw, path)
        if entry is None:
            logger.warning("originals cache: dropping damaged entry for %s", path)
            _unlink(file)
            return None
        try:
            os.utime(file)  # recency for LRU eviction
        except OSError:
            pass  # evicted meanwhile: the bytes we read are still good
        return entry

    def purged(self, path: str) -> bool:
        """Whether `phizer purge` dropped `path` (its tombstone is there): one stat."""
        return self._file(path).with_suffix(TOMBSTONE_SUFFIX).exists()

    def drop(self, path: str) -> None:
        """Remove `path`'s entry, keeping the ledger's total, and leave a tombstone that
        tells every process on the host its own copy is gone too; StoreError when either
        cannot be done. A later `put` of the path removes the tombstone."""
        file = self._file(path)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.with_suffix(TOMBSTONE_SUFFIX).touch()
            with self._ledger() as ledger:
                try:
                    size = file.stat().st_size
                except FileNotFoundError:
                    return
                total = self._read_total(ledger)
                file.unlink()
                _write_total(ledger, max(total - size, 0))
        except OSError as exc:
            raise StoreError(f"originals cache: cannot remove {path}: {exc}") from None

    def put(self, path: str, entry: Cached) -> None:
        """Cache `entry`; a failure is logged, never raised (the cache is an optimisation)."""
        data = _encode(path, entry)
        if len(data) > self.max_bytes:
            return

        def publish(temp: str, file: Path) -> None:
            with self._ledger() as ledger:
                self._publish(temp, file, len(data), ledger)

        try:
            write_atomically(self._file(path), data, publish=publish)
            self._file(path).with_suffix(TOMBSTONE_SUFFIX).unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("originals cache: cannot store %s: %s", path, exc)

    def _publish(self, tmp: str, file: Path, size: int, ledger: int) -> None:
        """Rename into place and keep the ledger; called under the lock."""
        try:
            old = file.stat().st_size
        except FileNotFoundError:
            old = 0
        total = self._read_total(ledger) + size - old
        if total > self.max_bytes:
            total = self._evict(keep=file, incoming=size - old)
        # The ledger is written before the rename: a writer killed in between leaves an
        # overestimate (harmless, corrected by the next scan), never an underestimate.
        _write_total(ledger, total)
        os.replace(tmp, file)

    @contextmanager
    def _ledger(self) -> Iterator[int]:
        """The lock file, held exclusively; it also records the cache's total bytes."""
        fd = os.open(self.root / LEDGER, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    def _read_total(self, ledger: int) -> int:
        raw = os.pread(ledger, 32, 0)
        if raw.strip().isdigit():
            return int(raw)
        return sum(size for _, size, _ in self._scan())  # first use, or a damaged ledger

    def _evict(self, keep: Path, incoming: int) -> int:
        """Delete least recently used entries until the total, `incoming` bytes included, is
        below the low-water mark (so the next scan is many puts away). Returns that total."""
        entries = [e for e in self._scan() if e[2] != keep]
        total = sum(size for _, size, _ in entries) + max(incoming, 0)
        target = int(self.max_bytes * LOW_WATER)
        for _, size, file in sorted(entries):
            if total <= target:
                break
            _unlink(file)
            total -= size
        return total

    def _scan(self) -> Iterator[tuple[int, int, Path]]:
        """(mtime_ns, size, file) of every entry. Temp files are writes in progress, except
        those left by a writer killed long ago, which are removed here."""
        stale = time.time_ns() - STALE_TEMP_NS
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                file = Path(dirpath) / name
                if not name.endswith((ENTRY_SUFFIX, TEMP_SUFFIX)):
                    continue
                try:
                    st = file.stat()
                except FileNotFoundError:
                    continue
                if name.endswith(ENTRY_SUFFIX):
                    yield st.st_mtime_ns, st.st_size, file
                elif st.st_mtime_ns < stale:
                    _unlink(file)

    def check(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._ledger():
                pass
        except OSError as exc:
            raise StoreError(f"originals cache {self.root} is not writable: {exc}") from None
        return f"originals cache: {self.root} (max {self.max_bytes} bytes)"


def _encode(path: str, entry: Cached) -> bytes:
    o = entry.original
    header = {
        "path": path,
        "etag": o.etag,
        "last_modified": o.last_modified,
        "from_master": entry.from_master,
        "focus": o.focus_hint,
        "length": len(o.data),
        "crc32": zlib.crc32(o.data),
    }
    return MAGIC + json.dumps(header).encode() + b"\n" + o.data


def _decode(raw: bytes, path: str) -> Cached | None:
    """The entry, or None when the file is not a whole, matching entry."""
    if not raw.startswith(MAGIC):
        return None
    end = raw.find(b"\n", len(MAGIC))
    if end < 0:
        return None
    try:
        header = json.loads(raw[len(MAGIC) : end])
    except ValueError:
        return None
    data = raw[end + 1 :]
    if (
        not isinstance(header, dict)
        or header.get("path") != path
        or header.get("length") != len(data)
        or header.get("crc32") != zlib.crc32(data)
    ):
        return None
    hint = header.get("focus")
    original = Original(
        path,
        data,
        header.get("etag"),
        header.get("last_modified"),
        hint if isinstance(hint, str) else None,
    )
    return Cached(original, bool(header.get("from_master")))


def _write_total(ledger: int, total: int) -> None:
    os.ftruncate(ledger, 0)
    os.pwrite(ledger, str(total).encode(), 0)


def _unlink(file: Path | str) -> None:
    try:
        os.unlink(file)
    except OSError:
        pass
