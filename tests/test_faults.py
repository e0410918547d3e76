"""Faults while phizer runs: the S3 server goes away (and comes back), the render store stops
being writable, the originals cache directory disappears. phizer reports what it could not
do, answers what it can, and recovers without a restart.

The S3 tests start their own SeaweedFS (tests/support/servers.py), stop it mid-run and start
it again on the same ports and data directory, so the session's shared one is never disturbed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.config import write_config
from support.serve import PHIZER, decoded, dir_config, image_bytes, serve
from support.servers import SeaweedFS, restart_seaweedfs, start_seaweedfs, stop_process
from support.waiting import wait_until

pytestmark = pytest.mark.slow

FETCH_TIMEOUT = 2.0
SIZES = ("120x120", "220x220", "400x400")  # support.serve.SIZES


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[SeaweedFS]:
    server = start_seaweedfs(tmp_path / "weed")
    try:
        yield server
    finally:
        server.stop()


def s3_env(s3: SeaweedFS) -> dict[str, str]:
    """The S3 credentials where boto3's chain finds them, and nothing else it could use."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=s3.access_key,
        AWS_SECRET_ACCESS_KEY=s3.secret_key,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


def s3_master(s3: SeaweedFS, names: list[str]) -> dict[str, Any]:
    """A fresh bucket holding `names` (photo-like JPEGs) and the [master] table naming it."""
    bucket = s3.new_bucket()
    client = s3.client()
    for name in names:
        client.put_object(
            Bucket=bucket, Key=name, Body=image_bytes(480, 360), ContentType="image/jpeg"
        )
    return {"type": "s3", "bucket": bucket, "endpoint_url": s3.endpoint_url}


def renders_of(store: Path, name: str) -> list[Path]:
    return [store / size / name for size in SIZES if (store / size / name).exists()]


