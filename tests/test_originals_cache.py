"""The originals cache: bounded on disk across processes, never returns half a file, bounded
in memory, and revalidates as its policy says (sources/cached.py)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from phizer.base.errors import OriginalNotFound
from phizer.base.models import Original, OriginalInfo
from phizer.base.s3client import Endpoint
from phizer.sources.cache import Cached, DiskCache, MemoryLRU
from phizer.sources.cached import CachedOriginals
from phizer.sources.chain import Chain
from phizer.sources.dir import DirSource
from phizer.sources.http import HttpSlave
from phizer.sources.s3 import S3Source


def entry(path: str, data: bytes, etag: str = '"e"') -> Cached:
    return Cached(Original(path, data, etag, 1000.0), True)


def disk_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and f.name != ".lock")


# --- disk cache ------------------------------------------------------------------------


def test_disk_round_trip_keeps_validators(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    cache.put("photos/a.jpg", Cached(Original("photos/a.jpg", b"DATA", '"x"', 123.5), False))
    got = cache.get("photos/a.jpg")
    assert got == Cached(Original("photos/a.jpg", b"DATA", '"x"', 123.5), False)
    assert cache.get("photos/b.jpg") is None


def test_disk_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 35_000)  # three entries fit, a fourth evicts one
    for i, name in enumerate(["a", "b", "c"]):
        cache.put(name, entry(name, bytes([i]) * 10_000))
        os.utime(cache._file(name), ns=(i * 10**9, i * 10**9))  # a is oldest
    assert cache.get("a") is not None  # a hit makes a the most recent
    cache.put("d", entry("d", b"d" * 10_000))
    assert cache.get("b") is None
    assert {n for n in "acd" if cache.get(n) is not None} == {"a", "c", "d"}
    assert disk_bytes(tmp_path) <= 35_000


def test_an_entry_over_the_bound_is_not_cached(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 500)
    cache.put("big", entry("big", b"x" * 1000))
    assert cache.get("big") is None
    assert disk_bytes(tmp_path) == 0


def _fill(root: str, worker: int) -> None:
    cache = DiskCache(Path(root), 200_000)
    for i in range(150):
        path = f"w{worker}/{i}.jpg"
        cache.put(path, entry(path, bytes([worker]) * (3000 + i * 7)))


@pytest.mark.slow
def test_two_processes_filling_at_once_stay_within_the_bound(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_fill, args=(str(tmp_path), w)) for w in (1, 2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    total = disk_bytes(tmp_path)
    assert 150_000 < total <= 200_000  # well filled, yet within the bound
    assert not list(tmp_path.rglob("*.tmp"))
    cache = DiskCache(tmp_path, 200_000)
    survivors = [f"w{w}/{i}.jpg" for w in (1, 2) for i in range(150)]
    for path in survivors:
        got = cache.get(path)
        assert got is None or got.original.data == bytes([int(path[1])]) * len(got.original.data)


def test_a_leftover_temp_file_is_never_read(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    file = cache._file("a.jpg")
    file.parent.mkdir(parents=True)
    # A writer killed after writing every byte but before the rename:
    whole = tmp_path / "whole"
    DiskCache(whole, 10_000).put("a.jpg", entry("a.jpg", b"DATA"))
    (file.parent / (".abc" + ".tmp")).write_bytes(DiskCache(whole, 1)._file("a.jpg").read_bytes())
    assert cache.get("a.jpg") is None


@pytest.mark.parametrize("keep", [0, 10, 40, -1])
def test_a_truncated_entry_is_dropped(tmp_path: Path, keep: int) -> None:
    cache = DiskCache(tmp_path, 10_000)
    cache.put("a.jpg", entry("a.jpg", b"0123456789" * 10))
    file = cache._file("a.jpg")
    raw = file.read_bytes()
    file.write_bytes(raw[:keep])
    assert cache.get("a.jpg") is None
    assert not file.exists()


def test_a_garbled_entry_is_dropped(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 10_000)
    cache.put("a.jpg", entry("a.jpg", b"0123456789" * 10))
    file = cache._file("a.jpg")
    raw = bytearray(file.read_bytes())
    raw[-5] ^= 0xFF
    file.write_bytes(bytes(raw))
    assert cache.get("a.jpg") is None


# --- memory LRU ------------------------------------------------------------------------


def test_memory_lru_bound_and_order() -> None:
    memory = MemoryLRU(3000)
    for name in "abc":
        memory.put(name, entry(name, b"x" * 1000))
    assert memory.get("a") is not None
    memory.put("d", entry("d", b"x" * 1000))
    assert memory.get("b") is None
    assert all(memory.get(n) is not None for n in "acd")
    assert memory.bytes == 3000
    memory.put("huge", entry("huge", b"x" * 4000))
    assert memory.get("huge") is None
    memory.put("c", entry("c", b"x" * 500))  # replacing an entry frees its old bytes
    assert memory.bytes == 2500


# --- revalidation ----------------------------------------------------------------------


def _rewrite(file: Path, data: bytes) -> None:
    before = file.stat().st_mtime_ns
    file.write_bytes(data)
    os.utime(file, ns=(before + 10**9, before + 10**9))


def test_serve_fetch_sees_a_changed_dir_original(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"OLD")
    cached = CachedOriginals(Chain(DirSource(tmp_path, 100)), MemoryLRU(1000))
    assert cached.fetch("a.jpg").data == b"OLD"
    _rewrite(tmp_path / "a.jpg", b"NEW!")
    assert cached.fetch("a.jpg").data == b"NEW!"


def test_warm_fetch_with_matching_known_does_not_touch_the_master(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"OLD")
    master = DirSource(tmp_path, 100)
    cached = CachedOriginals(Chain(master), MemoryLRU(1000))
    known = master.stat("a.jpg")
    assert cached.fetch("a.jpg", known).data == b"OLD"
    _rewrite(tmp_path / "a.jpg", b"NEW!")
    # Still the cached bytes: the master was not read. A fresh listing knows better.
    assert cached.fetch("a.jpg", known).data == b"OLD"
    assert cached.fetch("a.jpg", master.stat("a.jpg")).data == b"NEW!"


def test_dir_master_originals_skip_the_disk_cache(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.jpg").write_bytes(b"DATA")
    disk = DiskCache(tmp_path / "cache", 10_000)
    cached = CachedOriginals(Chain(DirSource(tmp_path / "m", 100)), MemoryLRU(1000), disk, False)
    assert cached.fetch("a.jpg").data == b"DATA"
    assert disk_bytes(tmp_path / "cache") == 0


@pytest.mark.slow
def test_slave_copies_are_trusted_until_evicted(tmp_path: Path, origins: Any) -> None:
    slave = origins(files={"new.jpg": b"UPLOAD"})
    master = DirSource(tmp_path / "m", 100)
    disk = DiskCache(tmp_path / "cache", 10_000)
    chain = Chain(master, [HttpSlave(slave.url, 100, 5.0)])
    assert CachedOriginals(chain, MemoryLRU(1000), disk, False).fetch("new.jpg").data == b"UPLOAD"
    # Another process (fresh memory) finds it on disk without asking anyone.
    assert CachedOriginals(chain, MemoryLRU(1000), disk, False).fetch("new.jpg").data == b"UPLOAD"
    assert len(slave.seen) == 1


@pytest.mark.slow
def test_s3_master_revalidation(tmp_path: Path, s3_credentials: Any, origins: Any) -> None:
    bucket = s3_credentials.new_bucket()
    client = s3_credentials.client()
    client.put_object(Bucket=bucket, Key="a.jpg", Body=b"OLD", ContentType="image/jpeg")
    endpoint = Endpoint(bucket, "us-east-1", s3_credentials.endpoint_url, 5.0)
    master = S3Source(endpoint, "", 100)
    disk = DiskCache(tmp_path / "cache", 10_000)
    known = master.stat("a.jpg")
    assert (
        CachedOriginals(Chain(master), MemoryLRU(1000), disk).fetch("a.jpg", known).data == b"OLD"
    )

    client.put_object(Bucket=bucket, Key="a.jpg", Body=b"NEW!", ContentType="image/jpeg")
    fresh = CachedOriginals(Chain(master), MemoryLRU(1000), disk)  # as another process
    assert fresh.fetch("a.jpg", known).data == b"OLD"  # warm: stale listing, cache trusted
    assert fresh.fetch("a.jpg").data == b"NEW!"  # serve: HEAD says it changed

    # The master goes away: the copy it gave us is served rather than an error.
    dead = origins()
    dead.stop()
    gone = S3Source(Endpoint(bucket, "us-east-1", dead.root, 1.0), "", 100)
    assert CachedOriginals(Chain(gone), MemoryLRU(1000), disk).fetch("a.jpg").data == b"NEW!"

    client.delete_object(Bucket=bucket, Key="a.jpg")
    with pytest.raises(OriginalNotFound):
        CachedOriginals(Chain(master), MemoryLRU(1000), disk).fetch("a.jpg")


def test_known_without_etag_compares_size_and_time(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"OLD")
    master = DirSource(tmp_path, 100)
    cached = CachedOriginals(Chain(master), MemoryLRU(1000))
    st = master.stat("a.jpg")
    assert cached.fetch("a.jpg").data == b"OLD"
    _rewrite(tmp_path / "a.jpg", b"NEW!")
    same = OriginalInfo("a.jpg", 3, None, st.last_modified)
    assert cached.fetch("a.jpg", same).data == b"OLD"
    changed = OriginalInfo("a.jpg", 4, None, st.last_modified)
    assert cached.fetch("a.jpg", changed).data == b"NEW!"
