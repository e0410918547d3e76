"""`phizer warm --prune`: after a run, delete the renders under its prefix (and in its
shard) whose original the master's listing no longer has.

Guards, because this deletes:
- only keys that parse as render keys of an original with an allowed extension are
  candidates (never `.phizer/` bookkeeping, temp files, or anything a person put there);
- each candidate's original is looked up through the whole chain first (`find`: the
  master's stat, then the slaves' HEADs), so a listing race or an upload only a slave holds
  keeps its renders, and an original that cannot be asked about (master down) keeps them too;
- an empty listing under a prefix that has renders prunes nothing (a wrong prefix, a wrong
  bucket, a master mounted empty), and neither does a failed or interrupted run;
- more candidates than `max_prune` (a count, or a share of the renders under the prefix)
  prunes nothing and says how many it would have deleted.

Renders go before the crop markers that name them, and the pruned originals' records go
last, so an interrupted prune (SIGKILL included) leaves every render whole or gone, and the
next `warm --prune` finds the rest.
The listing's paths are kept as a sorted array of 64-bit digests (8 bytes an original). The
store is listed twice: once to count the renders and the candidates, which settles the
limit, and once to collect the candidates, at most the limit of them, however many renders
the store lists.
"""

from __future__ import annotations

import logging
import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from phizer.base.errors import OriginalNotFound, PhizerError
from phizer.base.keyindex import digest
from phizer.base.keys import (
    CROP_MARKER_PREFIX,
    parse_render_key,
    record_key,
    render_key_of_crop_marker,
)
from phizer.base.models import KeyFailure
from phizer.config import Config
from phizer.lifecycle.cdn import CdnPurge
from phizer.lifecycle.renders import render_dimensions
from phizer.pool.jobs import in_shard
from phizer.sources import Originals
from phizer.stores import RenderStore

logger = logging.getLogger(__name__)

DEFAULT_MAX_PRUNE = "10%"
DELETE_BATCH = 100  # keys deleted between checks of the stop flag


@dataclass(frozen=True)
class PruneLimit:
    """`--max-prune`: at most `count` renders, or `percent` of those under the prefix."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> PruneLimit:
        """`N` or `N%`; ValueError otherwise."""
        value = text.strip()
        if value.endswith("%"):
            percent = float(value[:-1])
            if not 0 <= percent <= 100:
                raise ValueError(f"{text!r}: a share must be 0% to 100%")
            return cls(percent=percent)
        if not value.isdigit():
            raise ValueError(f"{text!r} is not a number of renders (N) or a share (N%)")
        return cls(count=int(value))

    def of(self, total: int) -> int:
        if self.count is not None:
            return self.count
        return math.floor(total * (self.percent or 0.0) / 100)

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


class ListedPaths:
    """The originals a listing gave, as sorted 64-bit digests: membership without holding
    the paths. A collision makes a gone original look present: its renders are kept."""

    def __init__(self) -> None:
        self._digests = array("q")
        self._sorted = True

    def __len__(self) -> int:
        return len(self._digests)

    def add(self, path: str) -> None:
        self._digests.append(digest(path))
        self._sorted = False

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        if not self._sorted:
            # numpy sorts the array's own buffer: no Python int per original.
            ordered = np.sort(np.frombuffer(self._digests, dtype=np.int64))
            self._digests = array("q", ordered.tobytes())
            self._sorted = True
        wanted = digest(path)
        i = bisect_left(self._digests, wanted)
        return i < len(self._digests) and self._digests[i] == wanted


@dataclass(frozen=True)
class Orphan:
    """A render whose original the listing lacks; `marker` is its crop marker, if any."""

    key: str
    path: str
    marker: str | None = None


@dataclass
class PruneResult:
    total: int = 0  # renders under the prefix, in the shard
    keys: list[str] = field(default_factory=list)  # pruned, or would be in a dry run
    kept: int = 0  # candidates whose original a slave (or a second look) still had
    failures: list[KeyFailure] = field(default_factory=list)
    refused: str | None = None  # why nothing was pruned, when a guard stopped it


def prune(
    config: Config,
    store: RenderStore,
    source: Originals,
    listed: ListedPaths,
    *,
    prefix: str,
    shard: tuple[int, int],
    limit: PruneLimit,
    dry_run: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> PruneResult:
    """Prune the orphaned renders under `prefix` (see the module docstring); `listed` is
    every original the run's listing gave under `prefix` in this shard."""
    result = PruneResult()
    # Counted first, collected after: a share of the renders is known only once they are
    # all listed, and the orphans held must stay within it.
    candidates = sum(1 for _ in _scan(config, store, listed, prefix, shard, result))
    allowed = limit.of(result.total)
    if candidates and not len(listed):
        result.refused = (
            f"the master listed no original under {prefix or '(all)'!r} but the store holds "
            f"{result.total} renders there: nothing pruned (a wrong prefix or bucket?)"
        )
        return result
    if candidates > allowed:
        result.refused = (
            f"{candidates} of the {result.total} renders under {prefix or '(all)'!r} have no "
            f"original in the listing, over --max-prune {limit} ({allowed}): nothing pruned; "
            f"check the master, then rerun with --max-prune {candidates} to prune them"
        )
        return result
    if not candidates:
        return result
    # Listed again (new uploads may have come and gone since: at most `allowed` are held,
    # and each is confirmed with the chain before it goes).
    orphans = list(islice(_scan(config, store, listed, prefix, shard, PruneResult()), allowed))
    gone = _confirmed_gone(source, orphans, result)
    if dry_run:
        result.keys = [o.key for o in gone]
        return result
    _delete(store, source, CdnPurge(config), gone, result, stop)
    return result


