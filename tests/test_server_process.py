"""`phizer serve` as users run it: a real process on a free port with render worker processes,
originals on a dir or S3 master or only on a slave, and what happens when things go wrong."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from support.config import write_config
from support.serve import decoded, dir_config, image_bytes, serve
from support.waiting import wait_until

pytestmark = pytest.mark.slow

Origins = Callable[..., Any]


def fetches(origin: Any, name: str) -> int:
    return sum(1 for seen in origin.seen if seen.path == origin.prefix + name)


def s3_table(s3: Any, bucket: str) -> dict[str, Any]:
    return {"type": "s3", "bucket": bucket, "endpoint_url": s3.endpoint_url, "region": s3.region}


def test_dir_master_miss_then_hit_then_clean_shutdown(tmp_path: Path) -> None:
    config = write_config(tmp_path, dir_config(tmp_path))
    (tmp_path / "originals" / "a.jpg").write_bytes(image_bytes(640, 480))
    with serve(config, workers=1) as server:
        miss = server.get("/220x220/a.jpg")
        hit = server.get("/220x220/a.jpg")
        assert (miss.status_code, hit.status_code) == (200, 200)
        assert decoded(miss.content).size == (220, 220)
        assert hit.content == miss.content
        assert hit.headers["ETag"] == miss.headers["ETag"]
        wait_until(lambda: (tmp_path / "renders" / "400x400" / "a.jpg").exists())
        assert decoded(server.get("/400x400/a.jpg").content).size == (400, 300)
        workers = server.worker_pids()
        assert len(workers) == 1
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))
    log = [line for line in server.lines if " phizer GET " in line]
    assert [line.split()[-1] for line in log] == ["miss", "hit", "hit"]  # 400x400 rendered ahead


def test_s3_master_and_s3_store(tmp_path: Path, s3_credentials: Any) -> None:
    s3 = s3_credentials
    originals, renders = s3.new_bucket(), s3.new_bucket()
    client = s3.client()
    client.put_object(
        Bucket=originals, Key="photos/a.jpg", Body=image_bytes(900, 600), ContentType="image/jpeg"
    )
    sections = dir_config(tmp_path, master=s3_table(s3, originals), store=s3_table(s3, renders))
    with serve(write_config(tmp_path, sections), workers=1) as server:
        miss = server.get("/220x220/photos/a.jpg")
        assert miss.status_code == 200
        assert decoded(miss.content).size == (220, 220)
        stored = client.get_object(Bucket=renders, Key="220x220/photos/a.jpg")
        assert stored["Body"].read() == miss.content
        assert stored["ContentType"] == "image/jpeg"
        hit = server.get("/220x220/photos/a.jpg")
        assert hit.content == miss.content
        assert hit.headers["ETag"] == miss.headers["ETag"]
        assert server.metric("phizer_render_cache_total", result="hit") == 1
        again = server.get("/220x220/photos/a.jpg", headers={"If-None-Match": hit.headers["ETag"]})
        assert again.status_code == 304
        # The miss's validators come from the PUT (no HEAD after it): a cache holding the
        # miss's answer revalidates against the stored object and keeps its copy.
        since = {"If-Modified-Since": miss.headers["Last-Modified"]}
        assert server.get("/220x220/photos/a.jpg", headers=since).status_code == 304
        webp = server.get("/400x400/photos/a.jpg.webp")
        assert webp.headers["Content-Type"] == "image/webp"
        assert decoded(webp.content).size == (400, 267)
        assert server.get("/220x220/photos/none.jpg").status_code == 404


def test_a_miss_costs_the_s3_store_one_look_and_one_put(
    tmp_path: Path, s3_credentials: Any
) -> None:
    """A remote store's round trips are a miss's latency: the GET that misses, then the PUT.
    No job for the original finished meanwhile, so nothing can have stored the render and
    no HEAD goes before rendering (see `Misses.ticket`); the validators come back with the
    PUT, so none follows it either. (SeaweedFS would count a HEAD as a GET.) After the
    answer, the job stores the original's record: one more PUT, nothing else."""
    s3 = s3_credentials
    renders = s3.new_bucket()
    sections = dir_config(tmp_path, store=s3_table(s3, renders), server={"render_ahead": False})
    (tmp_path / "originals" / "a.jpg").write_bytes(image_bytes(900, 600))
    with serve(write_config(tmp_path, sections), workers=1) as server:
        before = s3.requests_by_bucket()
        miss = server.get("/220x220/a.jpg")
        assert miss.status_code == 200
        client = s3.client()

        def recorded() -> bool:
            listed = client.list_objects_v2(Bucket=renders, Prefix=".phizer/originals/")
            return int(listed.get("KeyCount", 0)) == 1

        wait_until(recorded)
        time.sleep(0.3)  # SeaweedFS counts a request just after answering it
        during = s3.requests_by_bucket() - before
        assert {k: n for (bucket, k), n in during.items() if bucket == renders and k != "LIST"} == {
            "GET": 1,
            "PUT": 2,  # the render, then (after the answer) the record
        }
        assert "ETag" in miss.headers
        assert "Last-Modified" in miss.headers


def test_s3_master_down_is_502(tmp_path: Path, s3_credentials: Any) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    master = {"type": "s3", "bucket": "photos", "endpoint_url": f"http://127.0.0.1:{port}"}
    sections = dir_config(tmp_path, master=master, limits={"fetch_timeout": 2.0})
    with serve(write_config(tmp_path, sections), workers=1) as server:
        response = server.get("/220x220/a.jpg")
        assert response.status_code == 502
        assert response.headers["Cache-Control"] == "no-store"
        assert server.metric("phizer_origin_errors_total") == 1


