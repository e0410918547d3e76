"""The URL surface under attack, against a live `phizer serve` process.

Requests go out as raw bytes over a socket, so nothing on the client side normalises a dot
segment, re-encodes an escape or refuses a NUL. The server runs with a dir master, a loopback
slave (the one host phizer may ask), a signing key (`sign = "crop"`), and next to its roots:
a real JPEG and a text canary (what a traversal would be after), a sibling directory whose
name starts like the master's, and a second loopback origin that must never be asked.

After every request, checked where a user (or an attacker) would notice: the status is never
500 and never 200 for an attack; the body never holds the canary; Linux inotify saw no file
beside the roots opened or created (so nothing was read or written outside the master, the
store and the cache); the forbidden origin received nothing, and the slave only requests
under its own base path. The server's log never shows a traceback.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.config import write_config
from support.serve import Serve, decoded, dir_config, image_bytes, live, serve
from support.servers import Origin
from support.waiting import wait_until

from phizer.base.urls import sign_url, signature
from phizer.config import load_config
from phizer.serve.app import create_app

pytestmark = pytest.mark.slow

KEY = "hostile-urls-key"
ROOTS = {"originals", "renders", "cache"}  # what phizer may touch; all else beside is off-limits


# --- raw HTTP --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no status line at all (an HTTP/0.9-style error page)
    headers: dict[str, str]
    body: bytes


def send(url: str, raw: bytes, timeout: float = 30) -> Answer:
    """Send `raw` as is and read the answer until the server closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    if not data.startswith(b"HTTP/"):
        return Answer(None, {}, data)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body)


def request(
    url: str, target: str | bytes, method: str | bytes = "GET", headers: bytes = b""
) -> Answer:
    """One request, the target and method byte for byte (str targets are sent as UTF-8)."""
    t = target.encode() if isinstance(target, str) else target
    m = method.encode("latin-1") if isinstance(method, str) else method
    host = url.removeprefix("http://").encode()
    raw = m + b" " + t + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + headers
    return send(url, raw + b"Connection: close\r\n\r\n")


# --- inotify: who opened or created what beside the roots -----------------------------

IN_ACCESS, IN_MODIFY, IN_OPEN, IN_MOVED_TO, IN_CREATE = 0x1, 0x2, 0x20, 0x80, 0x100
_EVENT = struct.Struct("iIII")


class Watch:
    """inotify on directories: every open, read, write or creation of an entry in them."""

    def __init__(self, *folders: Path) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = IN_ACCESS | IN_MODIFY | IN_OPEN | IN_MOVED_TO | IN_CREATE
        for folder in folders:
            if self._libc.inotify_add_watch(self.fd, str(folder).encode(), mask) < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")

    def names(self) -> list[str]:
        """Entries touched since the last call (the watched folders themselves excluded)."""
        found: list[str] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            pos = 0
            while pos < len(data):
                _wd, _mask, _cookie, length = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size : pos + _EVENT.size + length].rstrip(b"\0")
                if name:
                    found.append(name.decode(errors="replace"))
                pos += _EVENT.size + length

    def close(self) -> None:
        os.close(self.fd)


# --- the site under attack ------------------------------------------------------------


