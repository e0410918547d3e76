"""A real Varnish (`varnishd`, Debian's 7.1) as the CDN in front of a `phizer serve`: it
caches what phizer answers, marks each answer `X-Cache: HIT` or `MISS`, and drops an object
on `PURGE` from 127.0.0.1, the same contract as Fastly's.

varnishd drops privileges even when started by root: it reads the VCL as user `varnish` and
its cache process runs as `vcache`. So `workdir` and every folder above it must be
searchable by others (a `tempfile.mkdtemp` folder chmod 755, not pytest's `tmp_path`, whose
parents are 0700)."""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from support.serve import stop

VARNISHD = shutil.which("varnishd") or "/usr/sbin/varnishd"
STARTUP_TIMEOUT = 20.0
READY_PATH = "/__varnish_ready"  # answered by Varnish itself, never reaches the backend

VCL = """vcl 4.1;

backend origin {
    .host = "@HOST@";
    .port = "@PORT@";
}

acl purgers {
    "127.0.0.1";
}

sub vcl_recv {
    if (req.url == "@READY@") {
        return (synth(200, "Ready"));
    }
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405));
        }
        return (purge);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
"""


def free_port() -> int:
    """A port nothing listens on right now (someone may take it before it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Varnish:
    url: str
    port: int


def _ready(url: str) -> bool:
    try:
        return requests.get(url + READY_PATH, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _check_reachable(workdir: Path) -> None:
    """Fail early, with the reason, when varnishd's unprivileged users cannot reach workdir."""
    for folder in (workdir, *workdir.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise AssertionError(
                f"varnishd runs as user varnish and cannot enter {folder} (mode "
                f"{stat.filemode(folder.stat().st_mode)}): use a folder every user can search"
            )


@contextmanager
def varnish(workdir: Path, backend_url: str) -> Iterator[Varnish]:
    """`varnishd -F` on a free port with a VCL whose backend is `backend_url`, in `workdir`
    (VCL, `-n` state folder, pid and log files); stopped with SIGTERM afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    _check_reachable(workdir)
    backend = urllib.parse.urlsplit(backend_url)
    assert backend.hostname, f"backend URL without a host: {backend_url}"
    assert backend.port, f"backend URL without a port: {backend_url}"
    vcl = workdir / "default.vcl"
    vcl.write_text(
        VCL.replace("@HOST@", backend.hostname)
        .replace("@PORT@", str(backend.port))
        .replace("@READY@", READY_PATH)
    )
    vcl.chmod(0o644)
    log = workdir / "varnishd.log"
    for _attempt in range(3):  # a free port can be taken by someone else before varnishd binds
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [
                    VARNISHD,
                    "-F",  # in the foreground: stopped by terminating this process
                    "-a",
                    f"127.0.0.1:{port}",
                    "-f",
                    str(vcl),
                    "-n",
                    str(workdir / "work"),
                    "-s",
                    "malloc,16m",
                    "-P",
                    str(workdir / "pid"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                text=True,
            )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while process.poll() is None and not _ready(url):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"varnishd did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()}"
                    )
                time.sleep(0.05)
        except BaseException:
            stop(process)
            raise
        if process.poll() is None:
            break
    else:
        raise AssertionError(f"varnishd would not start:\n{log.read_text()}")
    try:
        yield Varnish(url, port)
    finally:
        stop(process)
