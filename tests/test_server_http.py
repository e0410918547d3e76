"""HTTP semantics of the serve app, served by a real Werkzeug server thread on 127.0.0.1 and
rendering in-thread (workers = 0): what a browser or a CDN would notice."""

from __future__ import annotations

import http.client
import io
import logging
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.config import write_config
from support.serve import Live, decoded, dir_config, image_bytes, live
from support.waiting import wait_until

from phizer.base.errors import Overloaded
from phizer.base.urls import parse_url, sign_url
from phizer.config import Config, load_config
from phizer.pool.jobs import JobResult, RenderJob, resample_threads, usable_cores
from phizer.pool.workers import make_pool
from phizer.serve.app import create_app

pytestmark = pytest.mark.slow

KEY = "test-signing-key"


def make_config(tmp_path: Path, **extra: Any) -> Config:
    server = {"workers": 0, "max_age": 3600, "error_max_age": 30, **extra.pop("server", {})}
    sections = dir_config(tmp_path, server=server, **extra)
    return load_config(write_config(tmp_path, sections))


@pytest.fixture
def originals(tmp_path: Path) -> Path:
    folder = tmp_path / "originals"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(image_bytes(640, 480))
    (folder / "photos").mkdir()
    (folder / "photos" / "b.png").write_bytes(image_bytes(300, 600, "PNG"))
    # A real image just outside the source root: what a traversal would be after.
    (tmp_path / "secret.jpg").write_bytes(image_bytes(64, 64))
    return folder


@pytest.fixture
def site(tmp_path: Path, originals: Path) -> Iterator[Live]:
    with live(create_app(make_config(tmp_path))) as running:
        yield running


def raw_status(site: Live, path: str, method: str = "GET") -> int:
    """Send `path` byte for byte (requests would normalise dot segments away)."""
    host, port = site.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_miss_then_hit_same_image_same_validators(site: Live, tmp_path: Path) -> None:
    miss = site.get("/220x220/a.jpg")
    assert miss.status_code == 200
    assert miss.headers["Content-Type"] == "image/jpeg"
    assert int(miss.headers["Content-Length"]) == len(miss.content)
    assert decoded(miss.content).size == (220, 220)
    assert miss.headers["Cache-Control"] == "public, max-age=3600"
    assert miss.headers["ETag"].startswith('"')
    assert "Last-Modified" in miss.headers
    assert (tmp_path / "renders" / "220x220" / "a.jpg").read_bytes() == miss.content

    hit = site.get("/220x220/a.jpg")
    assert hit.status_code == 200
    assert hit.content == miss.content
    assert hit.headers["ETag"] == miss.headers["ETag"]
    assert hit.headers["Last-Modified"] == miss.headers["Last-Modified"]
    assert hit.headers["Content-Length"] == miss.headers["Content-Length"]
    assert site.metric("phizer_render_cache_total", result="miss") == 1
    assert site.metric("phizer_render_cache_total", result="hit") == 1


def test_a_miss_that_lost_a_race_is_answered_from_the_store_not_rendered_again(
    tmp_path: Path, originals: Path
) -> None:
    """Request A looks in the store and misses; before A starts a job, request B's job
    renders and stores the same render. A's ticket, taken before its look, shows that a job
    for the original finished since, so A asks the store again and answers from it: the
    render is neither made twice nor rewritten under caches that hold it."""
    config = make_config(tmp_path, server={"render_ahead": False})
    app = create_app(config)
    try:
        url = parse_url("/220x220/a.jpg", extensions=config.limits.extensions)
        size = config.size_by_dimensions(220, 220)
        assert size is not None
        ticket = app.misses.ticket(url.path)  # A, then its look in the store: a miss
        assert app.misses.fill(url, size, app.misses.ticket(url.path)) is not None  # B
        wait_until(lambda: app.misses.ticket(url.path) != ticket)  # B's job is over
        render = tmp_path / "renders" / url.key
        written = render.stat()
        assert app.misses.fill(url, size, ticket) is None  # A: serve it from the store
        again = render.stat()
        assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    finally:
        app.close()


def test_one_date_header_and_no_versions(site: Live) -> None:
    response = site.get("/220x220/a.jpg")
    assert response.raw.headers.getlist("Date") == [response.headers["Date"]]
    assert response.headers["Server"] == "phizer"


def test_max_mode_keeps_aspect_ratio(site: Live) -> None:
    assert decoded(site.get("/400x400/a.jpg").content).size == (400, 300)
    assert decoded(site.get("/400x400/photos/b.png").content).size == (200, 400)


