"""Reading an original's record from the render store (`phizer.base.records`): the pipeline
reads it for the focal point it may reuse, the manifest and `GET /info` for everything."""

from __future__ import annotations

from phizer.base.keys import record_key
from phizer.base.records import Record, record_from_json
from phizer.stores import RenderStore

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
