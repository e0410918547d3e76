"""Helpers for the serve tests: configs on disk, images made in code, a real `phizer serve`
process on a free port, and reading its /metrics the way Prometheus would."""

from __future__ import annotations

import io
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

PHIZER = Path(sys.executable).parent / "phizer"
STARTUP_TIMEOUT = 30.0

SIZES: dict[str, dict[str, Any]] = {
    "thumb": {"width": 120, "height": 120, "mode": "fill"},
    "small": {"width": 220, "height": 220, "mode": "fill"},
    "medium": {"width": 400, "height": 400, "mode": "max"},
}


def image_bytes(width: int = 640, height: int = 480, fmt: str = "JPEG") -> bytes:
    """A photo-like image (a gradient, so encoders have something to do)."""
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient.rotate(90))
    )
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def dir_config(folder: Path, **extra: Any) -> dict[str, Any]:
    """A dir master `originals/` and dir store `renders/` under `folder`, with SIZES; each
    keyword is a config table merged over the default's (or, like `slaves`, a list)."""
    (folder / "originals").mkdir(exist_ok=True)
    sections: dict[str, Any] = {
        "master": {"type": "dir", "path": str(folder / "originals")},
        "store": {"type": "dir", "path": str(folder / "renders")},
        "cache": {"path": str(folder / "cache")},
        "sizes": SIZES,
    }
    for name, table in extra.items():
        sections[name] = {**sections.get(name, {}), **table} if isinstance(table, dict) else table
    return sections


class Serve:
    """A running `phizer serve`; stderr (the access log) is collected in `lines`."""

    def __init__(self, process: subprocess.Popen[str], url: str, lines: list[str]) -> None:
        self.process = process
        self.url = url
        self.lines = lines

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.get("/metrics").text, name, **labels)

    def worker_pids(self) -> list[int]:
        """The render processes: children of the server started by multiprocessing."""
        return [
            pid
            for pid in children(self.process.pid)
            if b"multiprocessing" in _cmdline(pid) and b"resource_tracker" not in _cmdline(pid)
        ]


@contextmanager
def serve(config: Path, workers: int = 1, env: Mapping[str, str] | None = None) -> Iterator[Serve]:
    """`phizer -c config serve --port 0 --workers N`, stopped with SIGTERM afterwards."""
    process = subprocess.Popen(
        [str(PHIZER), "-c", str(config), "serve", "--port", "0", "--workers", str(workers)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: list[str] = []
    ready: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stream = process.stderr

    def drain() -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if "serving on " in line:
                ready.put(line.split("serving on ", 1)[1].strip())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        try:
            url = ready.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            raise AssertionError("phizer serve did not start:\n" + "\n".join(lines)) from None
        yield Serve(process, url, lines)
    finally:
        stop(process)
        reader.join(5)  # every line the process wrote is in `lines` after the block


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Ask `process` to stop with `signum`; kill it if it has not within `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text; 0 when the series does not exist yet."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class Live:
    """An app served by a real Werkzeug server thread (phizer's own handler) on 127.0.0.1."""

    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, timeout=30, **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.get("/metrics").text, name, **labels)


@contextmanager
def live(app: Any, **options: Any) -> Iterator[Live]:
    """Serve `app` until the block ends; then stop the server and close the app's pool.
    `options` go to `make_wsgi_server` (`idle_timeout=`)."""
    from phizer.serve.app import make_wsgi_server

    server = make_wsgi_server(app, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Live(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        app.close()
