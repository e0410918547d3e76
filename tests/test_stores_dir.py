"""The dir render store: atomic files nginx can serve, listed without temp files."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from phizer.base.errors import BadRequest, StoreError
from phizer.stores.dir import DirStore


def test_put_then_open_and_stat(tmp_path: Path) -> None:
    store = DirStore(tmp_path / "renders")
    info = store.put("220x220/photos/a.jpg", b"JPEGDATA", "image/jpeg", {"k": "v"})
    file = tmp_path / "renders" / "220x220" / "photos" / "a.jpg"
    assert file.read_bytes() == b"JPEGDATA"
    assert stat.S_IMODE(file.stat().st_mode) == 0o644
    assert info.size == 8
    assert info.content_type == "image/jpeg"
    assert store.stat("220x220/photos/a.jpg") == info
    opened = store.open("220x220/photos/a.jpg")
    assert opened is not None
    with opened.body:
        assert opened.body.read() == b"JPEGDATA"
    assert opened.path == str(file)
    assert opened.info == info


def test_a_file_name_as_long_as_a_url_segment_may_be_is_stored(tmp_path: Path) -> None:
    """A path segment may be 250 bytes (the URL grammar's limit): its write, temp file
    included, must stay within the file system's 255-byte names."""
    key = "220x220/" + "a" * 246 + ".jpg"
    store = DirStore(tmp_path)
    store.put(key, b"render", "image/jpeg")
    stored = store.open(key)
    assert stored is not None
    with stored.body as body:
        assert body.read() == b"render"


def test_variant_content_type(tmp_path: Path) -> None:
    info = DirStore(tmp_path).put("1x1/a.jpg.webp", b"W", "image/webp")
    assert info.content_type == "image/webp"


def test_missing_key(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    assert store.open("220x220/nope.jpg") is None
    assert store.stat("220x220/nope.jpg") is None


def test_overwrite_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    store.put("1x1/a.jpg", b"old-old-old", "image/jpeg")
    store.put("1x1/a.jpg", b"new", "image/jpeg")
    assert (tmp_path / "1x1" / "a.jpg").read_bytes() == b"new"
    assert os.listdir(tmp_path / "1x1") == ["a.jpg"]


def test_reader_keeps_the_old_render_while_it_is_replaced(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    store.put("1x1/a.jpg", b"first", "image/jpeg")
    opened = store.open("1x1/a.jpg")
    assert opened is not None
    store.put("1x1/a.jpg", b"second", "image/jpeg")
    with opened.body:
        assert opened.body.read() == b"first"


def test_list_skips_leftover_temp_files(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    store.put("220x220/photos/a.jpg", b"a", "image/jpeg")
    store.put("220x220/photos/b.jpg", b"bb", "image/jpeg")
    store.put("800x800/photos/a.jpg", b"ccc", "image/jpeg")
    (tmp_path / "220x220" / "photos" / ".a.jpgXYZ.tmp").write_bytes(b"half")
    assert [(i.key, i.size) for i in store.list("220x220/")] == [
        ("220x220/photos/a.jpg", 1),
        ("220x220/photos/b.jpg", 2),
    ]
    assert len(list(store.list(""))) == 3
    assert [i.key for i in store.list("800")] == ["800x800/photos/a.jpg"]
    assert list(store.list("nothing/")) == []


def test_listing_removes_temp_files_an_interrupted_writer_left(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    store.put("220x220/a.jpg", b"a", "image/jpeg")
    fresh = tmp_path / "220x220" / ".a.jpgNEW.tmp"
    stale = tmp_path / "220x220" / ".a.jpgOLD.tmp"
    fresh.write_bytes(b"being written")
    stale.write_bytes(b"killed mid-write")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert [i.key for i in store.list("220x220/")] == ["220x220/a.jpg"]
    assert fresh.exists()
    assert not stale.exists()


@pytest.mark.parametrize("key", ["../x.jpg", "/abs.jpg", "a//b.jpg", "a\\b.jpg", "a/./b.jpg"])
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    store = DirStore(tmp_path / "renders")
    with pytest.raises(BadRequest):
        store.put(key, b"x", "image/jpeg")
    assert not (tmp_path / "x.jpg").exists()


def test_unwritable_store(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    store = DirStore(blocker / "renders")
    with pytest.raises(StoreError):
        store.put("1x1/a.jpg", b"x", "image/jpeg")
    with pytest.raises(StoreError):
        store.check()
    assert "writable" in DirStore(tmp_path / "ok").check()
