"""Where renders go: a directory or an S3 bucket/prefix.

A render's key is its canonical URL path without the leading slash
(`220x220/photos/a.jpg`), so a store can be served as static files. Writes and deletes are
atomic: a reader never sees half a render. Stores translate their libraries' exceptions into
`StoreError`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from phizer.base.models import KeyFailure, StoredInfo


@dataclass
class StoredRender:
    """An open render: its info and a body to stream (the caller closes it)."""

    info: StoredInfo
    body: BinaryIO
    path: str | None = None  # the file on disk, for a dir store (lets a server use sendfile)


class RenderStore(Protocol):
    def open(self, key: str) -> StoredRender | None:
        """The render under `key`, or None when there is none."""
        ...

    def stat(self, key: str) -> StoredInfo | None: ...

    def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredInfo:
        """Store atomically (temp file + rename, or one PUT)."""
        ...

    def list(self, prefix: str) -> Iterator[StoredInfo]:
        """Every render whose key starts with `prefix` (one listing, no HEAD per key)."""
        ...

    def existing(self, keys: Sequence[str]) -> builtins.list[StoredInfo]:
        """What of `keys` holds something, in `keys` order, at a cost that grows with
        `keys`, never with the store (a stat each on disk; one listing per shared key
        prefix on S3, where a listing costs what a HEAD does)."""
        ...

    def delete(self, keys: Sequence[str]) -> builtins.list[KeyFailure]:
        """Delete `keys` (a missing key is not an error); the keys that could not be
        deleted, with why. Each delete is whole: a key is there or gone, never half."""
        ...

    def check(self) -> str:
        """A one-line status for `phizer check`; raises StoreError when unusable."""
        ...
