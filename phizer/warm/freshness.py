"""Which renders `phizer warm` may skip, decided without downloading a single original.

A render is fresh when it exists, is at least as new as its original, and was made under the
size's current settings. The settings are tracked by one marker object per size in the render
store (`.phizer/sizes/220x220.json`, holding `SizeSpec.fingerprint`). When warm finds the
marker missing or holding another fingerprint it writes a new one *before* rendering, so

    fresh  <=>  render.last_modified >= original.last_modified
           and  render.last_modified >  marker.last_modified

Both times of the second test come from the store's own clock, so the rule holds across
shards and machines, and a run interrupted after the marker was rewritten is finished by the
next run (what it did not re-render is still older than the marker). The store's clock is
coarse (S3: whole seconds; a filesystem: its clock tick), so a render written just *before*
the marker, under the old settings, can carry the marker's very time: hence "later than",
and warm, having written a marker, waits until the store's clock has moved past it (a probe
object, `.phizer/clock`, written until its time is later: at most a second on S3) before it
renders anything, so that every render under the new settings is strictly later.

Cost: the store is listed once per size (`220x220/{prefix}`), never one HEAD per render, and
the fresh renders are held per size as two arrays sorted by a 64-bit digest of the key (16
bytes a render: a million originals at four sizes is ~64 MB, where a dict of key -> time
would take many times that). Sorting borrows memory for one size's renders at a time, and
`--shard K/N` keeps only its own 1/N. The price is CPU: a digest and a binary search a
render, small against the time it takes to list them. Two keys with the same digest would
make a stale render look fresh: for a million originals the odds are about one in 10^6 a
run.

Edge: a shard still running under the old settings after the marker was rewritten writes
renders that count as fresh; run shards with the same config (or `--force` after a change).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from phizer.base.keyindex import KeyIndex
from phizer.base.keys import CLOCK_KEY, size_marker_key
from phizer.base.models import SizeSpec
from phizer.config import Config
from phizer.pool.jobs import in_shard
from phizer.stores import RenderStore

logger = logging.getLogger(__name__)

# How long warm waits for the store's clock to pass a new marker's time (S3: one second).
CLOCK_WAIT_SECONDS = 5.0


def marker_key(spec: SizeSpec) -> str:
    return size_marker_key(spec.dimensions)


def fingerprint(config: Config, spec: SizeSpec) -> str:
    output = config.output
    return spec.fingerprint(output.keep_metadata, output.canvas, config.focus.sources)


@dataclass(frozen=True)
class Marker:
    fingerprint: str
    last_modified: float


def read_marker(store: RenderStore, spec: SizeSpec) -> Marker | None:
    """The size's marker, or None when it is missing or unreadable (then nothing is fresh)."""
    stored = store.open(marker_key(spec))
    if stored is None:
        return None
    try:
        body = stored.body.read(65536)
    finally:
        stored.body.close()
    try:
        value = json.loads(body)["fingerprint"]
    except (ValueError, KeyError, TypeError):
        logger.warning("%s is not a phizer size marker; treating it as missing", marker_key(spec))
        return None
    return Marker(str(value), stored.info.last_modified)


def write_marker(store: RenderStore, spec: SizeSpec, print_: str) -> Marker:
    """Write the size's marker; its time is the store's (a PUT to S3 answers no time)."""
    key = marker_key(spec)
    body = json.dumps({"size": spec.name, "fingerprint": print_}, indent=1).encode()
    info = store.put(key, body, "application/json")
    logger.info(
        "size %s (%s): new settings, every render of it will be remade", spec.name, spec.dimensions
    )
    written = store.stat(key)
    return Marker(print_, (written or info).last_modified)


def wait_past(store: RenderStore, when: float, timeout: float = CLOCK_WAIT_SECONDS) -> None:
    """Return once the store's own clock reads later than `when` (asked by writing the probe
    object `CLOCK_KEY` and reading its time back), or after `timeout`: then a render written
    in the same tick as the marker is remade once more by the next run, nothing worse.

    The probe is asked again after 5 ms, then twice as long each time up to 0.1 s: a local
    disk's clock ticks every few milliseconds, S3's every second."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        store.put(CLOCK_KEY, b"", "text/plain")
        probe = store.stat(CLOCK_KEY)
        if probe is None or probe.last_modified > when:
            return
        if time.monotonic() >= deadline:
            logger.warning("the render store's clock did not move past %s; going on", when)
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class Freshness:
    """The fresh renders of the sizes being warmed, from one store listing per size."""

    def __init__(self, by_size: dict[str, KeyIndex]) -> None:
        self._by_size = by_size  # by a key's first segment, the size's `WxH`

    def __len__(self) -> int:
        return sum(len(times) for times in self._by_size.values())

    def exists(self, key: str) -> bool:
        """A render made under the current settings exists (its original's age aside)."""
        return self._made(key) is not None

    def is_fresh(self, key: str, original_time: float | None) -> bool:
        """`original_time` None: the original's age is unknown (a slave-only original), so a
        render made under the current settings is kept."""
        made = self._made(key)
        if made is None:
            return False
        return original_time is None or made >= original_time

    def _made(self, key: str) -> float | None:
        times = self._by_size.get(key.partition("/")[0])
        return None if times is None else times.get(key)

    @classmethod
    def nothing(cls) -> Freshness:
        """For `--force`: every render is due."""
        return cls({})


def load_freshness(
    config: Config,
    store: RenderStore,
    sizes: Iterable[SizeSpec],
    prefix: str,
    shard: tuple[int, int] = (0, 1),
    dry_run: bool = False,
) -> Freshness:
    """Check (and, unless `dry_run`, renew) each size's marker, then list the store for the
    sizes whose marker held: a size with new settings has nothing fresh, so needs no listing."""
    by_size: dict[str, KeyIndex] = {}
    written: list[float] = []
    for spec in sizes:
        current = fingerprint(config, spec)
        marker = read_marker(store, spec)
        if marker is None or marker.fingerprint != current:
            if not dry_run:
                written.append(write_marker(store, spec, current).last_modified)
            continue
        # One size at a time, so only one size's listing is ever being sorted.
        by_size[spec.dimensions] = KeyIndex(
            _list_fresh(store, spec, prefix, marker.last_modified, shard)
        )
    if written:
        wait_past(store, max(written))  # so every render from here on is later than them
    return Freshness(by_size)


def _list_fresh(
    store: RenderStore, spec: SizeSpec, prefix: str, since: float, shard: tuple[int, int]
) -> Iterable[tuple[str, float]]:
    head = f"{spec.dimensions}/"
    for info in store.list(head + prefix):
        if info.last_modified <= since:
            continue  # made before the settings changed, or in the same tick
        rest = info.key[len(head) :]
        # A variant key is its original's path plus one extension: keep the key when either
        # reading is in this shard (an extra entry is harmless, a missing one is not).
        if shard[1] == 1 or any(in_shard(p, *shard) for p in (rest, rest.rpartition(".")[0])):
            yield info.key, info.last_modified
