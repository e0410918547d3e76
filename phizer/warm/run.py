"""`phizer warm`: pre-render every configured size (and format variant) of many originals.

A straight line: resolve the options, learn which renders are fresh (`phizer.warm.freshness`),
stream the originals (master listing or --from-file), keep those in this shard, and hand each
original with stale renders to the worker pool as one job, so it is fetched and decoded once
for all of its sizes. The listing is never held in memory: a bounded window of jobs in flight
throttles it. Results arrive on the pool's thread and are tallied there.

Interrupted (SIGINT/SIGTERM), warm stops submitting, lets running renders finish, cancels the
queued ones, prints what it did and exits 128 + the signal. Renders are written atomically by
the store and the size markers are written before any render, so even after SIGKILL the next
run simply finishes the job.

Over the usual size because it is the one straight line of a run, read top to bottom; the
shared state (`tally`), freshness and progress are modules of their own.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from typing import TextIO

from phizer.base.errors import ConfigError, OriginalNotFound, PhizerError
from phizer.base.formats import VARIANT_FORMATS
from phizer.base.models import OriginalInfo, RenderTarget, SizeSpec
from phizer.base.paths import read_paths
from phizer.base.urls import check_original_path
from phizer.config import Config
from phizer.lifecycle.prune import (
    DEFAULT_MAX_PRUNE,
    ListedPaths,
    PruneLimit,
    PruneResult,
    prune,
)
from phizer.manifest.build import AskedRenders, ListedRenders, ManifestRun, Renders, entries
from phizer.manifest.output import manifest_file, write_entries
from phizer.pool.jobs import JobResult, RenderJob, in_shard, usable_cores
from phizer.pool.targets import make_targets
from phizer.sources import Originals
from phizer.sources.build import build_source
from phizer.stores.build import build_store
from phizer.warm.freshness import Freshness, load_freshness
from phizer.warm.progress import Progress
from phizer.warm.tally import Interrupt, Tally, Window

logger = logging.getLogger(__name__)

JOBS_PER_WORKER = 4  # enough queued work that no worker waits for the listing
# Jobs held beyond that, so the pool's biggest-first has a choice: with only a few jobs in
# view, a big original late in a listing is started when it is reached and can finish the
# run alone (a 12-megapixel PNG takes far longer than a small JPEG). A job held is a path and
# its targets, so memory stays flat whatever the listing's length.
LOOKAHEAD = 64


def worker_config(config: Config) -> Config:
    """The config warm's render workers run with: no originals kept in memory. A warm run
    fetches each original once, so the memory LRU (`[cache] memory_bytes`, 100 MB a
    worker by default) would only hold originals no job asks for again; it is serve's.
    The disk cache, which later runs and serve do read, stays."""
    return replace(config, cache=replace(config.cache, memory_bytes=0))


@dataclass(frozen=True)
class WarmOptions:
    prefix: str
    from_file: TextIO | None
    sizes: tuple[SizeSpec, ...]
    variants: tuple[str | None, ...]
    workers: int
    shard: tuple[int, int]
    force: bool
    dry_run: bool
    as_json: bool
    max_failures: int
    prune: bool = False
    max_prune: PruneLimit = PruneLimit.parse(DEFAULT_MAX_PRUNE)
    manifest: str | None = None  # a file for the manifest of this run's originals


def resolve_options(
    config: Config,
    *,
    prefix: str = "",
    from_file: TextIO | None = None,
    size_names: tuple[str, ...] = (),
    formats: tuple[str, ...] | None = None,
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
    force: bool = False,
    dry_run: bool = False,
    as_json: bool = False,
    max_failures: int = 0,
    prune: bool = False,
    max_prune: str | None = None,
    manifest: str | None = None,
) -> WarmOptions:
    """The command line's options checked against the config, as the one typed object the
    run takes; ConfigError (exit 2) names what is wrong. `formats` None: the config's."""
    sizes = tuple(config.size(n) for n in size_names) if size_names else config.sizes
    chosen = formats if formats is not None else config.output.formats
    for fmt in chosen:
        if fmt not in VARIANT_FORMATS:
            raise ConfigError(
                f"--formats: unknown format {fmt!r} (known: {', '.join(VARIANT_FORMATS)})"
            )
    variants = (None, *dict.fromkeys(chosen))
    if prune and from_file is not None:
        raise ConfigError(
            "--prune needs the master's listing to compare with: not with --from-file"
        )
    if max_prune is not None and not prune:
        raise ConfigError("--max-prune goes with --prune")
    try:
        limit = PruneLimit.parse(max_prune or DEFAULT_MAX_PRUNE)
    except ValueError as exc:
        raise ConfigError(f"--max-prune: {exc}") from None
    return WarmOptions(
        prefix,
        from_file,
        tuple(dict.fromkeys(sizes)),
        variants,
        workers or usable_cores(),
        shard or (0, 1),
        force,
        dry_run,
        as_json,
        max_failures,
        prune,
        limit,
        manifest,
    )


