"""`phizer purge` with a real Varnish as the CDN in front of a real `phizer serve`: the PURGE
requests it sends make the CDN forget the deleted renders (and only those), and a CDN that
does not answer fails the purge, by key, without keeping the renders in the store."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.config import write_config
from support.serve import PHIZER, decoded, dir_config, image_bytes, serve
from support.varnish import free_port, varnish

pytestmark = pytest.mark.slow


@pytest.fixture
def world() -> Iterator[Path]:
    """A 755 folder (varnishd reads its VCL and runs its cache as other users): originals,
    renders, configs and varnishd's working folder."""
    folder = Path(tempfile.mkdtemp(prefix="phizer-varnish-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def purge_config(folder: Path, urls: list[str]) -> Path:
    """A config of its own for the `phizer purge` run: the same originals and renders as
    `dir_config(folder)`, plus `[purge] urls`."""
    (folder / "purge-config").mkdir(exist_ok=True)
    return write_config(folder / "purge-config", dir_config(folder, purge={"urls": urls}))


def run_purge(config: Path, *paths: str) -> tuple[int, dict[str, Any]]:
    """`phizer -c config purge PATHS --json`: its exit status and its JSON report."""
    done = subprocess.run(
        [str(PHIZER), "-c", str(config), "purge", *paths, "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON from phizer purge:\n{done.stdout}\n{done.stderr}") from None
    return done.returncode, report


def cdn_get(url: str) -> tuple[int, str, bytes]:
    response = requests.get(url, timeout=30)
    return response.status_code, response.headers.get("X-Cache", ""), response.content


def test_purge_makes_the_cdn_forget_the_deleted_renders_only(world: Path) -> None:
    originals = world / "originals"
    originals.mkdir(mode=0o755)
    (originals / "a.jpg").write_bytes(image_bytes(640, 480))
    (originals / "b.jpg").write_bytes(image_bytes(640, 480))
    config = write_config(world, dir_config(world))
    with serve(config) as server, varnish(world / "varnish", server.url) as cdn:
        config_with_cdn = purge_config(world, [f"http://127.0.0.1:{cdn.port}/{{key}}"])
        bodies = {}
        for name in ("a.jpg", "b.jpg"):
            status, cache, body = cdn_get(f"{cdn.url}/220x220/{name}")
            assert (status, cache) == (200, "MISS")
            assert decoded(body).size == (220, 220)
            status, cache, again = cdn_get(f"{cdn.url}/220x220/{name}")
            assert (status, cache) == (200, "HIT")
            assert again == body
            bodies[name] = body

        (originals / "a.jpg").unlink()
        status, report = run_purge(config_with_cdn, "a.jpg")
        assert status == 0, report
        assert "220x220/a.jpg" in report["keys"]
        assert not [key for key in report["keys"] if "b.jpg" in key]
        assert (report["failed"], report["failures"]) == (0, [])
        assert not (world / "renders" / "220x220" / "a.jpg").exists()

        # The CDN asks phizer again, which has neither the render nor the original now.
        status, cache, _ = cdn_get(f"{cdn.url}/220x220/a.jpg")
        assert (status, cache) == (404, "MISS")
        status, cache, body = cdn_get(f"{cdn.url}/220x220/b.jpg")
        assert (status, cache) == (200, "HIT")
        assert body == bodies["b.jpg"]


def test_a_cdn_that_does_not_answer_fails_the_purge_but_the_renders_are_deleted(
    tmp_path: Path,
) -> None:
    (tmp_path / "originals").mkdir()
    (tmp_path / "originals" / "a.jpg").write_bytes(image_bytes(640, 480))
    with serve(write_config(tmp_path, dir_config(tmp_path))) as server:
        assert server.get("/220x220/a.jpg").status_code == 200
    render = tmp_path / "renders" / "220x220" / "a.jpg"
    assert render.exists()

    nobody = free_port()  # bound and closed: nothing listens there
    status, report = run_purge(
        purge_config(tmp_path, [f"http://127.0.0.1:{nobody}/{{key}}"]), "a.jpg"
    )

    assert status == 1
    assert report["failed"] >= 1
    failed = {failure["key"]: failure["error"] for failure in report["failures"]}
    assert "220x220/a.jpg" in failed
    assert f"127.0.0.1:{nobody}/220x220/a.jpg" in failed["220x220/a.jpg"]
    assert "220x220/a.jpg" in report["keys"]
    assert not render.exists()