def test_warm_reports_what_it_could_not_fetch_once_s3_is_gone_and_a_rerun_finishes(
    tmp_path: Path, own_s3: SeaweedFS
) -> None:
    names = [f"p{i}.jpg" for i in range(8)]
    before, after = names[:4], names[4:]
    master = s3_master(own_s3, names)
    limits = {"fetch_timeout": FETCH_TIMEOUT}
    config = write_config(tmp_path, dir_config(tmp_path, master=master, limits=limits))
    store = tmp_path / "renders"
    command = [str(PHIZER), "-c", str(config), "warm", "--from-file", "-", "--json"]
    warm = subprocess.Popen(
        [*command, "--workers", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=s3_env(own_s3),
    )
    try:
        assert warm.stdin is not None
        warm.stdin.write("".join(f"{n}\n" for n in before))
        warm.stdin.flush()
        wait_until(lambda: all(len(renders_of(store, n)) == 3 for n in before), 60)
        stop_process(own_s3.process)  # the S3 server goes away mid-run
        out, err = warm.communicate("".join(f"{n}\n" for n in after), timeout=120)
    finally:
        stop_process(warm)  # type: ignore[arg-type]
    assert warm.returncode == 1, err
    summary = json.loads(out)
    assert (summary["originals"], summary["failed"], summary["rendered"]) == (8, 4, 12)
    assert sorted(f["path"] for f in summary["failures"]) == after
    assert all(f["error"] for f in summary["failures"])
    assert all(renders_of(store, n) == [] for n in after)
    for name in after:
        assert name in err  # each failure is logged with its path

    restart_seaweedfs(own_s3, (master["bucket"], after[0]))  # back: a rerun renders what is missing
    rerun = subprocess.run(
        [*command, "--workers", "1"],
        input="".join(f"{n}\n" for n in names),
        capture_output=True,
        text=True,
        timeout=120,
        env=s3_env(own_s3),
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["failed"], summary["rendered"], summary["skipped"]) == (0, 12, 12)
    for name in after:
        assert decoded((store / "220x220" / name).read_bytes()).size == (220, 220)


def test_serve_answers_502_while_s3_is_down_and_recovers_when_it_is_back(
    tmp_path: Path, own_s3: SeaweedFS
) -> None:
    master = s3_master(own_s3, ["a.jpg", "b.jpg"])
    limits = {"fetch_timeout": FETCH_TIMEOUT}
    config = write_config(tmp_path, dir_config(tmp_path, master=master, limits=limits))
    with serve(config, workers=1, env=s3_env(own_s3)) as server:
        assert server.get("/220x220/a.jpg").status_code == 200
        wait_until(lambda: len(renders_of(tmp_path / "renders", "a.jpg")) == 3)
        stop_process(own_s3.process)

        started = time.monotonic()
        down = server.get("/220x220/b.jpg")
        assert down.status_code == 502
        assert down.headers["Cache-Control"] == "no-store"
        assert time.monotonic() - started < 4 * FETCH_TIMEOUT + 5
        assert "127.0.0.1" not in down.text  # the detail is in the log, not in the answer
        assert server.get("/220x220/a.jpg").status_code == 200  # a hit needs no origin
        # A crop misses the store; the worker's cached original serves it (stale beats 502).
        crop = server.get("/220x220/0x0/440x330/a.jpg")
        assert crop.status_code == 200
        assert decoded(crop.content).size == (220, 220)
        assert server.get("/healthz").status_code == 200
        assert server.metric("phizer_origin_errors_total") >= 1

        restart_seaweedfs(own_s3)
        wait_until(lambda: server.get("/220x220/b.jpg").status_code == 200, 30)
        assert decoded(server.get("/220x220/b.jpg").content).size == (220, 220)
        assert (tmp_path / "renders" / "220x220" / "b.jpg").exists()


def test_render_store_not_writable_still_answers_with_the_render(tmp_path: Path) -> None:
    """Root ignores permission bits, so the store is made unwritable the way that stops
    anyone: its directory is replaced by a regular file, so nothing can be created in it."""
    config = write_config(tmp_path, dir_config(tmp_path))
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / "originals" / name).write_bytes(image_bytes(640, 480))
    store = tmp_path / "renders"
    with serve(config, workers=1) as server:
        assert server.get("/220x220/a.jpg").status_code == 200
        wait_until(lambda: len(renders_of(store, "a.jpg")) == 3)
        shutil.rmtree(store)
        store.write_bytes(b"a file where the render store was\n")

        for path in ("/220x220/b.jpg", "/220x220/a.jpg", "/400x400/b.jpg"):
            response = server.get(path)
            assert response.status_code == 200, path
            assert response.headers["Content-Type"] == "image/jpeg"
            assert response.headers["ETag"]
            assert decoded(response.content).size[0] in (220, 400)
        assert store.read_bytes() == b"a file where the render store was\n"
        assert server.get("/healthz").status_code == 200
        # Logged once, by the worker that rendered it, with a level and the worker's pid.
        wait_until(
            lambda: any(
                all(part in line for part in ("b.jpg", "render store", " ERROR ", "[worker "))
                for line in server.lines
            )
        )

        store.unlink()  # writable again: the next miss is stored
        assert server.get("/120x120/b.jpg").status_code == 200
        wait_until(lambda: (store / "120x120" / "b.jpg").exists())
    assert not [line for line in server.lines if "Traceback" in line]


def test_originals_cache_directory_removed_while_running(tmp_path: Path, origins: Any) -> None:
    """The disk cache holds originals from slaves (a dir master's are on disk already)."""
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    slave = origins(files={n: image_bytes(480, 360) for n in names})
    config = write_config(tmp_path, dir_config(tmp_path, slaves=[{"url": slave.url}]))
    cache = tmp_path / "cache"
    with serve(config, workers=1) as server:
        assert server.get("/220x220/a.jpg").status_code == 200
        wait_until(lambda: any(cache.rglob("*.orig")))

        shutil.rmtree(cache)
        response = server.get("/220x220/b.jpg")
        assert response.status_code == 200
        assert decoded(response.content).size == (220, 220)
        assert server.get("/220x220/0x0/100x100/a.jpg").status_code == 200
        wait_until(lambda: any(cache.rglob("*.orig")))  # the cache is back in use

        shutil.rmtree(cache)
        cache.write_bytes(b"not a directory\n")  # and now it cannot come back
        for name in ("c.jpg", "d.jpg"):
            response = server.get(f"/220x220/{name}")
            assert response.status_code == 200
            assert decoded(response.content).size == (220, 220)
        assert cache.read_bytes() == b"not a directory\n"
        assert server.get("/healthz").status_code == 200
    fetched = [seen.path.rsplit("/", 1)[1] for seen in slave.seen]
    assert sorted(fetched) == names  # each original fetched once, cache or no cache
    assert not [line for line in server.lines if "Traceback" in line]