def test_miss_renders_ahead_other_sizes_but_not_for_crops(site: Live, tmp_path: Path) -> None:
    renders = tmp_path / "renders"
    assert site.get("/220x220/a.jpg").status_code == 200
    wait_until(lambda: (renders / "400x400" / "a.jpg").exists())
    wait_until(lambda: (renders / "120x120" / "a.jpg").exists())
    assert site.get("/120x120/a.jpg").status_code == 200
    assert site.metric("phizer_render_cache_total", result="hit") == 1

    assert site.get("/220x220/0x0/300x300/photos/b.png").status_code == 200
    assert site.metric("phizer_render_seconds_count") == 2
    assert not (renders / "400x400" / "photos").exists()


def test_render_ahead_leaves_stored_renders_alone(site: Live, tmp_path: Path) -> None:
    """A warmed size keeps its bytes and validators when a miss of another size renders
    ahead: rewriting it would change its ETag under every cache that holds it."""
    renders = tmp_path / "renders"
    warmed = renders / "400x400" / "a.jpg"
    warmed.parent.mkdir(parents=True)
    warmed.write_bytes(image_bytes(400, 300))
    before = warmed.stat()
    etag = site.get("/400x400/a.jpg").headers["ETag"]

    assert site.get("/220x220/a.jpg").status_code == 200
    wait_until(lambda: (renders / "120x120" / "a.jpg").exists())
    wait_until(lambda: site.metric("phizer_queue_depth") == 0)  # the job is over
    after = warmed.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert site.get("/400x400/a.jpg").headers["ETag"] == etag


@pytest.mark.parametrize(
    ("header", "validator"), [("If-None-Match", "ETag"), ("If-Modified-Since", "Last-Modified")]
)
@pytest.mark.parametrize("first", ["miss", "hit"])
def test_conditional_get_answers_304(site: Live, header: str, validator: str, first: str) -> None:
    if first == "hit":
        site.get("/220x220/a.jpg")
    response = site.get("/220x220/a.jpg")
    again = site.get("/220x220/a.jpg", headers={header: response.headers[validator]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == response.headers["ETag"]
    assert again.headers["Cache-Control"] == "public, max-age=3600"


def test_changed_etag_gets_the_image(site: Live) -> None:
    response = site.get("/220x220/a.jpg", headers={"If-None-Match": '"something-else"'})
    assert response.status_code == 200
    assert decoded(response.content).size == (220, 220)


@pytest.mark.parametrize("first", ["miss", "hit"])
def test_head_gives_headers_without_body(site: Live, first: str) -> None:
    if first == "hit":
        site.get("/220x220/a.jpg")
    head = site.request("HEAD", "/220x220/a.jpg")
    get = site.get("/220x220/a.jpg")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["Content-Type"] == "image/jpeg"
    assert head.headers["ETag"] == get.headers["ETag"]


@pytest.mark.parametrize(
    ("variant", "content_type", "pil_format"),
    [
        ("webp", "image/webp", "WEBP"),
        ("png", "image/png", "PNG"),
        ("avif", "image/avif", "AVIF"),
    ],
)
def test_format_variants(site: Live, variant: str, content_type: str, pil_format: str) -> None:
    for _ in ("miss", "hit"):
        response = site.get(f"/220x220/a.jpg.{variant}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == content_type
        image = Image.open(io.BytesIO(response.content))
        assert (image.format, image.size) == (pil_format, (220, 220))


def test_a_mislabelled_original_renders_in_the_format_its_url_names(
    site: Live, originals: Path, tmp_path: Path
) -> None:
    # A PNG with alpha uploaded as .jpg: nginx and the dir store label the stored render by
    # its key, so the miss must be a JPEG too, or a hit and a miss would disagree.
    clear = Image.new("RGBA", (440, 220), (255, 0, 0, 0))
    clear.paste((0, 0, 255, 255), (0, 0, 220, 220))
    out = io.BytesIO()
    clear.save(out, "PNG")
    (originals / "upload.jpg").write_bytes(out.getvalue())
    for _ in ("miss", "hit"):
        response = site.get("/220x220/upload.jpg")
        assert response.headers["Content-Type"] == "image/jpeg"
        image = decoded(response.content)
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (220, 220))
        assert image.getpixel((200, 100)) == pytest.approx((255, 255, 255), abs=3)  # canvas
    stored = decoded((tmp_path / "renders" / "220x220" / "upload.jpg").read_bytes())
    assert stored.format == "JPEG"
    variant = decoded(site.get("/220x220/upload.jpg.png").content)
    assert (variant.format, variant.mode) == ("PNG", "RGBA")


def assert_error(response: Any, status: int, max_age: int | None = 30) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(str(status))
    assert "Traceback" not in response.text
    expected = "no-store" if max_age is None else f"public, max-age={max_age}"
    assert response.headers["Cache-Control"] == expected


def test_unknown_size_is_404(site: Live) -> None:
    assert_error(site.get("/221x220/a.jpg"), 404)


def test_missing_original_is_404(site: Live, tmp_path: Path) -> None:
    assert_error(site.get("/220x220/nope.jpg"), 404)
    assert not (tmp_path / "renders" / "220x220" / "nope.jpg").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/0220x220/a.jpg",
        "/220x0220/a.jpg",
        "/220x220/010x0/100x100/a.jpg",
        "/220x220/a.txt",
        "/220x220/50x50/10x10/a.jpg",
        "/123456x220/a.jpg",
    ],
)
def test_malformed_urls_are_400(site: Live, path: str) -> None:
    assert_error(site.get(path), 400)


