"""The same app under gunicorn (two processes, rendering in their threads), as documented:
`gunicorn -c configs/gunicorn.conf.py 'phizer.serve:create_wsgi()'` with PHIZER_CONFIG."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from support.config import write_config
from support.serve import decoded, dir_config, image_bytes, metric_value, stop

pytestmark = pytest.mark.slow

GUNICORN = Path(sys.executable).parent / "gunicorn"
CONF = Path(__file__).resolve().parent.parent / "configs" / "gunicorn.conf.py"


def test_under_gunicorn_with_multiprocess_metrics(tmp_path: Path) -> None:
    config = write_config(tmp_path, dir_config(tmp_path))
    (tmp_path / "originals" / "a.jpg").write_bytes(image_bytes(640, 480))
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PHIZER_CONFIG": str(config),
        "PHIZER_BIND": "127.0.0.1:0",
        "PHIZER_GUNICORN_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    process = subprocess.Popen(
        [str(GUNICORN), "-c", str(CONF), "phizer.serve:create_wsgi()"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if found := re.search(r"Listening at: (http://\S+)", line):
                ready.put(found.group(1))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        url = ready.get(timeout=30)
        miss = requests.get(url + "/220x220/a.jpg", timeout=30)
        assert miss.status_code == 200
        assert decoded(miss.content).size == (220, 220)
        for _ in range(6):  # spread over both processes (each connection picks one)
            hit = requests.get(url + "/220x220/a.jpg", timeout=30)
            assert hit.headers["ETag"] == miss.headers["ETag"]
        assert requests.get(url + "/221x220/a.jpg", timeout=30).status_code == 404
        text = requests.get(url + "/metrics", timeout=30).text
        assert metric_value(text, "phizer_render_cache_total", result="hit") == 6
        assert metric_value(text, "phizer_render_cache_total", result="miss") == 1
        assert metric_value(text, "phizer_requests_total", status="404") == 1
        assert metric_value(text, "phizer_render_seconds_count") == 1
    finally:
        stop(process, timeout=30)
        reader.join(5)
    assert sum(" phizer GET /220x220/a.jpg 200 " in line for line in lines) == 7