@dataclass
class Site:
    server: Serve
    folder: Path
    canary: bytes
    slave: Origin
    forbidden: Origin
    watch: Watch

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def evil(self) -> str:
        """host:port of the origin phizer must never ask."""
        return self.forbidden.root.removeprefix("http://")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("hostile-urls")
    canary = f"CANARY-{uuid.uuid4()}".encode()
    (folder / "secret.jpg").write_bytes(image_bytes(64, 64))
    (folder / "canary.txt").write_bytes(canary + b"\n")
    (folder / "passwd.jpg").write_bytes(canary)
    sibling = folder / "originals-sibling"
    sibling.mkdir()
    (sibling / "a.jpg").write_bytes(image_bytes(64, 64))
    sections = dir_config(folder, security={"key": KEY, "sign": "crop"})
    originals = folder / "originals"
    (originals / "a.jpg").write_bytes(image_bytes(640, 480))
    (originals / "photos").mkdir()
    (originals / "photos" / "b.png").write_bytes(image_bytes(300, 600, "PNG"))
    (originals / "link.jpg").symlink_to(folder / "secret.jpg")  # points out of the root
    slave = Origin(files={"slave.jpg": image_bytes(320, 240)}).start()
    forbidden = Origin(prefix="/", files={"a.jpg": image_bytes(64, 64)}).start()
    sections["slaves"] = [{"url": slave.url}]
    config = write_config(folder, sections)
    try:
        with serve(config, workers=1) as server:
            watch = Watch(folder, sibling)
            try:
                yield Site(server, folder, canary, slave, forbidden, watch)
            finally:
                watch.close()
    finally:
        slave.stop()
        forbidden.stop()


@pytest.fixture
def attack(site: Site) -> Iterator[Site]:
    """The site, with everything an attack must not cause checked after the test."""
    site.watch.names()
    seen_before = len(site.slave.seen)
    log_before = len(site.server.lines)
    yield site
    touched = [n for n in site.watch.names() if n not in ROOTS]
    assert touched == [], "files beside the roots were opened or created"
    assert site.forbidden.seen == [], "a request reached a host phizer was not configured with"
    slave_host = site.slave.root.removeprefix("http://")
    for seen in site.slave.seen[seen_before:]:
        assert seen.host == slave_host
        assert seen.path.startswith(site.slave.prefix)
        assert "/../" not in seen.path
        assert "/./" not in seen.path
    log = site.server.lines[log_before:]
    assert not [line for line in log if "Traceback" in line or " 500 " in line]
    assert request(site.url, "/healthz").status == 200


def assert_refused(site: Site, answer: Answer, allowed: set[int]) -> None:
    assert answer.status in allowed, (answer.status, answer.body[:200])
    assert site.canary not in answer.body
    assert b"Traceback" not in answer.body
    assert_plain_text(answer)


def assert_plain_text(answer: Answer) -> None:
    """Every refusal, the HTTP server's own included, is a line of text, never a page."""
    assert answer.headers.get("content-type", "").startswith("text/plain"), answer.headers
    assert answer.status is not None, answer.body[:200]
    assert answer.body.startswith(b"%d " % answer.status), answer.body[:200]


TRAVERSALS = [
    "/220x220/../secret.jpg",
    "/220x220/%2e%2e/secret.jpg",
    "/220x220/%2E%2E/secret.jpg",
    "/220x220/.%2e/secret.jpg",
    "/220x220/..%2fsecret.jpg",
    "/220x220/..%2Fsecret.jpg",
    "/220x220/%2e%2e%2fsecret.jpg",
    "/220x220/photos/../../secret.jpg",
    "/220x220/photos/%2e%2e/%2e%2e/secret.jpg",
    "/220x220/../originals-sibling/a.jpg",
    "/220x220/..%5csecret.jpg",
    "/220x220/..\\secret.jpg",
    "/220x220/%5c..%5csecret.jpg",
    "/220x220/%252e%252e/secret.jpg",
    "/220x220/%252e%252e%252fsecret.jpg",
    "/220x220/%25252e%25252e/secret.jpg",
    "/220x220/%c0%ae%c0%ae/secret.jpg",
    "/220x220/%c0%ae%c0%ae%c0%afsecret.jpg",
    "/220x220/%e0%80%ae%e0%80%ae/secret.jpg",
    "/220x220/%c0%2e%c0%2e/secret.jpg",
    "/220x220/%00/../secret.jpg",
    "/220x220/secret.jpg%00.png",
    "/220x220/a.jpg%00",
    "/220x220/a%00.jpg",
    "/220x220/./a.jpg",
    "/220x220/photos/./b.png",
    "/220x220/.hidden.jpg",
    "/220x220/%2fetc/passwd.jpg",
    "/220x220//passwd.jpg",
    "/220x220/file:///passwd.jpg",
    "/220x220/C:/secret.jpg",
    "/220x220/a.jpg;/../../secret.jpg",
    "/220x220/a.jpg/",
    "/220x220/a.jpg%2f",
    "/220x220/%ff%fe.jpg",
    "/220x220/a%e2%80%aegpj.jpg",  # a bidi override: spoofed names in logs
    "/220x220/0x0/640x480/../secret.jpg",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_in_every_encoding_is_refused(attack: Site, target: str) -> None:
    answer = request(attack.url, target)
    assert_refused(attack, answer, {400})
    assert answer.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.jpg",
        "/%2e%2e/secret.jpg",
        "/..%2fsecret.jpg",
        "/220x220/a.jpg%0d%0aSet-Cookie:x=1",  # Werkzeug's path rule never matches a newline
        "/220x220/%0a../secret.jpg",
    ],
)
def test_traversal_before_the_size_or_with_newlines_is_not_found(attack: Site, target: str) -> None:
    assert_refused(attack, request(attack.url, target), {400, 404})


