"""configs/nginx.conf with a real nginx in front of a real `phizer serve`: the proxy cache
stands in for a CDN, and warmed renders are served from the store without reaching phizer."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from support.config import write_config
from support.nginx import nginx
from support.serve import PHIZER, Serve, decoded, dir_config, image_bytes, serve

pytestmark = pytest.mark.slow


@pytest.fixture
def world() -> Iterator[Path]:
    """A 755 folder (nginx's workers run as another user): originals, renders, nginx prefix."""
    folder = Path(tempfile.mkdtemp(prefix="phizer-nginx-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Answered:
    """Requests phizer has answered, from its own /metrics (exact, unlike reading its log
    from a pipe), not counting the scrapes made to ask."""

    def __init__(self, server: Serve) -> None:
        self.server = server
        self.scrapes = 0

    def __call__(self) -> int:
        text = self.server.get("/metrics").text
        total = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "phizer_requests_total"
        )
        self.scrapes += 1
        return int(total) - (self.scrapes - 1)  # a scrape is counted after it answers


def test_cdn_cache_hit_and_warmed_store_served_without_phizer(world: Path) -> None:
    originals, renders = world / "originals", world / "renders"
    originals.mkdir(mode=0o755)
    (originals / "a.jpg").write_bytes(image_bytes(640, 480))
    (originals / "b.jpg").write_bytes(image_bytes(640, 480))
    config = write_config(world, dir_config(world, server={"max_age": 600}))
    with (
        serve(config, workers=1) as server,
        nginx(world / "nginx", renders, server.url, 600) as cdn,
    ):
        answered = Answered(server)
        first = requests.get(cdn.url + "/220x220/a.jpg", timeout=30)
        assert first.status_code == 200
        assert first.headers["X-Cache-Status"] == "MISS"
        assert decoded(first.content).size == (220, 220)
        assert answered() == 1

        second = requests.get(cdn.url + "/220x220/a.jpg", timeout=30)
        assert second.headers["X-Cache-Status"] == "HIT"
        assert second.content == first.content
        assert answered() == 1

        # Rendered ahead into the store by the first miss: static from now on.
        assert (renders / "120x120" / "a.jpg").exists()
        static = requests.get(cdn.url + "/120x120/a.jpg", timeout=30)
        assert static.status_code == 200
        assert static.headers["X-Cache-Status"] == "MISS"
        assert static.headers["Cache-Control"] == "public, max-age=600"
        assert decoded(static.content).size == (120, 120)
        assert answered() == 1

        # An unknown size is cached briefly too, a 404 from phizer.
        for expected in ("MISS", "HIT"):
            refused = requests.get(cdn.url + "/221x220/a.jpg", timeout=30)
            assert (refused.status_code, refused.headers["X-Cache-Status"]) == (404, expected)
        assert answered() == 2

        # With phizer gone, what the store holds is still served.
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        warm = requests.get(cdn.url + "/400x400/a.jpg", timeout=30)
        assert warm.status_code == 200
        assert decoded(warm.content).size == (400, 300)
        assert requests.get(cdn.url + "/220x220/b.jpg", timeout=30).status_code == 502


def test_a_purged_original_answers_404_through_the_static_tier(world: Path) -> None:
    """nginx's `try_files` serves a warmed render from the store without asking phizer; once
    the original is deleted and purged, the file is gone and phizer answers 404."""
    originals, renders = world / "originals", world / "renders"
    originals.mkdir(mode=0o755)
    (originals / "a.jpg").write_bytes(image_bytes(640, 480))
    (originals / "b.jpg").write_bytes(image_bytes(640, 480))
    config = write_config(world, dir_config(world, server={"max_age": 600}))
    warmed = subprocess.run([str(PHIZER), "-c", str(config), "warm"], capture_output=True)
    assert warmed.returncode == 0, warmed.stderr
    with (
        serve(config, workers=1) as server,
        nginx(world / "nginx", renders, server.url, 600) as cdn,
    ):
        answered = Answered(server)
        for name in ("a.jpg", "b.jpg"):
            static = requests.get(f"{cdn.static_url}/220x220/{name}", timeout=30)
            assert static.status_code == 200
        assert answered() == 0  # from the store, by nginx alone

        (originals / "a.jpg").unlink()
        purged = subprocess.run([str(PHIZER), "-c", str(config), "purge", "a.jpg"])
        assert purged.returncode == 0

        for size in ("120x120", "220x220", "800x800", "1600x1600"):
            gone = requests.get(f"{cdn.static_url}/{size}/a.jpg", timeout=30)
            assert gone.status_code == 404, size
        assert answered() == 4  # each asked phizer, which has no original now
        assert requests.get(f"{cdn.static_url}/220x220/b.jpg", timeout=30).status_code == 200
        assert answered() == 4
