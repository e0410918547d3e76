"""Where originals come from: a master (dir or S3), HTTP slaves, the chain that asks them,
and the originals cache in front of the chain (`cache`, `cached`).

Every source translates its own library's exceptions (OSError, botocore, requests) into
phizer errors, so nothing above this package imports boto3 or requests:
OriginalNotFound (404), OriginError (502), OriginTimeout (504), TooLarge (413),
BadRequest (400, an unsafe path).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from phizer.base.models import Original, OriginalInfo


class Source(Protocol):
    """One place originals can be read from."""

    def fetch(self, path: str) -> Original:
        """The original's bytes (streamed, cut at the byte cap) and its validators."""
        ...

    def stat(self, path: str) -> OriginalInfo:
        """Validators without the body; OriginalNotFound when absent."""
        ...

    def list(self, prefix: str) -> Iterator[OriginalInfo]:
        """Every original under `prefix` (paths relative to the source root), in any order."""
        ...

    def check(self) -> str:
        """A one-line status for `phizer check`; raises OriginError when unreachable."""
        ...


class Originals(Source, Protocol):
    """What the pipeline fetches through: the master/slave chain behind the originals cache.

    `known` is what a listing said of the original (warm): when it matches the cached copy's
    validators the copy is used without asking the master again.
    """

    def fetch(self, path: str, known: OriginalInfo | None = None) -> Original: ...

    def find(self, path: str) -> OriginalInfo:
        """The validators of `path` from the master, else from any slave; OriginalNotFound
        only when none of them has it."""
        ...

    def forget(self, path: str) -> None:
        """Drop any cached copy of `path` on this host."""
        ...