def main_warm(
    config: Config, opts: WarmOptions, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run warm as the CLI does; returns the exit status (0, 1, 2, or 128 + signal)."""
    out, err = out or sys.stdout, err or sys.stderr
    with Interrupt() as interrupt:
        tally = Warm(config, opts, interrupt, out, err).run()
    if opts.as_json:
        out.write(json.dumps(tally.summary(opts.dry_run)) + "\n")
    else:
        err.write(tally.line(opts.dry_run) + "\n")
    out.flush()
    if interrupt.signum:
        return 128 + interrupt.signum
    return 1 if tally.failed > opts.max_failures or tally.fatal or tally.prune_failed else 0


class Warm:
    """One run: the listing on this thread, results tallied on the pool's thread."""

    def __init__(
        self, config: Config, opts: WarmOptions, interrupt: Interrupt, out: TextIO, err: TextIO
    ) -> None:
        self.config, self.opts, self.interrupt, self.out = config, opts, interrupt, out
        self.source: Originals = build_source(config)
        self.tally = Tally()
        self.listed = ListedPaths()  # for --prune: every original of the run's listing
        # For --manifest: this run's originals, one a line, spooled to disk past 1 MB.
        self.paths = tempfile.SpooledTemporaryFile(1 << 20, mode="w+", encoding="utf-8")
        self.progress = Progress(err, tty=err.isatty(), enabled=not opts.dry_run)

    def run(self) -> Tally:
        try:
            freshness = self._freshness()
            if self.opts.dry_run:
                self._dry_run(freshness)
            else:
                self._render(freshness)
        except ConfigError:
            raise
        except PhizerError as exc:  # the listing or the store failed: the run cannot go on
            logger.error("warm stopped: %s", exc.message)
            self.tally.fail(self.opts.prefix or "(listing)", exc.message, fatal=True)
        if self.opts.prune:
            self._prune()
        if self.opts.manifest and not self.opts.dry_run:
            self._manifest(self.opts.manifest)
        self.paths.close()
        self.progress.close(self.tally.counts())
        return self.tally

    def _freshness(self) -> Freshness:
        if self.opts.force:
            return Freshness.nothing()
        return load_freshness(
            self.config,
            build_store(self.config),
            self.opts.sizes,
            self.opts.prefix,
            self.opts.shard,
            self.opts.dry_run,
        )

    def _prune(self) -> None:
        """After a whole run only: an interrupted or failed one has an incomplete listing."""
        if self.interrupt.event.is_set() or self.tally.fatal:
            self.tally.pruned(PruneResult(refused="the run did not finish: nothing pruned"))
            return
        opts = self.opts
        try:
            result = prune(
                self.config,
                build_store(self.config),
                self.source,
                self.listed,
                prefix=opts.prefix,
                shard=opts.shard,
                limit=opts.max_prune,
                dry_run=opts.dry_run,
                stop=self.interrupt.event.is_set,
            )
        except PhizerError as exc:  # the store's listing failed: nothing was deleted yet
            result = PruneResult(refused=f"cannot list the render store: {exc.message}")
        self.tally.pruned(result)
        if opts.dry_run and not opts.as_json:
            self.out.write("".join(f"prune {key}\n" for key in result.keys))

    def _manifest(self, out: str) -> None:
        """The manifest of the originals this run listed (rendered, skipped or failed:
        those that failed have no record, and are named in the run's failures)."""
        if self.interrupt.event.is_set() or self.tally.fatal:
            logger.error("warm --manifest: the run did not finish; no manifest written")
            self.tally.fail(out, "the run did not finish: no manifest written", fatal=True)
            return
        config, opts = self.config, self.opts
        store = build_store(config)
        renders: Renders = (
            AskedRenders(store) if opts.from_file else ListedRenders(store, opts.sizes, opts.prefix)
        )
        self.paths.seek(0)
        originals = ((line.rstrip("\n"), None) for line in self.paths)
        run = ManifestRun()
        try:
            with manifest_file(out) as fh:
                items = entries(config, store, self.source, originals, opts.sizes, renders, run)
                write_entries(items, fh)
        except (OSError, PhizerError) as exc:
            message = exc.message if isinstance(exc, PhizerError) else str(exc)
            self.tally.fail(out, f"cannot write the manifest: {message}", fatal=True)
            return
        for path, message in run.failures:  # no entry: the run's failures say why
            self.tally.fail(path, f"not in the manifest: {message}")

    def _dry_run(self, freshness: Freshness) -> None:
        for _path, _known, stale in self._plan(freshness):
            self.tally.would_render(stale)
            if not self.opts.as_json:
                self.out.write("".join(f"{t.key}\n" for t in stale))

    def _render(self, freshness: Freshness) -> None:
        """Submit every original with stale renders. The pool starts with the first such
        original, so a no-op run never starts a worker; a listing that fails midway still
        lets the renders already submitted finish."""
        from phizer.pool.workers import Pool, make_pool

        workers = self.opts.workers
        window = Window(workers * JOBS_PER_WORKER + LOOKAHEAD, self.interrupt.event)
        pool: Pool | None = None
        try:
            for path, known, stale in self._plan(freshness):
                if not window.enter():
                    break  # interrupted while waiting for room
                if pool is None:
                    pool = make_pool(
                        worker_config(self.config),
                        workers,
                        None,  # the window bounds what warm submits
                        affinity=False,
                        fork=True,
                    )
                future = pool.submit(RenderJob(path, tuple(stale), known, force=self.opts.force))
                future.add_done_callback(partial(self._done, window))
        finally:
            window.drain()
            if pool is not None:
                pool.close(cancel=self.interrupt.signum is not None)

    def _done(self, window: Window, future: Future[JobResult]) -> None:
        try:
            if not future.cancelled():
                self.tally.record(future.result())
                self.progress.update(self.tally.counts())
        finally:
            window.leave()

    def _plan(
        self, freshness: Freshness
    ) -> Iterator[tuple[str, OriginalInfo | None, list[RenderTarget]]]:
        """Each original of this run with the renders it still needs; fully fresh ones are
        counted as skipped and go no further."""
        for path, known in self._originals():
            if self.interrupt.event.is_set():
                return
            self.tally.original()
            targets = make_targets(self.config, path, self.opts.sizes, self.opts.variants)
            if not self.opts.force:
                known, stale = self._stale(path, known, targets, freshness)
                self.tally.skip(len(targets) - len(stale), whole=not stale)
                targets = stale
            if targets:
                yield path, known, targets
            else:
                self.progress.update(self.tally.counts())

    def _stale(
        self,
        path: str,
        known: OriginalInfo | None,
        targets: list[RenderTarget],
        freshness: Freshness,
    ) -> tuple[OriginalInfo | None, list[RenderTarget]]:
        """The renders of `path` that are not fresh. A --from-file path comes without its
        time: the master is asked (a HEAD, never a GET), and only when every render exists,
        the one case where the time decides anything. A path the master lacks is a
        slave-only original: its renders stand as they are."""
        if known is None and all(freshness.exists(t.key) for t in targets):
            try:
                known = self.source.stat(path)
            except OriginalNotFound:
                pass
            except PhizerError as exc:
                logger.warning(
                    "%s: cannot learn the original's age (%s); re-rendering", path, exc.message
                )
                return None, targets
        when = known.last_modified if known else None
        return known, [t for t in targets if not freshness.is_fresh(t.key, when)]

    def _originals(self) -> Iterator[tuple[str, OriginalInfo | None]]:
        """(path, what the listing knows) for each original of this shard, streamed. The
        listing is made once: when it ends, its count becomes the progress bar's total, which
        gives the rest of the run an ETA."""
        opts, extensions = self.opts, self.config.limits.extensions
        count = 0
        listed = read_paths(opts.from_file) if opts.from_file else self.source.list(opts.prefix)
        for item in listed:
            path = item if isinstance(item, str) else item.path
            if not self._wanted(path):
                continue
            if opts.prune:
                self.listed.add(path)
            try:
                check_original_path(path, extensions)
            except PhizerError as exc:
                if opts.from_file:  # asked for by name: say why it was not rendered
                    self.tally.original()
                    self.tally.skip(0, whole=True)
                    self.tally.fail(path, exc.message)
                else:
                    logger.debug("not an original: %s (%s)", path, exc.message)
                continue
            count += 1
            if opts.manifest:
                self.paths.write(path + "\n")
            yield path, None if isinstance(item, str) else item
        self.progress.set_total(count)

    def _wanted(self, path: str) -> bool:
        return path.startswith(self.opts.prefix) and in_shard(path, *self.opts.shard)