def _scan(
    config: Config,
    store: RenderStore,
    listed: ListedPaths,
    prefix: str,
    shard: tuple[int, int],
    result: PruneResult,
) -> Iterator[Orphan]:
    """Every render under `prefix` in the shard whose original `listed` lacks, counting
    all of them in `result.total`: one listing per size, and one of the crop markers."""
    extensions = config.limits.extensions

    def ours(path: str) -> bool:
        return path.startswith(prefix) and in_shard(path, *shard)

    for dims in render_dimensions(config, store):
        for info in store.list(f"{dims}/{prefix}"):
            url = parse_render_key(info.key, extensions)
            if url is None or url.crop is not None or not ours(url.path):
                continue  # not a render, a crop (found by its marker below), or not ours
            result.total += 1
            if url.path not in listed:
                yield Orphan(info.key, url.path)
    for info in store.list(CROP_MARKER_PREFIX + prefix):
        key = render_key_of_crop_marker(info.key, extensions)
        url = None if key is None else parse_render_key(key, extensions)
        if key is None or url is None or not ours(url.path):
            continue
        result.total += 1
        if url.path not in listed:
            yield Orphan(key, url.path, info.key)


def _confirmed_gone(source: Originals, orphans: list[Orphan], result: PruneResult) -> list[Orphan]:
    """The orphans whose original the chain confirms gone; the rest are kept."""
    verdict: dict[str, bool] = {}
    for path in dict.fromkeys(o.path for o in orphans):
        try:
            source.find(path)
            logger.info("prune: %s is not in the listing but the chain has it; kept", path)
            verdict[path] = False
        except OriginalNotFound:
            verdict[path] = True
        except PhizerError as exc:
            result.failures.append(KeyFailure(path, f"cannot tell if it is gone: {exc.message}"))
            verdict[path] = False
    gone = [o for o in orphans if verdict[o.path]]
    result.kept = len(orphans) - len(gone)
    return gone


def _delete(
    store: RenderStore,
    source: Originals,
    cdn: CdnPurge,
    gone: list[Orphan],
    result: PruneResult,
    stop: Callable[[], bool],
) -> None:
    for start in range(0, len(gone), DELETE_BATCH):
        if stop():
            return
        batch = gone[start : start + DELETE_BATCH]
        failures = store.delete([o.key for o in batch])
        failed = {f.key for f in failures}
        deleted = [o for o in batch if o.key not in failed]
        failures += store.delete([o.marker for o in deleted if o.marker is not None])
        result.keys += [o.key for o in deleted]
        result.failures += failures
        result.failures += cdn.purge(o.key for o in deleted)
    if stop():
        return
    paths = list(dict.fromkeys(o.path for o in gone))
    result.failures += store.delete([record_key(path) for path in paths])
    for path in paths:
        try:
            source.forget(path)
        except PhizerError as exc:
            result.failures.append(KeyFailure(path, exc.message))
