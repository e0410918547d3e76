"""The pipeline's store side: warm's renders are written while the next is made, serve's
each before the next, and a write that fails costs only its own render."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from PIL import Image
from support.warm import dir_pipeline_config

from phizer.base.errors import StoreError
from phizer.base.models import SizeSpec, StoredInfo
from phizer.pool.pipeline import Pipeline
from phizer.pool.targets import make_targets
from phizer.sources.build import build_source
from phizer.stores.dir import DirStore

SIZES = tuple(SizeSpec(f"s{w}", w, w, "max") for w in (400, 300, 200, 100))
LATENCY = 0.25  # seconds a write takes: a far-away S3


class SlowStore(DirStore):
    """A real dir store whose writes take as long as an S3 PUT across a WAN, and one of
    whose keys cannot be written."""

    def __init__(self, root: Path, broken: str = "") -> None:
        super().__init__(root)
        self.broken = broken
        self.writing = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredInfo:
        with self._lock:
            self.writing += 1
            self.most_at_once = max(self.most_at_once, self.writing)
        try:
            time.sleep(LATENCY)
            if key == self.broken:
                raise StoreError(f"cannot write {key}")
            return super().put(key, data, content_type, metadata)
        finally:
            with self._lock:
                self.writing -= 1


def pipeline(tmp_path: Path, store: DirStore) -> Pipeline:
    (tmp_path / "originals").mkdir()
    Image.linear_gradient("L").resize((800, 600)).convert("RGB").save(
        tmp_path / "originals" / "a.jpg"
    )
    config = dir_pipeline_config(tmp_path, SIZES)  # its store is `store`, given to the Pipeline
    return Pipeline(config, build_source(config), store)


def test_warm_writes_renders_while_it_makes_the_next(tmp_path: Path) -> None:
    store = SlowStore(tmp_path / "renders", broken="200x200/a.jpg")
    pipe = pipeline(tmp_path, store)
    targets = make_targets(pipe.config, "a.jpg")
    started = time.monotonic()
    results = list(pipe.render_and_store(pipe.fetch("a.jpg"), targets))
    elapsed = time.monotonic() - started
    assert [r.key for r in results] == [t.key for t in targets]  # in order
    assert [r.stored for r in results] == [True, True, False, True]  # only the broken one
    assert store.most_at_once > 1
    assert elapsed < 3 * LATENCY  # one after the other would take 4
    for result in results:
        path = tmp_path / "renders" / result.key
        if result.stored:
            with Image.open(io.BytesIO(path.read_bytes())) as im:
                assert im.size == (result.width, result.height)
        else:
            assert not path.exists()


def test_serve_stores_each_render_before_making_the_next(tmp_path: Path) -> None:
    """render-ahead: the client's render is stored (and can be answered) before any other
    size is made, and the others are written one at a time behind it."""
    store = SlowStore(tmp_path / "renders")
    pipe = pipeline(tmp_path, store)
    targets = make_targets(pipe.config, "a.jpg")
    results = pipe.render_and_store(pipe.fetch("a.jpg"), targets, awaited=True)
    first = next(results)
    assert first.stored
    assert (tmp_path / "renders" / first.key).exists()
    assert not (tmp_path / "renders" / targets[1].key).exists()
    assert all(r.stored for r in results)
    assert store.most_at_once == 1
