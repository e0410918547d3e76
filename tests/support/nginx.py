"""A real nginx from configs/nginx.conf, the template operators use, rendered for loopback:
its two tiers on free ports, in front of one phizer instance or a fleet."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.serve import stop

TEMPLATE = Path(__file__).resolve().parent.parent.parent / "configs" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Nginx:
    url: str  # the CDN stand-in (proxy_cache)
    static_url: str  # the origin tier: try_files, then phizer
    prefix: Path
    config: str


def render_template(
    listen: int, static: int, phizers: Sequence[str], renders: Path, max_age: int
) -> str:
    """The template with its tokens filled; `phizers` are the instances' base URLs. A dead
    instance is skipped for 10 s after one failure, nginx's usual."""
    servers = " ".join(f"server {url.removeprefix('http://')};" for url in phizers)
    conf = (
        TEMPLATE.read_text()
        .replace("@LISTEN@", f"127.0.0.1:{listen}")
        .replace("@STATIC@", f"127.0.0.1:{static}")
        .replace("@PHIZER_SERVERS@", servers)
        .replace("@RENDERS@", str(renders))
        .replace("@MAX_AGE@", str(max_age))
    )
    assert not re.search(r"^[^#]*@[A-Z_]+@", conf, re.MULTILINE), "a token left over"
    return conf


@contextmanager
def nginx(
    prefix: Path,
    renders: Path,
    phizers: str | Sequence[str],
    max_age: int,
    hash_key: str | None = None,
) -> Iterator[Nginx]:
    """nginx -p prefix with the rendered template, on two free ports; stopped afterwards.
    `hash_key` replaces the upstream's hash key (to compare with `$uri`)."""
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    urls = [phizers] if isinstance(phizers, str) else list(phizers)
    for _attempt in range(3):  # a free port can be taken by someone else before nginx binds
        listen, static = free_port(), free_port()
        conf = render_template(listen, static, urls, renders, max_age)
        if hash_key is not None:
            conf = conf.replace("hash $phizer_original consistent;", f"hash {hash_key} consistent;")
        (prefix / "nginx.conf").write_text(conf)
        process = subprocess.Popen(
            [NGINX, "-p", f"{prefix}/", "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 10
        while process.poll() is None and not (answers(listen) and answers(static)):
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        if process.poll() is None:
            break
    else:
        raise AssertionError(
            f"nginx would not start: {process.stderr.read() if process.stderr else ''}"
        )
    try:
        yield Nginx(f"http://127.0.0.1:{listen}", f"http://127.0.0.1:{static}", prefix, conf)
    finally:
        stop(process, signal.SIGQUIT, timeout=10)
