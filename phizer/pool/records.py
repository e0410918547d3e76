"""An original's record in the render store (`phizer.base.records`): written from what a job
learned of the original (the pipeline's render jobs, the manifest's `describe`); read by the
pipeline for the focal point it may reuse, by the manifest and `GET /info` for everything."""

from __future__ import annotations

import time

from phizer.base.keys import record_key
from phizer.base.models import Original, Picture
from phizer.base.records import Record, record_from_json
from phizer.config import Config
from phizer.pool.targets import settings_fingerprint
from phizer.stores import RenderStore

RECORD_TYPE = "application/json"

MAX_RECORD_BYTES = 1 << 16


def read_record(store: RenderStore, path: str) -> Record | None:
    """The record of `path`, or None when there is none (or none this phizer can read)."""
    stored = store.open(record_key(path))
    if stored is None:
        return None
    try:
        data = stored.body.read(MAX_RECORD_BYTES)
    finally:
        stored.body.close()
    record = record_from_json(data)
    return record if record is not None and record.path == path else None


def write_record(
    store: RenderStore,
    config: Config,
    original: Original,
    picture: Picture,
    previous: Record | None = None,
) -> Record:
    """Store the record of `original` as `picture` describes it; StoreError when the store
    refuses. The focal point's time is now when the job looked for it, else the `previous`
    record's (the point came from it), else none (nothing was looked for: the next job
    looks)."""
    if picture.focus_computed:
        made: float | None = time.time()
    else:
        made = previous.focus_made if previous is not None else None
    record = Record(
        original.path,
        picture.width,
        picture.height,
        picture.placeholder,
        original.etag,
        len(original.data),
        original.last_modified,
        settings_fingerprint(config),
        picture.focus,
        ",".join(config.focus.sources),
        made,
    )
    store.put(record_key(original.path), record.to_json(), RECORD_TYPE)
    return record
