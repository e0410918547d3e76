"""Manifest entries for many originals, without opening a render and without fetching an
original whose record is current.

Records are read from the store eight at a time (a small GET each). An original with no
record, or one made from another version of it (the listing's validators say), is fetched
and described once (`engine.render.describe`: a decode DCT-scaled to the placeholder's
size) and its record written, so the next manifest finds it current. Which renders exist
comes from one listing per size under the prefix (`ListedRenders`, 16 bytes a render in
memory), or, for a handful of originals, from asking the store about each one's possible
keys (`AskedRenders`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

from phizer.base.errors import PhizerError
from phizer.base.keyindex import KeyIndex
from phizer.base.models import OriginalInfo, SizeSpec
from phizer.base.records import Record
from phizer.base.urls import check_original_path
from phizer.config import Config
from phizer.manifest.entries import Entry, candidate_keys, entry
from phizer.pool.jobs import in_shard
from phizer.pool.records import read_record, write_record
from phizer.sources import Originals
from phizer.stores import RenderStore

logger = logging.getLogger(__name__)

READERS = 8  # records read at once: each is a round trip, not work
BATCH = 64  # originals whose records are read before their entries are yielded


class Renders(Protocol):
    def of(self, path: str, sizes: Sequence[SizeSpec]) -> Callable[[str], int | None]:
        """For one original: a render key's size in bytes, None when it has no render."""
        ...


class ListedRenders:
    """Every render under a prefix, from one listing per size: for a whole manifest."""

    def __init__(self, store: RenderStore, sizes: Sequence[SizeSpec], prefix: str) -> None:
        self._index = {
            spec.dimensions: KeyIndex(
                (info.key, float(info.size)) for info in store.list(f"{spec.dimensions}/{prefix}")
            )
            for spec in sizes
        }

    def of(self, path: str, sizes: Sequence[SizeSpec]) -> Callable[[str], int | None]:
        def stored(key: str) -> int | None:
            index = self._index.get(key.partition("/")[0])
            size = None if index is None else index.get(key)
            return None if size is None else int(size)

        return stored


class AskedRenders:
    """Each original's possible keys asked of the store (`existing`): for a few originals."""

    def __init__(self, store: RenderStore) -> None:
        self.store = store

    def of(self, path: str, sizes: Sequence[SizeSpec]) -> Callable[[str], int | None]:
        keys = [key for _, key in candidate_keys(path, sizes)]
        found = {info.key: info.size for info in self.store.existing(keys)}
        return found.get


@dataclass
class ManifestRun:
    """What building a manifest did besides its entries: records it had to make (each an
    original fetched), and the originals it could not describe."""

    made: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def make_record(
    config: Config, store: RenderStore, source: Originals, path: str, known: OriginalInfo | None
) -> Record:
    """Fetch and describe the original, and store its record; PhizerError when it cannot."""
    # Imported here: Pillow and the engine are a render worker's, not serve's front end's.
    from phizer.engine.render import describe

    original = source.fetch(path, known)
    return write_record(store, config, original, describe(original.data, config.limits))


def entries(
    config: Config,
    store: RenderStore,
    source: Originals,
    originals: Iterable[tuple[str, OriginalInfo | None]],
    sizes: Sequence[SizeSpec],
    renders: Renders,
    run: ManifestRun,
) -> Iterator[Entry]:
    """An entry for each of `originals` (path, what its listing said, or None: then a
    record that exists is current), in order; what fails is in `run.failures`."""
    items = iter(originals)
    with ThreadPoolExecutor(READERS, thread_name_prefix="phizer-record") as pool:
        while batch := list(islice(items, BATCH)):
            records = pool.map(lambda item: read_record(store, item[0]), batch)
            for (path, known), record in zip(batch, records, strict=True):
                if record is None or (known is not None and not record.describes(known)):
                    try:
                        record = make_record(config, store, source, path, known)
                    except PhizerError as exc:
                        logger.warning("%s: no manifest entry: %s", path, exc.message)
                        run.failures.append((path, exc.message))
                        continue
                    run.made += 1
                yield entry(record, sizes, renders.of(path, sizes))


def listed_originals(
    config: Config, source: Originals, prefix: str, shard: tuple[int, int] = (0, 1)
) -> Iterator[tuple[str, OriginalInfo | None]]:
    """The originals under `prefix` (in `shard`) as the master lists them, with what the
    listing says of each; paths that are not an original's are skipped."""
    for info in source.list(prefix):
        if not (info.path.startswith(prefix) and in_shard(info.path, *shard)):
            continue
        try:
            check_original_path(info.path, config.limits.extensions)
        except PhizerError:
            continue
        yield info.path, info
