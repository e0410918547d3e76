"""The originals cache in front of the master/slave chain: what the pipeline fetches through.

Revalidation policy (lookups try the process's memory LRU, then the shared disk cache):

- warm (`known` given, from the master's listing): a cached copy whose validators match
  `known` is used without contacting the master at all; otherwise the original is fetched.
- serve (`known` None): a copy that came from the master is revalidated with one cheap
  `stat` of the master (HEAD / os.stat) and used when the validators still match, else the
  original is fetched again. If that stat fails because the master is down, the cached copy
  is served (stale beats an error for bytes the master gave us); if the master says the
  original is gone, the chain is asked again (slaves included). A copy that came from a
  slave is trusted (slaves hold transient uploads of the same bytes the master will
  receive) until evicted, or until `phizer purge` drops it: purge leaves a tombstone in the
  host's disk cache, which every serve process on the host sees at its next miss (one stat
  of a local file). With the disk cache off (`[cache] max_bytes = 0`) a slave's copy lives
  in a process's memory until evicted.
- Validators match when both sides carry an ETag and the ETags are equal; without ETags,
  when size and last-modified time are both equal.

A `dir` master gets no disk cache for its own originals (they are on a local disk already),
only the memory LRU; originals from slaves are still cached on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from phizer.base.errors import OriginalNotFound, OriginError
from phizer.base.models import Original, OriginalInfo
from phizer.sources.cache import Cached, DiskCache, MemoryLRU
from phizer.sources.chain import Chain

logger = logging.getLogger(__name__)


def same_version(cached: Original, info: OriginalInfo) -> bool:
    """Whether `info` (a listing or a stat) describes the copy in `cached`: the same ETag
    and, where both know it, the same time to the second (an S3 copy of an object onto
    itself with new metadata, the application's `focus`, keeps the ETag and changes the
    time; listings give milliseconds, a GET whole seconds)."""
    if cached.etag and info.etag:
        if cached.last_modified is not None and info.last_modified is not None:
            if abs(cached.last_modified - info.last_modified) >= 1.0:
                return False
        return cached.etag == info.etag
    return (
        info.size == len(cached.data)
        and info.last_modified is not None
        and info.last_modified == cached.last_modified
    )


class CachedOriginals:
    def __init__(
        self,
        chain: Chain,
        memory: MemoryLRU,
        disk: DiskCache | None = None,
        disk_for_master: bool = True,
    ) -> None:
        self.chain = chain
        self.memory = memory
        self.disk = disk
        self.disk_for_master = disk_for_master

    def __repr__(self) -> str:
        return f"CachedOriginals({self.chain!r}, disk={self.disk!r})"

    def fetch(self, path: str, known: OriginalInfo | None = None) -> Original:
        entry = self._lookup(path)
        if entry is not None and self._still_good(path, entry, known):
            return entry.original
        fetched = self.chain.fetch_from(path)
        self._remember(path, Cached(fetched.original, fetched.from_master))
        return fetched.original

    def _lookup(self, path: str) -> Cached | None:
        entry = self.memory.get(path)
        if entry is None and self.disk is not None:
            entry = self.disk.get(path)
            if entry is not None:
                self.memory.put(path, entry)
        return entry

    def _still_good(self, path: str, entry: Cached, known: OriginalInfo | None) -> bool:
        if known is not None:
            return same_version(entry.original, known)
        if not entry.from_master:
            return self.disk is None or not self.disk.purged(path)
        try:
            return same_version(entry.original, self.chain.stat(path))
        except OriginalNotFound:
            return False
        except OriginError as exc:
            logger.warning("master unavailable, serving cached %s: %s", path, exc)
            return True

    def _remember(self, path: str, entry: Cached) -> None:
        self.memory.put(path, entry)
        if self.disk is not None and (self.disk_for_master or not entry.from_master):
            self.disk.put(path, entry)

    def stat(self, path: str) -> OriginalInfo:
        return self.chain.stat(path)

    def find(self, path: str) -> OriginalInfo:
        """The original's validators from the master or any slave (see `Chain.find`)."""
        return self.chain.find(path)

    def forget(self, path: str) -> None:
        """Drop `path` from this process's memory and from the host's disk cache, so no
        process on the host renders it again from a copy (StoreError when the disk entry
        cannot be removed)."""
        self.memory.drop(path)
        if self.disk is not None:
            self.disk.drop(path)

    def list(self, prefix: str) -> Iterator[OriginalInfo]:
        return self.chain.list(prefix)

    def check(self) -> str:
        lines = [self.chain.check()]
        if self.disk is not None:
            lines.append(self.disk.check())
        return "\n".join(lines)

    def close(self) -> None:
        self.chain.close()