def test_markup_in_a_path_is_echoed_only_as_plain_text(attack: Site) -> None:
    for target in (
        "/220x220/%3Cscript%3Ealert(1)%3C/script%3E.jpg",
        "/220x220/%3Cimg%20src=x%20onerror=alert(1)%3E.jpg",
    ):
        answer = request(attack.url, target)
        assert_refused(attack, answer, {400, 404})
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        assert answer.headers["x-content-type-options"] == "nosniff"
    # Unescaped spaces break the request line: the HTTP server's own (HTML) error page
    # escapes what it repeats.
    answer = request(attack.url, "/<svg onload=alert(1)>/a.jpg")
    assert_refused(attack, answer, {400})
    assert b"<svg" not in answer.body


def test_absolute_paths_are_refused(attack: Site) -> None:
    canary = str(attack.folder / "canary.txt")
    for target in (f"/220x220/{canary}", f"/220x220/%2f{canary[1:]}", canary, "/etc/passwd"):
        assert_refused(attack, request(attack.url, target), {400, 404})


def test_a_symlink_out_of_the_master_is_not_found(attack: Site) -> None:
    assert_refused(attack, request(attack.url, "/220x220/link.jpg"), {404})


def test_other_hosts_in_the_path_never_get_a_request(attack: Site) -> None:
    evil = attack.evil
    for target in (
        f"//{evil}/a.jpg",
        f"//{evil}/220x220/a.jpg",
        f"/220x220//{evil}/a.jpg",
        f"/220x220/http://{evil}/a.jpg",
        f"/220x220/http:%2f%2f{evil}/a.jpg",
        f"/220x220/@{evil}/a.jpg",
        f"/220x220/%40{evil}/a.jpg",
        f"/220x220/{evil}/a.jpg",
    ):
        assert_refused(attack, request(attack.url, target), {400, 404})
    # Deeper down, "@host:port" is a harmless file name: quoted onto the slave's base URL.
    assert_refused(attack, request(attack.url, f"/220x220/x/@{evil}/a.jpg"), {404})
    assert any("%40" in seen.path for seen in attack.slave.seen)


