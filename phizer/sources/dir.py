"""A directory as the master: originals are files under one root, and nothing outside it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from phizer.base.errors import OriginalNotFound, OriginError, TooLarge
from phizer.base.models import Original, OriginalInfo
from phizer.base.paths import file_etag, safe_path

logger = logging.getLogger(__name__)

CHUNK = 1 << 16


class DirSource:
    """Originals read from files under `root`; symlinks are followed only inside the root."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"DirSource({str(self.root)!r})"

    def _file(self, path: str) -> Path:
        """The resolved file for `path`; OriginalNotFound when it leaves the root."""
        safe_path(path)
        root = self.root.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            # A symlink pointing out of the root: to the client it simply does not exist.
            logger.warning("refused %r: resolves outside %s", path, root)
            raise OriginalNotFound(f"original not found: {path}")
        return target

    def fetch(self, path: str) -> Original:
        target = self._file(path)
        try:
            with target.open("rb") as fh:
                st = os.fstat(fh.fileno())
                self._check_size(path, st.st_size)
                data = fh.read(self.max_bytes + 1)
        except OSError as exc:
            raise _translate(exc, path) from None
        # The size check above used fstat; re-check what was read (the file may grow).
        self._check_size(path, len(data))
        return Original(path, data, file_etag(st), st.st_mtime)

    def _check_size(self, path: str, size: int) -> None:
        if size > self.max_bytes:
            raise TooLarge(f"original {path} is over the {self.max_bytes}-byte limit")

    def stat(self, path: str) -> OriginalInfo:
        target = self._file(path)
        try:
            st = target.stat()
        except OSError as exc:
            raise _translate(exc, path) from None
        if not target.is_file():
            raise OriginalNotFound(f"original not found: {path}")
        return OriginalInfo(path, st.st_size, file_etag(st), st.st_mtime)

    def list(self, prefix: str) -> Iterator[OriginalInfo]:
        """Files whose relative path starts with `prefix` (a string prefix, as in S3)."""
        safe_path(prefix, prefix=True)
        root = self.root.resolve()
        top = root / prefix.rpartition("/")[0]
        if not top.resolve().is_relative_to(root):
            return
        for dirpath, dirnames, filenames in os.walk(top, onerror=_log_walk_error):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                if not rel.startswith(prefix):
                    continue
                try:
                    if not full.resolve().is_relative_to(root):
                        continue
                    st = full.stat()
                except OSError:
                    continue  # vanished or a dangling link: not an original
                yield OriginalInfo(rel, st.st_size, file_etag(st), st.st_mtime)

    def check(self) -> str:
        if not self.root.is_dir():
            raise OriginError(f"master directory {self.root} does not exist")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise OriginError(f"master directory {self.root} is not readable")
        return f"master: directory {self.root} (readable)"


def _translate(exc: OSError, path: str) -> Exception:
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        return OriginalNotFound(f"original not found: {path}")
    logger.error("reading original %s failed: %s", path, exc)
    if isinstance(exc, PermissionError):
        return OriginError(f"original {path} is not readable (permission denied)")
    return OriginError(f"reading original {path} failed: {exc.strerror or exc}")


def _log_walk_error(exc: OSError) -> None:
    logger.warning("listing: %s", exc)
