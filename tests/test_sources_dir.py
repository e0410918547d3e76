"""The dir master: reads files under its root and nothing outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phizer.base.errors import BadRequest, OriginalNotFound, OriginError, TooLarge
from phizer.base.paths import safe_path
from phizer.sources.dir import DirSource


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "originals"
    (root / "photos" / "2024").mkdir(parents=True)
    (root / "photos" / "a.jpg").write_bytes(b"A" * 10)
    (root / "photos" / "2024" / "b.jpg").write_bytes(b"B" * 20)
    (root / "other.png").write_bytes(b"P")
    (tmp_path / "secret.jpg").write_bytes(b"SECRET")
    return root


def test_fetch_returns_bytes_and_validators(root: Path) -> None:
    original = DirSource(root, 100).fetch("photos/a.jpg")
    assert original.data == b"A" * 10
    assert original.etag
    assert original.last_modified == pytest.approx((root / "photos/a.jpg").stat().st_mtime)


def test_rewriting_a_file_changes_its_etag(root: Path) -> None:
    source = DirSource(root, 100)
    before = source.stat("photos/a.jpg")
    file = root / "photos/a.jpg"
    file.write_bytes(b"new bytes")
    os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 1_000_000))
    after = source.stat("photos/a.jpg")
    assert after.etag != before.etag
    assert after.size == 9
    assert source.fetch("photos/a.jpg").data == b"new bytes"


@pytest.mark.parametrize("path", ["photos/missing.jpg", "photos", "photos/a.jpg/x"])
def test_missing_original(root: Path, path: str) -> None:
    with pytest.raises(OriginalNotFound):
        DirSource(root, 100).fetch(path)
    with pytest.raises(OriginalNotFound):
        DirSource(root, 100).stat(path)


def test_byte_cap(root: Path) -> None:
    source = DirSource(root, 15)
    assert source.fetch("photos/a.jpg").data == b"A" * 10
    with pytest.raises(TooLarge):
        source.fetch("photos/2024/b.jpg")


@pytest.mark.parametrize(
    "path",
    [
        "../secret.jpg",
        "photos/../../secret.jpg",
        "/etc/passwd",
        "photos//a.jpg",
        "./photos/a.jpg",
        "photos\\a.jpg",
        "photos/a\x00.jpg",
        "photos/a\n.jpg",
        "",
        "a" * 2000,
    ],
)
def test_unsafe_paths_are_refused(root: Path, path: str) -> None:
    with pytest.raises(BadRequest):
        DirSource(root, 100).fetch(path)
    with pytest.raises(BadRequest):
        safe_path(path)


def test_encoded_traversal_is_a_literal_name(root: Path) -> None:
    with pytest.raises(OriginalNotFound):
        DirSource(root, 100).fetch("%2e%2e/secret.jpg")


def test_symlink_out_of_the_root_is_not_followed(root: Path, tmp_path: Path) -> None:
    (root / "photos" / "leak.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "outside").symlink_to(tmp_path)
    source = DirSource(root, 100)
    with pytest.raises(OriginalNotFound):
        source.fetch("photos/leak.jpg")
    with pytest.raises(OriginalNotFound):
        source.fetch("outside/secret.jpg")
    assert "photos/leak.jpg" not in {i.path for i in source.list("")}


def test_symlink_inside_the_root_is_followed(root: Path) -> None:
    (root / "alias.jpg").symlink_to(root / "photos" / "a.jpg")
    assert DirSource(root, 100).fetch("alias.jpg").data == b"A" * 10


def test_list_is_a_string_prefix_relative_to_the_root(root: Path) -> None:
    source = DirSource(root, 100)
    assert sorted(i.path for i in source.list("")) == [
        "other.png",
        "photos/2024/b.jpg",
        "photos/a.jpg",
    ]
    assert sorted(i.path for i in source.list("photos/")) == ["photos/2024/b.jpg", "photos/a.jpg"]
    assert [i.path for i in source.list("photos/2")] == ["photos/2024/b.jpg"]
    assert [i.size for i in source.list("photos/a")] == [10]
    assert list(source.list("nothing/")) == []
    with pytest.raises(BadRequest):
        list(source.list("../"))


def test_list_agrees_with_stat(root: Path) -> None:
    source = DirSource(root, 100)
    for info in source.list(""):
        assert source.stat(info.path) == info


def test_check(root: Path, tmp_path: Path) -> None:
    assert str(root) in DirSource(root, 100).check()
    with pytest.raises(OriginError):
        DirSource(tmp_path / "nope", 100).check()
