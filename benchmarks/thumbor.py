"""thumbor as a serve peer for scripts/bench: started on 127.0.0.1 with its file loader on the
originals folder, no storage and no result storage, so every request fetches, decodes and
resizes (what a cold cache costs), at the benchmark's JPEG quality.

thumbor is optional and never a phizer dependency: install it into a throwaway virtualenv,
    python3 -m venv /tmp/thumbor-venv && /tmp/thumbor-venv/bin/pip install thumbor==7.8.0
and pass `--thumbor /tmp/thumbor-venv/bin/thumbor` (that path is also the default).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import requests

DEFAULT = Path("/tmp/thumbor-venv/bin/thumbor")

CONFIG = """\
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {root!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
QUALITY = {quality}
ALLOW_UNSAFE_URL = True
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    binary: Path, root: Path, folder: Path, quality: int
) -> tuple[subprocess.Popen[bytes], str]:
    """A running thumbor (one process, its default) and its base URL."""
    conf = folder / "thumbor.conf"
    conf.write_text(CONFIG.format(root=str(root), quality=quality))
    port = free_port()
    log = (folder / "thumbor.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "-c", str(conf), "-i", "127.0.0.1", "-p", str(port), "-l", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"thumbor exited; see {folder / 'thumbor.log'}")
        try:
            if requests.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("thumbor did not answer /healthcheck within 60 s")


def path(width: int, height: int, mode: str, name: str) -> str:
    """thumbor's URL for a size: `fit-in` for max (no upscaling), a centre crop for fill."""
    if mode == "max":
        return f"/unsafe/fit-in/{width}x{height}/{name}"
    return f"/unsafe/{width}x{height}/{name}"
