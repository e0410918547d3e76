"""warm's freshness index: which renders it may skip, and what holding that costs."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.warm import dir_pipeline_config

from phizer.base.keyindex import KeyIndex
from phizer.base.models import SizeSpec
from phizer.base.s3client import Endpoint
from phizer.config import Config, SourceConfig
from phizer.stores.dir import DirStore
from phizer.stores.s3 import S3Store
from phizer.warm.freshness import load_freshness

SIZES = (SizeSpec("s", 220, 220, "fill"), SizeSpec("m", 800, 800, "max"))


def keys(count: int) -> Iterator[tuple[str, float]]:
    """Store keys of the shape warm lists, made on demand (so they cost the test nothing)."""
    for i in range(count):
        yield f"220x220/photos/{i // 1000:04d}/IMG_{i:07d}.jpg", 1_700_000_000.0 + i * 0.001


def test_every_listed_key_is_found_with_its_time_and_no_other() -> None:
    times = KeyIndex(keys(20_000))
    assert len(times) == 20_000
    for key, made in keys(20_000):
        assert times.get(key) == made
    assert times.get("220x220/photos/0000/IMG_9999999.jpg") is None
    assert times.get("800x800/photos/0000/IMG_0000001.jpg") is None
    assert times.get("") is None


def test_the_index_holds_about_16_bytes_a_render() -> None:
    """A million originals at four sizes must fit a CI runner: two arrays take 16 bytes a
    render, where a dict of key -> time would take many times that."""
    count = 50_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        times = KeyIndex(keys(count))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(times) == count
    assert held < 20 * count


def changed_settings(config: Config) -> tuple[Config, tuple[SizeSpec, ...]]:
    sizes = (SizeSpec("s", 220, 220, "fill", quality=70), SIZES[1])
    return replace(config, sizes=sizes), sizes


def test_load_freshness_lists_each_size_and_compares_times(tmp_path: Path) -> None:
    """Through a real dir store: a render is fresh when it is as new as its original and was
    made under the size's current settings; a size with new settings has nothing fresh."""
    store = DirStore(tmp_path / "renders")
    config = dir_pipeline_config(tmp_path, SIZES)
    load_freshness(config, store, SIZES, "")  # writes both sizes' markers
    for name in ("a.jpg", "b.jpg", "a.jpg.webp"):
        for spec in SIZES:
            store.put(f"{spec.dimensions}/{name}", b"render", "image/jpeg")
    fresh = load_freshness(config, store, SIZES, "")
    made = store.stat("220x220/a.jpg")
    assert made is not None
    assert len(fresh) == 6
    assert fresh.exists("220x220/a.jpg.webp")
    assert fresh.is_fresh("800x800/b.jpg", made.last_modified - 60)
    assert fresh.is_fresh("800x800/b.jpg", None)  # a slave-only original's age is unknown
    assert not fresh.is_fresh("220x220/a.jpg", made.last_modified + 60)
    assert not fresh.exists("220x220/c.jpg")
    assert not fresh.exists("120x120/a.jpg")  # a size this run does not warm

    config, changed = changed_settings(config)
    fresh = load_freshness(config, store, changed, "")
    assert not fresh.exists("220x220/a.jpg")
    assert fresh.exists("800x800/a.jpg")


def test_a_render_from_the_markers_own_tick_is_stale(tmp_path: Path) -> None:
    """A filesystem's clock ticks coarsely: an old-settings render written just before the new
    marker can carry its very time. It must be remade; one written after warm is ready not."""
    store = DirStore(tmp_path / "renders")
    config = dir_pipeline_config(tmp_path, SIZES)
    load_freshness(config, store, SIZES, "")
    store.put("220x220/old.jpg", b"old settings", "image/jpeg")
    config, sizes = changed_settings(config)
    load_freshness(config, store, sizes, "")  # new marker for 220x220; waits past it
    store.put("220x220/new.jpg", b"new settings", "image/jpeg")
    tick = (tmp_path / "renders/.phizer/sizes/220x220.json").stat().st_mtime_ns
    os.utime(tmp_path / "renders/220x220/old.jpg", ns=(tick, tick))  # the marker's very tick

    fresh = load_freshness(config, store, sizes, "")
    assert not fresh.exists("220x220/old.jpg")
    assert fresh.exists("220x220/new.jpg")


@pytest.mark.slow
def test_on_s3_a_render_in_the_markers_second_is_stale_and_warm_waits_past_it(
    s3_credentials: Any,
) -> None:
    """S3 times are whole seconds. Against SeaweedFS: an old-settings render stored in the same
    second as the new marker is remade, and a render stored the moment load_freshness returns
    (warm's first render) is already a second later, so the next run keeps it."""
    bucket = s3_credentials.new_bucket()
    store = S3Store(Endpoint(bucket, "us-east-1", s3_credentials.endpoint_url, 5.0), "", 3600)
    s3 = SourceConfig(type="s3", bucket=bucket)
    config = replace(dir_pipeline_config(Path("unused"), SIZES), store=s3)
    settings = (SIZES, changed_settings(config)[1])
    load_freshness(config, store, SIZES, "")
    for attempt in range(1, 6):  # until the old render and the marker share a second
        sizes = settings[attempt % 2]  # each attempt changes the 220x220 settings
        time.sleep(1.02 - time.time() % 1)  # start a second: both writes take milliseconds
        store.put(f"220x220/old{attempt}.jpg", b"old settings", "image/jpeg")
        load_freshness(replace(config, sizes=sizes), store, sizes, "")  # a new marker
        store.put(f"220x220/new{attempt}.jpg", b"new settings", "image/jpeg")
        old = store.stat(f"220x220/old{attempt}.jpg")
        marker = store.stat(".phizer/sizes/220x220.json")
        assert old is not None
        assert marker is not None
        if old.last_modified == marker.last_modified:
            break
    else:
        pytest.fail("no render and marker stored in one second, even from a second's start")

    fresh = load_freshness(replace(config, sizes=sizes), store, sizes, "")
    assert not fresh.exists(f"220x220/old{attempt}.jpg")
    assert fresh.exists(f"220x220/new{attempt}.jpg")
