"""One original's manifest entry: its record, and each configured size and format variant
whose render exists, with that render's dimensions worked out by `engine.geometry` from the
record (the same `plan` the engine renders by, so they are the stored render's own).

    {"path": "photos/a.jpg", "width": 4032, "height": 3024, "placeholder": "1QcSHQ...",
     "focus": {"x1": 0.61, "y1": 0.2, "x2": 0.74, "y2": 0.38, "source": "faces"},
     "renders": [{"key": "220x220/photos/a.jpg", "size": "small", "width": 220,
                  "height": 220, "format": "jpeg", "bytes": 10342}, ...]}

Renders are listed size by size in the configured order, each size's own format first, then
its variants in `VARIANT_FORMATS` order. Crop renders are not listed: a page asks for those
by box. `bytes` is there when the store said (its listings always do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from phizer.base.keys import plain_render_keys
from phizer.base.models import SizeSpec
from phizer.base.records import Record
from phizer.base.urls import format_of_key
from phizer.engine.geometry import plan

Entry = dict[str, Any]


def candidate_keys(path: str, sizes: Sequence[SizeSpec]) -> list[tuple[SizeSpec, str]]:
    """Every render key `path` may have at `sizes`: its own format (a HEIC has none) and
    each variant, without repeats."""
    by_dims = {(s.width, s.height): s for s in sizes}
    return [(by_dims[dims], key) for dims, key in plain_render_keys(path, by_dims)]


def entry(record: Record, sizes: Sequence[SizeSpec], stored: Callable[[str], int | None]) -> Entry:
    """The entry of `record`'s original; `stored(key)` is a render's size in bytes, or None
    when there is no render under `key`."""
    renders = []
    for spec, key in candidate_keys(record.path, sizes):
        size = stored(key)
        if size is None:
            continue
        made = plan(spec, record.width, record.height)
        renders.append(
            {
                "key": key,
                "size": spec.name,
                "width": made.width,
                "height": made.height,
                "format": (format_of_key(key) or "").lower(),
                "bytes": size,
            }
        )
    focus = record.focus
    return {
        "path": record.path,
        "width": record.width,
        "height": record.height,
        "placeholder": record.placeholder,
        "focus": None if focus is None else asdict(focus),
        "renders": renders,
    }
