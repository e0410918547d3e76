"""The per-original record: what phizer learned of an original when it last rendered it,
kept in the render store beside its renders (`.phizer/originals/{path}.json`), so a page's
manifest and `GET /info` need no original and no render opened.

Every render's dimensions follow from the record's width and height and the size's settings
(`phizer.engine.geometry.plan`), so the record lists none of them. `original` holds the
validators of the bytes it describes, so a listing tells whether it is still current;
`settings` fingerprints the sizes it was made under (for whoever reads the record: a page
can tell records of two configurations apart; phizer itself does not need it). `focus` is
the photo's focal point as `focus_sources` found it (None: none found), `focus_made` when it
was looked for: a later job with the same sources and the same version of the original
reuses it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from phizer.base.models import Focus, OriginalInfo

VERSION = 1


@dataclass(frozen=True)
class Record:
    path: str
    width: int  # as displayed, after the EXIF orientation
    height: int
    placeholder: str  # ThumbHash, base64
    etag: str | None
    size: int | None  # bytes
    last_modified: float | None
    settings: str
    focus: Focus | None = None
    focus_sources: str = ""  # `[focus] sources` joined by commas; "" when none
    focus_made: float | None = None  # seconds since the epoch

    def describes(self, info: OriginalInfo) -> bool:
        """Whether `info` (a listing's or a stat's) is the version this record was made
        from: the same ETag when both have one, else the same size and time."""
        if self.etag and info.etag:
            return self.etag == info.etag
        return (
            self.size is not None
            and self.size == info.size
            and self.last_modified is not None
            and self.last_modified == info.last_modified
        )

    def to_json(self) -> bytes:
        return json.dumps({"v": VERSION, **asdict(self)}, separators=(",", ":")).encode()


def record_from_json(data: bytes) -> Record | None:
    """The record in `data`, or None when it is not one this version of phizer wrote."""
    try:
        raw: Any = json.loads(data)
        if raw.get("v") != VERSION:
            return None
        return Record(
            path=str(raw["path"]),
            width=int(raw["width"]),
            height=int(raw["height"]),
            placeholder=str(raw["placeholder"]),
            etag=raw["etag"],
            size=raw["size"],
            last_modified=raw["last_modified"],
            settings=str(raw["settings"]),
            focus=Focus(**raw["focus"]) if raw.get("focus") else None,
            focus_sources=str(raw.get("focus_sources", "")),
            focus_made=raw.get("focus_made"),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