def test_host_and_absolute_form_targets_change_nothing(attack: Site) -> None:
    """The request's authority is not an input: the same render, and the host it names
    hears nothing."""
    plain = request(attack.url, "/220x220/a.jpg")
    assert plain.status == 200
    evil = attack.evil.encode()
    for answer in (
        request(attack.url, b"http://" + evil + b"/220x220/a.jpg"),
        send(
            attack.url,
            b"GET /220x220/a.jpg HTTP/1.1\r\nHost: " + evil + b"\r\n"
            b"X-Forwarded-Host: " + evil + b"\r\nForwarded: host=" + evil + b"\r\n"
            b"Connection: close\r\n\r\n",
        ),
        request(attack.url, "/220x220/a.jpg?url=http://" + attack.evil + "/a.jpg&path=../x"),
    ):
        assert answer.status == 200
        assert answer.body == plain.body


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("/99999999999999999999x1/a.jpg", {400}),
        ("/1x99999999999999999999/a.jpg", {400}),
        ("/220x220/0x0/99999999999999999999x1/a.jpg", {400}),
        ("/220x220/99999999999999999999x0/1x1/a.jpg", {400}),
        ("/100000x1/a.jpg", {400}),
        ("/0x0/a.jpg", {400}),
        ("/0x220/a.jpg", {400}),
        ("/220x0/a.jpg", {400}),
        ("/00x220/a.jpg", {400}),
        ("/-220x220/a.jpg", {404}),
        ("/220x-220/a.jpg", {404}),
        ("/+220x220/a.jpg", {404}),
        ("/220.0x220/a.jpg", {404}),
        ("/2e2x220/a.jpg", {404}),
        ("/0x220x220/a.jpg", {404}),
        ("/%EF%BC%92%EF%BC%92%EF%BC%90x220/a.jpg", {404}),  # full-width digits
        ("/\uff12\uff12\uff10x220/a.jpg", {400, 404}),  # the same unescaped (not valid HTTP)
        ("/220x220/-1x0/10x10/a.jpg", {404}),  # not a crop: a path that does not exist
        ("/220x220/50x50/10x10/a.jpg", {400}),  # inverted
        ("/220x220/10x10/10x20/a.jpg", {400}),  # empty
        ("/220x220/0x0/0x0/a.jpg", {400}),
        ("/221x220/a.jpg", {404}),
        ("/1x1/a.jpg", {404}),
        ("/99999x99999/a.jpg", {404}),
        ("/220X220/a.jpg", {404}),
        ("/220x220/a.tiff", {400}),
        ("/220x220/a.jpg.tiff", {400}),
        ("/220x220/a.jpg.WEBP", {400}),
        ("/220x220/a.jpg.webp.webp", {400}),
        ("/220x220", {400, 404}),
        ("/220x220/", {400}),
        ("/", {404}),
        ("*", {400, 404}),
    ],
)
def test_numbers_sizes_and_boxes(attack: Site, target: str, allowed: set[int]) -> None:
    assert_refused(attack, request(attack.url, target), allowed)


def test_crop_boxes_outside_the_image_are_400_even_when_signed(attack: Site) -> None:
    for crop in ("0x0/641x480", "0x0/640x481", "600x400/700x500", "640x0/641x1", "0x0/99999x99999"):
        answer = request(attack.url, sign_url(f"/220x220/{crop}/a.jpg", KEY))
        assert_refused(attack, answer, {400})
        assert b"outside" in answer.body
    inside = request(attack.url, sign_url("/220x220/0x0/640x480/a.jpg", KEY))
    assert inside.status == 200
    assert decoded(inside.body).size == (220, 220)


def test_signatures_missing_bad_or_for_another_path_are_403(attack: Site) -> None:
    crop = "/220x220/0x0/320x240/a.jpg"
    good = sign_url(crop, KEY)
    sig = good.split("/")[1]
    other = sign_url("/220x220/0x0/320x240/photos/b.png", KEY).split("/")[1]
    plain_sig = signature("220x220/a.jpg", KEY)
    for target in (
        crop,  # missing
        "/AAAAAAAAAAAAAAAA" + crop,  # made up
        f"/{other}{crop}",  # valid, for another path
        f"/{plain_sig}{crop}",  # valid, for the uncropped URL
        f"/{sig.swapcase()}{crop}",
        f"/{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}{crop}",
        f"/{signature(crop[1:], 'another-key')}{crop}",
        f"/{sig}/220x220/0x0/320x241/a.jpg",  # the same signature, a bigger box
        f"/{sig}/120x120/0x0/320x240/a.jpg",  # ... another size
        f"/{sig}{crop}.webp",  # ... another format
        f"/{sig}/{sig}{crop}",
    ):
        assert_refused(attack, request(attack.url, target), {403})
    for target in (f"/{sig}={crop}", f"/{sig[:15]}{crop}", f"/{sig}%20{crop}"):
        assert_refused(attack, request(attack.url, target), {400, 403, 404})
    assert request(attack.url, good).status == 200


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("/220x220/" + "a" * 8192 + ".jpg", {400}),
        ("/220x220/" + "a/" * 4000 + "a.jpg", {400}),
        ("/220x220/" + "%2e%2e/" * 2000 + "secret.jpg", {400}),
        ("/" + "9" * 8192 + "x1/a.jpg", {400}),
        ("/220x220/" + "a" * 70_000 + ".jpg", {400, 414}),  # past the request-line limit
    ],
)
def test_over_long_paths(attack: Site, target: str, allowed: set[int]) -> None:
    assert_refused(attack, request(attack.url, target), allowed)


