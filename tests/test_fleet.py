"""Several `phizer serve` instances behind the nginx of configs/nginx.conf, sharing one
SeaweedFS master and render store, on loopback: nginx routes by the original's path, so a
cold page's worth fetches each original once across the fleet and writes each render once
(hashing `$uri` instead is measured beside it); a killed instance's share moves to the
others; two instances racing on one miss leave one whole render."""

from __future__ import annotations

import random
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from support.config import write_config
from support.nginx import TEMPLATE, nginx
from support.serve import SIZES, Serve, decoded, image_bytes, serve

PHOTOS = 20
CLIENTS = 6


def test_the_map_finds_the_original_in_every_url_form() -> None:
    """The template's `map` regular expression (PCRE), read from the template itself."""
    found = re.search(r'"~\*(\^.*?\$)" \$original;', TEMPLATE.read_text())
    assert found is not None
    pattern = re.compile(found.group(1).replace("(?<", "(?P<"), re.IGNORECASE)
    cases = {
        "/220x220/photos/a.jpg": "photos/a.jpg",
        "/220x220/photos/a.jpg.webp": "photos/a.jpg",
        "/220x220/photos/a.webp.webp": "photos/a.webp",
        "/220x220/10x20/110x120/photos/a.png.avif": "photos/a.png",
        "/AbCdEfGhIjKlMnOp/800x800/photos/a.jpeg": "photos/a.jpeg",
        "/AbCdEfGhIjKlMnOp/220x220/0x0/5x5/x/b.gif": "x/b.gif",
        "/800x800/phone/IMG_1.HEIC.jpg": "phone/IMG_1.HEIC",
        "/info/photos/a.jpg": "photos/a.jpg",
        "/AbCdEfGhIjKlMnOp/info/photos/a.jpg": "photos/a.jpg",
        "/220x220/photos/v1.2.jpg.png": "photos/v1.2.jpg",
        "/220x220/odd.jpg.x.jpg": "odd.jpg.x.jpg",
    }
    for url, original in cases.items():
        match = pattern.match(url)
        assert match is not None, url
        assert match.group("original") == original, url
    assert pattern.match("/healthz") is None


class Fleet:
    """N instances (each with its own originals cache, as on separate hosts) over one
    master bucket and one store bucket; `nginx` in front."""

    def __init__(self, s3: Any, folder: Path, count: int) -> None:
        self.s3 = s3
        self.master, self.store = s3.new_bucket(), s3.new_bucket()
        client = s3.client()
        self.photos = [f"p/{i:02d}/photo.jpg" for i in range(PHOTOS)]
        for i, path in enumerate(self.photos):
            body = image_bytes(640 + 8 * i, 480)
            client.put_object(Bucket=self.master, Key=path, Body=body, ContentType="image/jpeg")
        self.configs = []
        for k in range(count):
            home = folder / f"instance{k}"
            home.mkdir()
            self.configs.append(
                write_config(
                    home,
                    {
                        "master": {
                            "type": "s3",
                            "bucket": self.master,
                            "endpoint_url": s3.endpoint_url,
                        },
                        "store": {
                            "type": "s3",
                            "bucket": self.store,
                            "endpoint_url": s3.endpoint_url,
                        },
                        "cache": {"path": str(home / "cache")},
                        "sizes": SIZES,
                    },
                )
            )
        # A page: the photos in a shuffled order, each one's sizes asked for together (a
        # gallery's thumbnail beside its srcset), in a shuffled order too.
        rng = random.Random(7)
        sizes = [f"{s['width']}x{s['height']}" for s in SIZES.values()]
        self.urls = []
        for path in rng.sample(self.photos, len(self.photos)):
            self.urls += [f"/{dims}/{path}" for dims in rng.sample(sizes, len(sizes))]

    def counts(self) -> tuple[int, int]:
        """(GETs and HEADs of originals, PUTs into the store) so far."""
        seen = self.s3.requests_by_bucket()
        return int(seen[(self.master, "GET")]), int(seen[(self.store, "PUT")])


