"""Writing a manifest: a JSON array of entries (`--json`, the default) or one entry a line
(`--jsonl`), streamed entry by entry, to stdout or to a file that appears whole (written
beside it, then renamed) so a page build never reads half a manifest."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from phizer.manifest.entries import Entry


def write_entries(entries: Iterable[Entry], out: TextIO, *, lines: bool = False) -> int:
    """Write every entry; how many there were."""
    count = 0
    if not lines:
        out.write("[")
    for item in entries:
        text = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
        if lines:
            out.write(text + "\n")
        else:
            out.write(("," if count else "") + "\n" + text)
        count += 1
    if not lines:
        out.write("\n]\n")
    return count


@contextmanager
def manifest_file(path: str | None) -> Iterator[TextIO]:
    """stdout for None or "-"; else a temp file beside `path`, renamed onto it only when
    the block ends without an error."""
    if path in (None, "-"):
        yield sys.stdout
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