@pytest.mark.parametrize(
    "path",
    [
        "/220x220/../secret.jpg",
        "/220x220/%2e%2e/secret.jpg",
        "/220x220/..%2fsecret.jpg",
        "/220x220/%2E%2E%2Fsecret.jpg",
        "/220x220/photos/../../secret.jpg",
        "/220x220//secret.jpg",
        "/220x220/..\\secret.jpg",
        "/220x220/%5c..%5csecret.jpg",
        "/220x220/%00/../secret.jpg",
        "/220x220/./a.jpg",
        "/../secret.jpg",
        "/220x220/%252e%252e/secret.jpg",
    ],
)
def test_traversal_attempts_never_succeed(site: Live, path: str, tmp_path: Path) -> None:
    assert 400 <= raw_status(site, path) < 500
    assert not any(p.name == "secret.jpg" for p in (tmp_path / "renders").rglob("*"))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_with_allow(site: Live, method: str) -> None:
    response = site.request(method, "/220x220/a.jpg")
    assert_error(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "HEAD"}


def test_undecodable_original_is_422(site: Live, originals: Path, tmp_path: Path) -> None:
    (originals / "broken.jpg").write_bytes(image_bytes()[:300])
    (originals / "text.jpg").write_bytes(b"this is not an image at all\n" * 10)
    assert_error(site.get("/220x220/broken.jpg"), 422)
    assert_error(site.get("/220x220/text.jpg"), 422)
    assert not (tmp_path / "renders" / "220x220" / "broken.jpg").exists()


