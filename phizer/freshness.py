"""Which renders `phizer warm` may skip, decided without downloading a single original.

A render is fresh when it exists, is at least as new as its original, and was made under the
size's current settings. The settings are tracked by one marker object per size in the render
store (`.phizer/sizes/220x220.json`, holding `SizeSpec.fingerprint`). When warm finds the
marker missing or holding another fingerprint it writes a new one *before* rendering, so

    fresh  <=>  render.last_modified >= original.last_modified
           and  render.last_modified >= marker.last_modified

Both times of the second test come from the store's own clock, so the rule holds across
shards and machines, and a run interrupted after the marker was rewritten is finished by the
next run (what it did not re-render is still older than the marker).

Cost: the store is listed once per size (`220x220/{prefix}`), never one HEAD per render, and
the fresh renders are held as a dict of key -> time (~150 bytes a render: a million originals
at four sizes is ~600 MB; `--shard K/N` keeps only its own 1/N). Edge: on a store with
one-second times (S3), an old-settings render written in the very second the marker is
rewritten counts as fresh; `--force` re-renders everything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from phizer.config import Config
from phizer.jobs import in_shard
from phizer.models import SizeSpec
from phizer.stores import RenderStore

logger = logging.getLogger(__name__)

MARKER_PREFIX = ".phizer/sizes/"


def marker_key(spec: SizeSpec) -> str:
    return f"{MARKER_PREFIX}{spec.dimensions}.json"


def fingerprint(config: Config, spec: SizeSpec) -> str:
    return spec.fingerprint(config.output.keep_metadata, config.output.canvas)


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
    body = json.dumps({"size": spec.name, "fingerprint": print_}, indent=1).encode()
    info = store.put(marker_key(spec), body, "application/json")
    logger.info(
        "size %s (%s): new settings, every render of it will be remade", spec.name, spec.dimensions
    )
    return Marker(print_, info.last_modified)


class Freshness:
    """The fresh renders of the sizes being warmed, from one store listing per size."""

    def __init__(self, renders: dict[str, float]) -> None:
        self._renders = renders

    def __len__(self) -> int:
        return len(self._renders)

    def exists(self, key: str) -> bool:
        """A render made under the current settings exists (its original's age aside)."""
        return key in self._renders

    def is_fresh(self, key: str, original_time: float | None) -> bool:
        """`original_time` None: the original's age is unknown (a slave-only original), so a
        render made under the current settings is kept."""
        made = self._renders.get(key)
        if made is None:
            return False
        return original_time is None or made >= original_time

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
    renders: dict[str, float] = {}
    for spec in sizes:
        current = fingerprint(config, spec)
        marker = read_marker(store, spec)
        if marker is None or marker.fingerprint != current:
            if not dry_run:
                write_marker(store, spec, current)
            continue
        renders.update(_list_fresh(store, spec, prefix, marker.last_modified, shard))
    return Freshness(renders)


def _list_fresh(
    store: RenderStore, spec: SizeSpec, prefix: str, since: float, shard: tuple[int, int]
) -> Iterable[tuple[str, float]]:
    head = f"{spec.dimensions}/"
    for info in store.list(head + prefix):
        if info.last_modified < since:
            continue  # made before the settings changed
        rest = info.key[len(head) :]
        # A variant key is its original's path plus one extension: keep the key when either
        # reading is in this shard (an extra entry is harmless, a missing one is not).
        if shard[1] == 1 or any(in_shard(p, *shard) for p in (rest, rest.rpartition(".")[0])):
            yield info.key, info.last_modified
