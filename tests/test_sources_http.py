"""HTTP slaves against real loopback origins: timeouts, byte caps, redirects, path safety."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from phizer.base.errors import BadRequest, OriginalNotFound, OriginError, OriginTimeout, TooLarge
from phizer.sources.http import HttpSlave

pytestmark = pytest.mark.slow
MB = 1 << 20


def slave(origin: Any, max_bytes: int = 1000, timeout: float = 2.0) -> HttpSlave:
    return HttpSlave(origin.url, max_bytes, timeout)


def test_fetch_serves_the_file(origins: Any) -> None:
    origin = origins(files={"photos/a b.jpg": b"JPEGDATA"})
    original = slave(origin).fetch("photos/a b.jpg")
    assert original.data == b"JPEGDATA"
    assert [s.path for s in origin.seen] == ["/uploads/photos/a%20b.jpg"]


@pytest.mark.parametrize("status", [404, 410])
def test_missing_is_not_found(origins: Any, status: int) -> None:
    origin = origins(behaviour="status", status=status)
    with pytest.raises(OriginalNotFound):
        slave(origin).fetch("a.jpg")


@pytest.mark.parametrize("status", [500, 503, 403])
def test_errors_are_origin_errors(origins: Any, status: int) -> None:
    origin = origins(behaviour="status", status=status)
    with pytest.raises(OriginError) as caught:
        slave(origin).fetch("a.jpg")
    assert not isinstance(caught.value, OriginTimeout)


def test_a_text_page_is_not_an_original(origins: Any) -> None:
    origin = origins(files={"a.jpg": b"<html>sorry</html>"}, content_type="text/html")
    with pytest.raises(OriginalNotFound):
        slave(origin).fetch("a.jpg")


def test_refused_connection_is_an_origin_error(origins: Any) -> None:
    origin = origins()
    dead = slave(origin)
    origin.stop()
    with pytest.raises(OriginError) as caught:
        dead.fetch("a.jpg")
    assert not isinstance(caught.value, OriginTimeout)


def test_hanging_slave_times_out(origins: Any) -> None:
    origin = origins(behaviour="hang")
    start = time.monotonic()
    with pytest.raises(OriginTimeout):
        slave(origin, timeout=0.5).fetch("a.jpg")
    assert time.monotonic() - start < 1.5


def test_trickling_slave_ends_at_the_total_deadline(origins: Any) -> None:
    origin = origins(behaviour="trickle", trickle_interval=0.2)
    start = time.monotonic()
    with pytest.raises(OriginTimeout):
        slave(origin, timeout=1.5).fetch("a.jpg")
    elapsed = time.monotonic() - start
    assert 1.4 < elapsed < 2.2


def test_trickle_slower_than_a_byte_a_second_also_ends(origins: Any) -> None:
    origin = origins(behaviour="trickle", trickle_interval=1.0)
    start = time.monotonic()
    with pytest.raises(OriginTimeout):
        slave(origin, timeout=2.5).fetch("a.jpg")
    assert time.monotonic() - start < 3.5


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def test_endless_body_is_cut_at_the_cap_with_flat_memory(origins: Any) -> None:
    origin = origins(behaviour="endless")
    peak = [_rss()]
    baseline = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with pytest.raises(TooLarge):
            slave(origin, max_bytes=5 * MB, timeout=20).fetch("a.jpg")
    finally:
        done.set()
        sampler.join()
    assert peak[0] - baseline < 50 * MB


def test_declared_length_over_the_cap_is_refused_early(origins: Any) -> None:
    origin = origins(files={"a.jpg": b"x" * 2000})
    with pytest.raises(TooLarge):
        slave(origin, max_bytes=1000).fetch("a.jpg")


def test_same_host_redirect_is_followed(origins: Any) -> None:
    origin = origins(files={"new.jpg": b"MOVED"}, redirects={"old.jpg": "/uploads/new.jpg"})
    assert slave(origin).fetch("old.jpg").data == b"MOVED"
    assert [s.path for s in origin.seen] == ["/uploads/old.jpg", "/uploads/new.jpg"]


def test_redirect_to_another_host_is_refused(origins: Any) -> None:
    elsewhere = origins(files={"a.jpg": b"EVIL"})
    origin = origins(behaviour="redirect", redirect_to=elsewhere.url + "a.jpg")
    with pytest.raises(OriginError, match="another host"):
        slave(origin).fetch("a.jpg")
    assert elsewhere.seen == []


def test_redirect_loop_is_bounded(origins: Any) -> None:
    origin = origins(behaviour="redirect")
    origin.redirect_to = origin.url + "loop.jpg"
    with pytest.raises(OriginError, match="redirects"):
        slave(origin).fetch("a.jpg")
    assert len(origin.seen) == 4  # the request and three redirects


@pytest.mark.parametrize("path", ["//evil.example/x", "../x.jpg", "/etc/passwd", "a\\b", "a\r\nb"])
def test_unsafe_paths_never_leave_the_client(origins: Any, path: str) -> None:
    origin = origins()
    with pytest.raises(BadRequest):
        slave(origin).fetch(path)
    assert origin.seen == []


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("@evil.example/x.jpg", "/uploads/%40evil.example/x.jpg"),
        ("%2e%2e/x.jpg", "/uploads/%252e%252e/x.jpg"),
        ("a?b#c.jpg", "/uploads/a%3Fb%23c.jpg"),
        ("evil.example:80/x.jpg", "/uploads/evil.example%3A80/x.jpg"),
    ],
)
def test_odd_paths_stay_on_the_slave_host(origins: Any, path: str, sent: str) -> None:
    origin = origins()
    with pytest.raises(OriginalNotFound):
        slave(origin).fetch(path)
    host = origin.root.removeprefix("http://")
    assert [(s.path, s.host) for s in origin.seen] == [(sent, host)]


def test_check_counts_any_answer_as_reachable(origins: Any) -> None:
    origin = origins(behaviour="status", status=500)
    assert "500" in slave(origin).check()
    origin.stop()
    with pytest.raises(OriginError):
        slave(origin).check()