def test_unsupported_format_is_415(site: Live, originals: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(out, "TIFF")
    (originals / "tiff.jpg").write_bytes(out.getvalue())
    assert_error(site.get("/220x220/tiff.jpg"), 415)


def test_signatures_enforced_for_crops(tmp_path: Path, originals: Path) -> None:
    config = make_config(tmp_path, security={"key": KEY, "sign": "crop"})
    crop = "/220x220/0x0/320x240/a.jpg"
    with live(create_app(config)) as site:
        assert_error(site.get(crop), 403)
        signed = site.get(sign_url(crop, KEY))
        assert signed.status_code == 200
        assert decoded(signed.content).size == (220, 220)
        assert_error(site.get("/AAAAAAAAAAAAAAAA" + crop), 403)
        assert site.get("/220x220/a.jpg").status_code == 200  # plain resizes need none


def test_signatures_enforced_for_everything(tmp_path: Path, originals: Path) -> None:
    config = make_config(tmp_path, security={"key": KEY, "sign": "all"})
    with live(create_app(config)) as site:
        assert_error(site.get("/220x220/a.jpg"), 403)
        assert site.get(sign_url("/220x220/a.jpg", KEY)).status_code == 200


class FullPool:
    """A pool whose queue is always full: what serve sees under a render stampede."""

    def submit(
        self, job: RenderJob, *, block: bool = True, on_finish: Callable[[], None] | None = None
    ) -> Future[JobResult]:
        raise Overloaded("render queue is full (0 jobs pending)")

    def pending(self) -> int:
        return 64

    def alive(self) -> bool:
        return True

    def close(self, *, cancel: bool = False) -> None:
        pass


class BrokenPool(FullPool):
    """A pool with a bug: what serve does with an exception nobody meant to raise."""

    def submit(
        self, job: RenderJob, *, block: bool = True, on_finish: Callable[[], None] | None = None
    ) -> Future[JobResult]:
        raise RuntimeError("secret internal detail /etc/phizer")


def test_full_queue_is_503_while_hits_are_served(tmp_path: Path, originals: Path) -> None:
    config = make_config(tmp_path)
    (tmp_path / "renders" / "120x120").mkdir(parents=True)
    (tmp_path / "renders" / "120x120" / "a.jpg").write_bytes(image_bytes(120, 120))
    with live(create_app(config, pool=FullPool())) as site:
        response = site.get("/220x220/a.jpg")
        assert_error(response, 503, max_age=None)
        assert int(response.headers["Retry-After"]) > 0
        assert site.get("/120x120/a.jpg").status_code == 200
        assert site.metric("phizer_queue_depth") == 64


def test_unexpected_error_is_500_and_logged(
    tmp_path: Path, originals: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with live(create_app(make_config(tmp_path), pool=BrokenPool())) as site:
        response = site.get("/220x220/a.jpg")
    assert_error(response, 500, max_age=None)
    assert "secret" not in response.text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert any("secret internal detail" in str(r.exc_info[1]) for r in logged if r.exc_info)


def test_healthz_follows_the_pool(tmp_path: Path, originals: Path) -> None:
    config = make_config(tmp_path)
    pool = make_pool(config, 0, 4)
    with live(create_app(config, pool=pool)) as site:
        response = site.get("/healthz")
        assert (response.status_code, response.text) == (200, "ok\n")
        assert response.headers["Cache-Control"] == "no-store"
        pool.close()
        assert site.get("/healthz").status_code == 503


def test_metrics_in_prometheus_text_format(site: Live) -> None:
    site.get("/220x220/a.jpg")
    site.get("/220x220/a.jpg")
    site.get("/221x220/a.jpg")
    response = site.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    for name in (
        "phizer_requests_total",
        "phizer_render_cache_total",
        "phizer_render_seconds",
        "phizer_fetch_seconds",
        "phizer_origin_errors_total",
        "phizer_queue_depth",
    ):
        assert f"\n# TYPE {name} " in "\n" + response.text
    assert site.metric("phizer_requests_total", status="200") == 3  # and the first scrape
    assert site.metric("phizer_requests_total", status="404") == 1
    assert site.metric("phizer_render_seconds_count") == 1
    assert site.metric("phizer_fetch_seconds_count") == 1


def test_one_access_log_line_per_request(
    tmp_path: Path,
    originals: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with live(create_app(make_config(tmp_path))) as site:
        site.get("/220x220/a.jpg")
        site.get("/220x220/a.jpg")
        site.request("HEAD", "/220x220/a.jpg")
        site.get("/221x220/a.jpg")
    lines = [line for line in capsys.readouterr().err.splitlines() if " phizer " in line]
    assert len(lines) == 4
    assert lines[0].split()[3:6] == ["GET", "/220x220/a.jpg", "200"]
    assert lines[0].endswith("miss")
    assert lines[1].endswith(" hit")
    assert lines[2].split()[3:7] == ["HEAD", "/220x220/a.jpg", "200", "0"]
    assert lines[3].split()[3:6] == ["GET", "/221x220/a.jpg", "404"]
    assert not [r for r in caplog.records if r.name == "werkzeug"]


def test_access_log_to_syslog(tmp_path: Path, originals: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(10)
        address = f"127.0.0.1:{collector.getsockname()[1]}"
        config = make_config(tmp_path, server={"log": "syslog", "syslog_address": address})
        with live(create_app(config)) as site:
            site.get("/220x220/a.jpg")
            message = collector.recv(4096).decode()
    assert message.startswith("<14>")  # facility user, severity info
    assert "GET /220x220/a.jpg 200" in message
    assert message.rstrip("\x00").endswith("miss")


class BusyPool:
    """A real in-thread pool that says `busy` other jobs hold it, and keeps what it is sent."""

    def __init__(self, config: Config, busy: int) -> None:
        self.inner = make_pool(config, 0, 4)
        self.busy = busy
        self.jobs: list[RenderJob] = []

    def submit(
        self, job: RenderJob, *, block: bool = True, on_finish: Callable[[], None] | None = None
    ) -> Future[JobResult]:
        self.jobs.append(job)
        return self.inner.submit(job, block=block, on_finish=on_finish)

    def pending(self) -> int:
        return self.busy

    def alive(self) -> bool:
        return self.inner.alive()

    def close(self, *, cancel: bool = False) -> None:
        self.inner.close(cancel=cancel)


@pytest.mark.parametrize(("busy", "limit"), [(0, 0), (64, 0), (0, 1)])
def test_a_miss_resamples_on_the_cores_no_other_job_holds(
    tmp_path: Path, originals: Path, monkeypatch: pytest.MonkeyPatch, busy: int, limit: int
) -> None:
    """On an idle server the job a client waits for may resample on the free cores (and its
    render comes out whole); a busy one, or `miss_threads = 1`, keeps every job to one core."""
    (originals / "big.jpg").write_bytes(image_bytes(1400, 1000))
    config = make_config(tmp_path, server={"miss_threads": limit})
    pool = BusyPool(config, busy)
    expected = resample_threads(usable_cores(), busy, limit)
    try:
        with live(create_app(config, pool=pool)) as site:
            response = site.get("/400x400/big.jpg")
    finally:
        pool.close()
    assert response.status_code == 200
    assert decoded(response.content).size == (400, 286)
    assert [job.threads for job in pool.jobs] == [expected]
    if busy == 0 and limit == 0 and usable_cores() > 1:
        assert expected > 1  # the idle case does exercise the split
    if limit == 1:
        assert expected == 1
