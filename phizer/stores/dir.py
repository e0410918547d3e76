"""A directory as the render store: one file per key, laid out so nginx can serve it as is.

Writes go to a temp file in the key's own directory and are renamed into place
(`os.replace` is atomic within a filesystem), so a reader, nginx included, sees the old
render or the new one, never half of one. Files are 0644 because the web server usually runs
as another user. Temp files start with `.` and end with `.tmp`; listings skip them, and a
writer killed mid-write leaves only such a file behind. Listings (warm lists every size it
checks) also remove temp files older than an hour: no live writer takes that long.

No fsync: a render can always be made again, and warm treats a missing render as work to do.
Metadata is not kept: a plain file has nowhere to put it that a static server would honour.
"""

from __future__ import annotations

import builtins
import logging
import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from phizer.base.errors import StoreError
from phizer.base.models import KeyFailure, StoredInfo
from phizer.base.paths import file_etag, is_temp, safe_path, write_atomically
from phizer.base.urls import content_type_of_key
from phizer.stores import StoredRender

logger = logging.getLogger(__name__)

FILE_MODE = 0o644
STALE_TEMP_SECONDS = 3600.0


class DirStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DirStore({str(self.root)!r})"

    def _file(self, key: str) -> Path:
        return self.root / safe_path(key)

    def _info(self, key: str, st: os.stat_result) -> StoredInfo:
        return StoredInfo(key, st.st_size, st.st_mtime, file_etag(st), content_type_of_key(key))

    def open(self, key: str) -> StoredRender | None:
        file = self._file(key)
        try:
            fh = file.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise _store_error("open", key, exc) from None
        try:
            st = os.fstat(fh.fileno())
        except OSError as exc:
            fh.close()
            raise _store_error("open", key, exc) from None
        return StoredRender(self._info(key, st), fh, str(file))

    def stat(self, key: str) -> StoredInfo | None:
        try:
            st = self._file(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _store_error("stat", key, exc) from None
        if not stat.S_ISREG(st.st_mode):
            return None  # a folder (renders of an original nested under this key's name)
        return self._info(key, st)

    def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredInfo:
        file = self._file(key)
        try:
            write_atomically(file, data, mode=FILE_MODE)
            st = file.stat()
        except OSError as exc:
            raise _store_error("write", key, exc) from None
        return self._info(key, st)

    def list(self, prefix: str) -> Iterator[StoredInfo]:
        """Every stored render whose key starts with `prefix`, temp files excluded."""
        safe_path(prefix, prefix=True)
        top = self.root / prefix.rpartition("/")[0]
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                if is_temp(name):
                    _remove_if_stale(full)
                    continue
                key = full.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    st = full.stat()
                except OSError:
                    continue  # replaced or removed while listing
                yield self._info(key, st)

    def existing(self, keys: Sequence[str]) -> builtins.list[StoredInfo]:
        return [info for key in keys if (info := self.stat(key)) is not None]

    def delete(self, keys: Sequence[str]) -> builtins.list[KeyFailure]:
        """Unlink each file (atomic: nginx serves it whole or answers 404), then remove the
        folders that left empty, up to the store's root, so a store that loses photos does
        not fill with empty folders. A writer that finds its folder gone makes it again (see
        `write_atomically`)."""
        failures: builtins.list[KeyFailure] = []
        for key in keys:
            file = self._file(key)
            try:
                file.unlink()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                failures.append(KeyFailure(key, _store_error("delete", key, exc).message))
                continue
            self._remove_empty_folders(file.parent)
        return failures

    def _remove_empty_folders(self, folder: Path) -> None:
        root = self.root.resolve()
        while folder.resolve() != root and root in folder.resolve().parents:
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or gone): the folders above are not empty either
            folder = folder.parent

    def check(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # A write that is never published: the folder takes new files.
            write_atomically(self.root / "check", b"", publish=lambda temp, _: os.unlink(temp))
        except OSError as exc:
            raise StoreError(
                f"render store directory {self.root} is not writable: {exc.strerror or exc}"
            ) from None
        return f"store: directory {self.root} (writable)"


def _store_error(action: str, key: str, exc: OSError) -> StoreError:
    logger.error("render store: %s %s failed: %s", action, key, exc)
    return StoreError(f"render store: cannot {action} {key}: {exc.strerror or exc}")


def _remove_if_stale(temp: Path) -> None:
    """A temp file nobody renamed for an hour was left by a writer that was killed."""
    try:
        if time.time() - temp.stat().st_mtime > STALE_TEMP_SECONDS:
            temp.unlink()
            logger.info("render store: removed %s, left by an interrupted write", temp)
    except OSError:
        pass  # renamed or removed meanwhile
