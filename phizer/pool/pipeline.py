"""The one place that sequences fetch -> render -> store, shared by warm and serve.

A `Pipeline` lives in one process (a worker, or the server thread when `workers = 0`); it
owns that process's source chain (with its originals cache) and its render store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from phizer.base.errors import StoreError
from phizer.base.formats import INPUT_EXTENSIONS
from phizer.base.keys import crop_marker_key, parse_render_key
from phizer.base.models import (
    KnownFocus,
    Original,
    OriginalInfo,
    Picture,
    Rendered,
    RenderOutcome,
    RenderTarget,
    StoredInfo,
)
from phizer.base.records import Record
from phizer.config import Config
from phizer.engine import jpeg_eighths
from phizer.engine.focus import parse_hint
from phizer.engine.render import iter_described
from phizer.pool.records import read_record, write_record
from phizer.sources import Originals
from phizer.sources.build import build_source
from phizer.stores import RenderStore
from phizer.stores.build import build_store

ORIGINAL_METADATA = "phizer-original"
MARKER_TYPE = "application/octet-stream"
# A job's renders being written at once: the configured sizes times their format variants
# are rarely more than this, and each write is mostly waiting on the store.
UPLOAD_THREADS = 4


class Pipeline:
    def __init__(self, config: Config, source: Originals, store: RenderStore) -> None:
        self.config = config
        self.source = source
        self.store = store
        # warm's uploads: one original's renders in flight at once (see render_and_store).
        self._uploads = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="phizer-store")

    @classmethod
    def from_config(cls, config: Config) -> Pipeline:
        """The pipeline a render worker (or `workers = 0`'s server) keeps for its life; made
        as it starts, so the engine's imports are paid then rather than by a client's miss."""
        jpeg_eighths.preload()
        return cls(config, build_source(config), build_store(config))

    def fetch(self, path: str, known: OriginalInfo | None = None) -> Original:
        """The original, through the originals cache (`known`, from a listing, lets a cached
        copy skip revalidation)."""
        return self.source.fetch(path, known)

    def render_and_store(
        self,
        original: Original,
        targets: Sequence[RenderTarget],
        *,
        awaited: bool = False,
        first_threads: int = 1,
        reuse_focus: bool = True,
    ) -> Iterator[RenderOutcome]:
        """Render each target, in `targets` order, from one decode of `original`, storing
        each render as soon as it exists. A store failure is logged and reported
        (`stored=False`), not raised: serve can still answer with the image.
        `awaited` (serve's miss): a client waits for the first target, decoded for it
        first (see `iter_renders`); the others follow from the same decode only where the
        store does not hold them yet, asked once the first is stored, so the client never
        waits for those stats. Rewriting a stored render would waste the work and change its
        ETag and Last-Modified under every cache that holds it. `first_threads`: see
        `iter_renders`. `reuse_focus`: a focal point the original's record holds for this
        version of it is used rather than looked for again (`warm --force` looks again)."""
        path = original.path
        config = self.config
        markers = {t.key: marker for t in targets if (marker := _crop_marker(t))}
        sources = config.focus.sources
        previous = self._record_of(path) if sources else None
        known = known_focus(original, sources, previous if reuse_focus else None)
        items = iter_described(
            original.data,
            targets,
            config.output,
            config.limits,
            awaited=awaited,
            first_threads=first_threads,
            wanted=self._not_stored if awaited else None,
            focus_sources=sources,
            known_focus=known,
        )
        renders = self._recording(items, original, previous)
        if awaited:  # each stored before the next is made: the client waits on the first
            for rendered in renders:
                yield _outcome(rendered, self._store(rendered, path, markers.get(rendered.key)))
            return
        # warm: each render is stored while the next is made (an S3 PUT is a round trip the
        # engine need not wait for), and reported in order once stored.
        storing: deque[tuple[Rendered, Future[StoredInfo | None]]] = deque()
        try:
            for rendered in renders:
                marker = markers.get(rendered.key)
                storing.append(
                    (rendered, self._uploads.submit(self._store, rendered, path, marker))
                )
                while storing and storing[0][1].done():
                    done, stored = storing.popleft()
                    yield _outcome(done, stored.result())
            while storing:  # the last writes, waited for in order
                done, stored = storing.popleft()
                yield _outcome(done, stored.result())
        finally:
            # Never leave a job with writes still under way (a clean stop, an error).
            wait([f for _, f in storing])

    def _recording(
        self, items: Iterator[Rendered | Picture], original: Original, previous: Record | None
    ) -> Iterator[Rendered]:
        """The renders of `items`; the `Picture` the engine ends with becomes the original's
        record in the store (see `phizer.base.records`). A record that cannot be written
        is logged and left for the next job: the renders stand without it."""
        for item in items:
            if isinstance(item, Rendered):
                yield item
                continue
            try:
                write_record(self.store, self.config, original, item, previous)
            except StoreError:
                pass  # the store logged it where it translated the error

    def _record_of(self, path: str) -> Record | None:
        """The original's record, for a focal point to reuse; None when the store cannot
        say (the job then looks for the point itself: a store failure never fails it)."""
        try:
            return read_record(self.store, path)
        except StoreError:
            return None

    def _not_stored(self, target: RenderTarget) -> bool:
        try:
            return self.store.stat(target.key) is None
        except StoreError:
            return True  # render it: storing may work again by then

    def _store(self, rendered: Rendered, path: str, marker: str | None) -> StoredInfo | None:
        """Store one render; a crop render's marker first (see `phizer.base.keys`), so no
        crop render is ever stored that a purge of its original cannot find."""
        try:
            if marker is not None:
                self.store.put(marker, b"", MARKER_TYPE)
            return self.store.put(
                rendered.key, rendered.data, rendered.content_type, {ORIGINAL_METADATA: path}
            )
        except StoreError:
            return None  # the store logged it where it translated the error


def _outcome(rendered: Rendered, info: StoredInfo | None) -> RenderOutcome:
    data = rendered.data
    key, content_type = rendered.key, rendered.content_type
    return RenderOutcome(
        key, content_type, len(data), rendered.width, rendered.height, info is not None, data, info
    )


def _crop_marker(target: RenderTarget) -> str | None:
    if target.crop is None:
        return None
    url = parse_render_key(target.key, INPUT_EXTENSIONS)
    return None if url is None else crop_marker_key(url)


def known_focus(
    original: Original, sources: tuple[str, ...], record: Record | None
) -> KnownFocus | None:
    """A focal point settled already: the master's `focus` metadata (with "metadata" among
    the sources), else the record's, when it was found by the same sources in the same
    version of the original. None: look for one."""
    if not sources:
        return None
    if "metadata" in sources and original.focus_hint:
        hinted = parse_hint(original.focus_hint)
        if hinted is not None:
            return KnownFocus(hinted)
    if (
        record is not None
        and record.focus_sources == ",".join(sources)
        and record.focus_made is not None
        and record.describes(original.info)
    ):
        return KnownFocus(record.focus)
    return None
