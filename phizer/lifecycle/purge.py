"""`phizer purge` and `phizer.purge()`: delete every render of named originals.

For each original: find its renders (`renders.find_renders`: every size with a marker or in
the config, every format variant, every crop its markers name), delete them, then the crop
markers of those deleted (a marker outlives its render, so a purge stopped between the two,
even by SIGKILL, is finished by running it again), drop the original from this host's
originals cache, and send the CDN's purge requests. The original itself is the
application's to delete. An original with no renders is not an error.

A running `phizer serve` needs no message: a miss revalidates a master's copy with the
master, and a slave's copy is trusted only while the host's disk cache holds it (see
`phizer.sources.cached`), which this drops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from phizer.base.errors import PhizerError
from phizer.base.keys import record_key
from phizer.base.models import KeyFailure
from phizer.base.urls import check_original_path
from phizer.config import Config
from phizer.lifecycle.cdn import CdnPurge
from phizer.lifecycle.renders import find_renders, render_dimensions
from phizer.sources.build import build_source
from phizer.stores.build import build_store


@dataclass(frozen=True)
class Purged:
    """One original's purge: the render keys deleted (or, in a dry run, that would be) and
    what failed (a store delete, the originals cache, a CDN request), each by key."""

    path: str
    keys: tuple[str, ...]
    failures: tuple[KeyFailure, ...] = ()


@dataclass
class PurgeReport:
    """What a purge did, summed over its originals; `as_json` is `phizer purge --json`."""

    originals: int = 0
    keys: list[str] = field(default_factory=list)
    failures: list[KeyFailure] = field(default_factory=list)
    dry_run: bool = False

    @property
    def deleted(self) -> int:
        return 0 if self.dry_run else len(self.keys)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    def add(self, purged: Purged) -> None:
        self.originals += 1
        self.keys.extend(purged.keys)
        self.failures.extend(purged.failures)

    def as_json(self) -> dict[str, object]:
        return {
            "originals": self.originals,
            "deleted": self.deleted,
            "keys": list(self.keys),
            "failed": self.failed,
            "failures": [{"key": f.key, "error": f.message} for f in self.failures],
            "dry_run": self.dry_run,
        }


def purge(config: Config, paths: Iterable[str], *, dry_run: bool = False) -> PurgeReport:
    """Delete every render of each original in `paths` (see the module docstring) and
    return what was done. A path that is not an original's is reported as a failure; a
    failing store raises nothing either: its keys are in `failures`, to try again.

        report = phizer.purge(config, ["photos/2024/a.jpg"])
        if not report.ok: ...
    """
    report = PurgeReport(dry_run=dry_run)
    for purged in iter_purge(config, paths, dry_run=dry_run):
        report.add(purged)
    return report


def iter_purge(config: Config, paths: Iterable[str], *, dry_run: bool = False) -> Iterator[Purged]:
    """`purge`, one original at a time (the CLI streams its output from this)."""
    store, source, cdn = build_store(config), build_source(config), CdnPurge(config)
    dimensions = render_dimensions(config, store)
    for path in paths:
        try:
            check_original_path(path, config.limits.extensions)
            found = find_renders(store, path, dimensions)
        except PhizerError as exc:
            yield Purged(path, (), (KeyFailure(path, exc.message),))
            continue
        if dry_run:
            yield Purged(path, found.keys)
            continue
        failures = store.delete(found.keys)
        failed = {f.key for f in failures}
        gone = tuple(key for key in found.keys if key not in failed)
        failures += store.delete(found.markers_of(set(gone)))
        if not failed:  # the record goes last: a rerun must still find what is left
            failures += store.delete([record_key(path)])
        try:
            source.forget(path)
        except PhizerError as exc:
            failures.append(KeyFailure(path, exc.message))
        failures += cdn.purge(gone)
        yield Purged(path, gone, tuple(failures))