def test_original_only_on_a_slave(tmp_path: Path, origins: Origins) -> None:
    slave = origins(files={"new.jpg": image_bytes(800, 600)})
    sections = dir_config(tmp_path, slaves=[{"url": slave.url}])
    with serve(write_config(tmp_path, sections), workers=1) as server:
        first = server.get("/220x220/new.jpg")
        again = server.get("/220x220/new.jpg")
        assert first.status_code == 200
        assert decoded(first.content).size == (220, 220)
        assert again.content == first.content
        assert fetches(slave, "new.jpg") == 1
        assert server.get("/220x220/missing.jpg").status_code == 404


def test_fifty_concurrent_misses_fetch_and_render_once(tmp_path: Path, origins: Origins) -> None:
    slave = origins(files={"burst.jpg": image_bytes(1200, 900)}, delay=0.5)
    sections = dir_config(tmp_path, slaves=[{"url": slave.url}])
    with serve(write_config(tmp_path, sections), workers=2) as server:
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(lambda _: server.get("/220x220/burst.jpg"), range(50)))
        assert [a.status_code for a in answers] == [200] * 50
        assert len({a.content for a in answers}) == 1
        assert len({a.headers["ETag"] for a in answers}) == 1
        assert fetches(slave, "burst.jpg") == 1
        assert server.metric("phizer_render_seconds_count") == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_several_sizes_at_once_fetch_the_original_once(
    tmp_path: Path, origins: Origins, workers: int
) -> None:
    slave = origins(files={"page.jpg": image_bytes(1200, 900)}, delay=0.3)
    sections = dir_config(tmp_path, slaves=[{"url": slave.url}])
    paths = ["/120x120/page.jpg", "/220x220/page.jpg", "/400x400/page.jpg"] * 4
    with serve(write_config(tmp_path, sections), workers=workers) as server:
        with ThreadPoolExecutor(len(paths)) as pool:
            answers = list(pool.map(server.get, paths))
        assert [a.status_code for a in answers] == [200] * len(paths)
        assert fetches(slave, "page.jpg") == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_sizes_asked_for_during_render_ahead_are_not_rendered_again(
    tmp_path: Path, origins: Origins, workers: int
) -> None:
    """A request for a size that the first miss's render-ahead is still making starts no job
    of its own, which would render the original (all sizes) a second time."""
    slave = origins(files={"page.jpg": image_bytes(3000, 2000)}, delay=0.3)
    sections = dir_config(tmp_path, slaves=[{"url": slave.url}])
    paths = ["/120x120/page.jpg", "/220x220/page.jpg", "/400x400/page.jpg"] * 3
    with serve(write_config(tmp_path, sections), workers=workers) as server:
        with ThreadPoolExecutor(len(paths)) as pool:
            answers = list(pool.map(server.get, paths))
        assert [a.status_code for a in answers] == [200] * len(paths)
        assert server.metric("phizer_render_seconds_count") == 1
        assert fetches(slave, "page.jpg") == 1


def test_slow_origin_times_out_504(tmp_path: Path, origins: Origins) -> None:
    slave = origins(behaviour="hang")
    sections = dir_config(tmp_path, slaves=[{"url": slave.url}], limits={"fetch_timeout": 0.5})
    with serve(write_config(tmp_path, sections), workers=1) as server:
        response = server.get("/220x220/slow.jpg")
        assert response.status_code == 504
        assert response.headers["Cache-Control"] == "no-store"
        assert server.metric("phizer_origin_errors_total") == 1


def test_killed_worker_fails_its_request_and_is_replaced(tmp_path: Path, origins: Origins) -> None:
    slave = origins(behaviour="hang")
    sections = dir_config(tmp_path, slaves=[{"url": slave.url}])
    (tmp_path / "originals" / "fine.jpg").write_bytes(image_bytes())
    with serve(write_config(tmp_path, sections), workers=1) as server:
        (victim,) = server.worker_pids()
        answer: list[requests.Response] = []
        waiting = threading.Thread(target=lambda: answer.append(server.get("/220x220/slow.jpg")))
        waiting.start()
        wait_until(lambda: fetches(slave, "slow.jpg") == 1)  # the worker is busy on it
        os.kill(victim, signal.SIGKILL)
        waiting.join(30)
        assert answer[0].status_code >= 500
        assert answer[0].headers["Cache-Control"] == "no-store"
        assert "Traceback" not in answer[0].text
        fine = server.get("/220x220/fine.jpg")
        assert fine.status_code == 200
        assert decoded(fine.content).size == (220, 220)
        assert server.get("/healthz").status_code == 200
        assert len(server.worker_pids()) == 1
        assert server.worker_pids() != [victim]


def test_full_queue_answers_503_and_hits_still_served(tmp_path: Path, origins: Origins) -> None:
    slave = origins(behaviour="hang")
    renders = tmp_path / "renders" / "220x220"
    renders.mkdir(parents=True)
    (renders / "warm.jpg").write_bytes(image_bytes(220, 220))
    sections = dir_config(
        tmp_path, slaves=[{"url": slave.url}], server={"queue": 1}, limits={"fetch_timeout": 3.0}
    )
    (tmp_path / "originals" / "b.jpg").write_bytes(image_bytes())
    with serve(write_config(tmp_path, sections), workers=1) as server:
        stuck = threading.Thread(target=lambda: server.get("/220x220/stuck.jpg"))
        stuck.start()
        wait_until(lambda: fetches(slave, "stuck.jpg") == 1)
        refused = server.get("/220x220/b.jpg")
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.headers["Cache-Control"] == "no-store"
        assert server.get("/220x220/warm.jpg").status_code == 200
        stuck.join(30)  # the stuck fetch times out and frees the queue
        assert server.get("/220x220/b.jpg").status_code == 200