def test_over_long_and_too_many_headers(attack: Site) -> None:
    long_header = b"X-Long: " + b"a" * 70_000 + b"\r\n"
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    long_host = b"Host2: " + b"h" * 8192 + b"\r\n"
    long_ims = b"If-None-Match: " + b'"x", ' * 2000 + b"\r\n"
    cookie = b"Cookie: " + b"a=b; " * 3000 + b"\r\n"
    for headers, allowed in (
        (long_header, {431}),
        (many, {431}),
        (long_host, {200}),
        (long_ims, {200}),
        (cookie, {200}),
    ):
        answer = request(attack.url, "/220x220/a.jpg", headers=headers)
        assert answer.status in allowed, (answer.status, answer.body[:200])
        assert attack.canary not in answer.body
        if answer.status != 200:
            assert_plain_text(answer)


@pytest.mark.parametrize(
    "method",
    [
        "POST",
        "PUT",
        "DELETE",
        "PATCH",
        "OPTIONS",
        "TRACE",
        "CONNECT",
        "PROPFIND",
        "MKCOL",
        "PURGE",
        "BREW",
        "X" * 200,
        "get",
        "Get",
        "head",
        "G\x00ET",
        "GET\x7f",
    ],
)
@pytest.mark.parametrize("target", ["/220x220/a.jpg", "/220x220/../secret.jpg", "/metrics"])
def test_methods_other_than_get_and_head_are_405(attack: Site, method: str, target: str) -> None:
    answer = request(attack.url, target, method=method, headers=b"Content-Length: 0\r\n")
    assert_refused(attack, answer, {405})
    assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "HEAD"}


def test_lowercase_get_is_405_not_a_render(attack: Site) -> None:
    """Werkzeug upper-cases the method for routing, which would answer "get" as GET (200
    and a render); methods are case-sensitive."""
    answer = request(attack.url, "/220x220/a.jpg", method="get")
    assert answer.status == 405
    assert not answer.body.startswith(b"\xff\xd8")


def test_head_of_an_attack_is_refused_without_a_body(attack: Site) -> None:
    answer = request(attack.url, "/220x220/%2e%2e/secret.jpg", method="HEAD")
    assert answer.status == 400
    assert answer.body == b""