def page(base: str, urls: list[str]) -> list[int]:
    """Every URL once, from CLIENTS concurrent clients: the status codes."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(lambda u: requests.get(base + u, timeout=60).status_code, urls))


@pytest.fixture
def world() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="phizer-fleet-"))
    folder.chmod(0o755)  # nginx's workers run as another user
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cold_page(s3: Any, world: Path, count: int, hash_key: str | None) -> tuple[int, int, Fleet]:
    folder = world / f"{count}-{hash_key or 'original'}".replace("$", "")
    folder.mkdir()
    fleet = Fleet(s3, folder, count)
    (folder / "renders").mkdir(mode=0o755)  # an S3 store: try_files finds nothing here
    with ExitStack() as stack:
        servers = [stack.enter_context(serve(c)) for c in fleet.configs]
        front = stack.enter_context(
            nginx(folder / "nginx", folder / "renders", [s.url for s in servers], 600, hash_key)
        )
        gets, puts = fleet.counts()
        statuses = page(front.static_url, fleet.urls)
        assert statuses == [200] * len(fleet.urls)
        time.sleep(1.0)  # render-ahead finishing, and SeaweedFS counting its last requests
        gets_after, puts_after = fleet.counts()
    return gets_after - gets, puts_after - puts, fleet


@pytest.mark.slow
@pytest.mark.parametrize("count", [2, 3])
def test_a_cold_page_fetches_each_original_once_across_the_fleet(
    s3_credentials: Any, world: Path, count: int
) -> None:
    gets, puts, fleet = cold_page(s3_credentials, world, count, None)
    by_uri, puts_by_uri, _ = cold_page(s3_credentials, world, count, "$uri")
    print(
        f"\n{count} instances, {PHOTOS} photos x {len(SIZES)} sizes: GETs of originals "
        f"{gets} hashing the original, {by_uri} hashing $uri; store writes {puts} and "
        f"{puts_by_uri}"
    )
    assert gets == PHOTOS  # each original exactly once, across the fleet
    assert puts == len(fleet.urls) + PHOTOS  # each render once, and each original's record


@pytest.mark.slow
def test_a_killed_instance_costs_only_its_requests_in_flight(
    s3_credentials: Any, world: Path
) -> None:
    fleet = Fleet(s3_credentials, world, 3)
    (world / "renders").mkdir(mode=0o755)
    with ExitStack() as stack:
        servers: list[Serve] = [stack.enter_context(serve(c)) for c in fleet.configs]
        front = stack.enter_context(
            nginx(world / "nginx", world / "renders", [s.url for s in servers], 600)
        )
        done = threading.Event()
        answered: list[int] = []
        victim = servers[1]

        def fetch(url: str) -> int:
            status = requests.get(front.static_url + url, timeout=60).status_code
            answered.append(status)
            if len(answered) == len(fleet.urls) // 3 and not done.is_set():
                done.set()
                victim.process.send_signal(signal.SIGKILL)
            return status

        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = list(pool.map(fetch, fleet.urls))
        failed = [s for s in statuses if s != 200]
        print(f"\nkilled one of 3 instances a third of the way: {len(failed)} failed requests")
        assert victim.process.wait(10) == -signal.SIGKILL
        assert len(failed) <= CLIENTS  # at most the requests in flight when it died
        # The survivors take its share: every render answers now.
        assert page(front.static_url, fleet.urls) == [200] * len(fleet.urls)


@pytest.mark.slow
def test_two_instances_racing_on_one_miss_leave_one_whole_render(
    s3_credentials: Any, world: Path
) -> None:
    fleet = Fleet(s3_credentials, world, 2)
    client = s3_credentials.client()
    with serve(fleet.configs[0]) as one, serve(fleet.configs[1]) as two:
        for url in fleet.urls[:12]:
            start = threading.Barrier(2)

            def ask(
                server: Serve, url: str = url, start: threading.Barrier = start
            ) -> requests.Response:
                start.wait()
                return server.get(url)

            with ThreadPoolExecutor(2) as pool:
                first, second = pool.map(ask, (one, two))
            assert (first.status_code, second.status_code) == (200, 200)
            assert decoded(first.content).size == decoded(second.content).size
            after = [one.get(url), two.get(url)]
            assert after[0].content == after[1].content
            assert after[0].headers["ETag"] == after[1].headers["ETag"]
            stored = client.get_object(Bucket=fleet.store, Key=url[1:])["Body"].read()
            assert stored == after[0].content
            assert decoded(stored).size == decoded(first.content).size
