"""Paths and files as the I/O edges see them: `safe_path`, the check every source and store
applies before a path becomes a file name, an S3 key or a slave URL (the URL parser already
refused bad paths, but each edge defends itself so a bug above it cannot turn into a
traversal), a folder-like key prefix, a file's validator, and the one way phizer writes a
file: atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from phizer.base.errors import BadRequest

MAX_PATH_LENGTH = 1024
# A file being written is named `.XXXXXXXX.tmp` beside its target: hidden, and never a name
# a reader asks for, so listings skip it and a killed writer's leftovers are known.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


def safe_path(path: str, *, prefix: bool = False) -> str:
    """`path` unchanged when it is a plain relative path, else BadRequest.

    Refused: empty, absolute, backslash, control characters, empty/`.`/`..` segments.
    A listing prefix (`prefix=True`) may be empty or end with `/`.
    """
    if prefix and path == "":
        return path
    if not path or len(path) > MAX_PATH_LENGTH:
        raise BadRequest(f"unsafe path {path[:80]!r}: empty or too long")
    if path.startswith("/") or "\\" in path:
        raise BadRequest(f"unsafe path {path[:80]!r}: absolute or backslash")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise BadRequest(f"unsafe path {path[:80]!r}: control character")
    segments = path.split("/")
    if prefix and segments[-1] == "":
        segments.pop()
    if any(s in ("", ".", "..") for s in segments):
        raise BadRequest(f"unsafe path {path[:80]!r}: empty, '.' or '..' segment")
    return path


def read_paths(lines: Iterable[str]) -> Iterator[str]:
    """Paths one a line (`--from-file`), streamed; blank lines and `#` comments are skipped
    (no original's path has a `#`)."""
    for line in lines:
        path = line.strip()
        if path and not path.startswith("#"):
            yield path


def file_etag(st: os.stat_result) -> str:
    """A validator that changes whenever the file is rewritten (mtime or size)."""
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def normalise_prefix(prefix: str) -> str:
    """A key prefix names a folder: `originals` and `originals/` both mean `originals/`."""
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def is_temp(name: str) -> bool:
    """Whether a file name is one `write_atomically` writes before publishing it."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def write_atomically(
    target: Path,
    data: bytes,
    *,
    mode: int | None = None,
    publish: Callable[[str, Path], None] = os.replace,
) -> None:
    """`data` into a temp file beside `target` (its folders made), then `publish(temp,
    target)`, a rename unless the caller must do more under a lock: a reader sees the old
    file or the whole new one, never a part. `mode`: the file's permission bits (a temp file
    is made 0600). The temp file is removed when anything fails; OSError is the caller's to
    translate."""
    fd, temp = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
        publish(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _temp_beside(target: Path) -> tuple[int, str]:
    """A new temp file in `target`'s folder, made with its parents. Twice at most: a purge
    removes folders it empties, so one may vanish between the mkdir and the create.
    The temp name is short whatever the target's: a 250-byte file name (the longest a path
    segment may be) plus a prefix and suffix would pass the file system's limit."""
    for attempt in (1, 2):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            return tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        except FileNotFoundError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