def test_a_body_smuggled_behind_a_get_is_not_a_second_request(attack: Site) -> None:
    inner = b"GET /220x220/../secret.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
    for framing in (
        b"Content-Length: %d\r\n\r\n" % len(inner) + inner,
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(inner) + inner + b"\r\n0\r\n\r\n",
    ):
        raw = b"GET /221x220/a.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + framing
        answer = send(attack.url, raw)
        assert answer.status == 404
        assert answer.body.count(b"HTTP/1.") == 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_clients_that_stop_sending_are_disconnected(tmp_path: Path) -> None:
    """Each connection holds a thread and a descriptor and the threaded server caps neither:
    without a socket timeout, requests trickled header by header (slowloris) or idle
    keep-alives were held open forever."""
    config = load_config(write_config(tmp_path, dir_config(tmp_path, server={"workers": 0})))
    (tmp_path / "originals" / "a.jpg").write_bytes(image_bytes(64, 64))
    with live(create_app(config), idle_timeout=1.0) as site:
        host, port = site.url.removeprefix("http://").split(":")
        before = open_fds()
        stalled = [socket.create_connection((host, int(port)), timeout=15) for _ in range(20)]
        for sock in stalled:
            sock.sendall(b"GET /220x220/a.jpg HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        idle = socket.create_connection((host, int(port)), timeout=15)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # then keep-alive, idle
        answer = b""
        while not answer.endswith(b"ok\n"):
            answer += idle.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        for sock in [*stalled, idle]:
            assert sock.recv(1024) == b""  # the server closed it (a hang raises TimeoutError)
            sock.close()
        assert time.monotonic() - started < 10
        wait_until(lambda: open_fds() <= before)
        assert site.get("/220x220/a.jpg").status_code == 200


def connection_threads(besides: set[threading.Thread]) -> int:
    """The server threads serving a connection (socketserver names them after their target),
    not counting `besides`: ones an earlier test's server may still be closing."""
    return sum(
        "process_request_thread" in t.name and t not in besides for t in threading.enumerate()
    )


def test_connections_past_the_cap_wait_for_a_free_one(tmp_path: Path) -> None:
    """The threaded server started a thread for every connection it accepted, so a flood of
    slow clients grew threads and memory without end. With `max_connections`, the ones past
    the cap wait, unanswered, and are served when a connection ends; the threads stay at
    the cap, and a shutdown still stops a server whose every slot is taken."""
    config = load_config(write_config(tmp_path, dir_config(tmp_path, server={"workers": 0})))
    (tmp_path / "originals" / "a.jpg").write_bytes(image_bytes(64, 64))
    started = time.monotonic()
    earlier = set(threading.enumerate())
    with live(create_app(config), idle_timeout=30.0, max_connections=3) as site:
        host, port = site.url.removeprefix("http://").split(":")
        stalled = [socket.create_connection((host, int(port)), timeout=15) for _ in range(20)]
        for sock in stalled:
            sock.sendall(b"GET /220x220/a.jpg HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        waiting = socket.create_connection((host, int(port)), timeout=1)
        waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with pytest.raises(TimeoutError):
            waiting.recv(1024)  # accepted by the kernel, not served: every slot is taken
        assert connection_threads(earlier) == 3
        for sock in stalled:  # the three served ones end; the others take their slots
            sock.close()
        waiting.settimeout(15)
        answer = b""
        while chunk := waiting.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        assert answer.endswith(b"ok\n")
        waiting.close()
        assert site.get("/220x220/a.jpg").status_code == 200
        held = [socket.create_connection((host, int(port)), timeout=15) for _ in range(5)]
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        wait_until(lambda: connection_threads(earlier) == 3)
        stopping = time.monotonic()
    # live() shut the server down with every slot taken and two connections waiting.
    assert time.monotonic() - stopping < 5
    for sock in held:
        sock.close()
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /220x220/a.jpg HTTP/9.9\r\n\r\n",
        b"GET /220x220/a.jpg HTTP/1.1 extra\r\n\r\n",
        b"GET  /220x220/a.jpg HTTP/1.1\r\n\r\n",
        b"GET /220x220/a.jpg HTTP/1.1\r\nNo-Colon-Header\r\n\r\n",
        b"GET /220x220/a.jpg HTTP/1.1\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
        b"GET /220x220/a.jpg HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n"
        b"Connection: close\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",  # TLS hello
        b"\r\n\r\n",
    ],
)
def test_malformed_requests_never_500(attack: Site, raw: bytes) -> None:
    answer = send(attack.url, raw, timeout=15)
    assert answer.status is None or (answer.status < 500 or answer.status == 505)
    assert attack.canary not in answer.body
