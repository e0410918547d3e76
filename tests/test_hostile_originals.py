"""Hostile originals through a live `phizer serve`: every byte of an original is an attack
until the decoder has proven otherwise.

The server has two render workers, a dir master full of hostile files, and a loopback slave
that can also stream forever or trickle. Each original gets its documented status (the
shared MANIFEST.tsv for the edge-case files, under their own name and under a `.jpg` name,
since refusals come from the content; the documented 413/415/422/504 for the rest), quickly;
after each test the same worker processes are alive (no worker died of an original),
/healthz says ok, and the resident memory of the server and of each worker (from /proc) is
within a fixed allowance of what it was after a normal render.
"""

from __future__ import annotations

import io
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EDGECASES
from PIL import Image
from support.config import write_config
from support.edgecases import expectation
from support.serve import Serve, decoded, dir_config, image_bytes, serve
from support.servers import Origin
from test_render_edgecases import ROWS, allowed_statuses

pytestmark = pytest.mark.slow

MAX_BYTES = 4_000_000  # a small byte cap so "streams forever" ends quickly
FETCH_TIMEOUT = 3.0
# Each process may grow this much over its baseline (after one normal render) while being
# fed hostile originals: the byte cap a few times over (chunks, the joined body, the decoder's
# copy) plus allocator slack; a bomb that got decoded would take hundreds of MB.
RSS_ALLOWANCE = 4 * MAX_BYTES + 48 * 2**20
REFUSAL_SECONDS = 5.0  # refusals are decided from the header: well under this


# --- hostile files made in code: tiny files whose headers claim huge pictures ----------


def jpeg_claiming(width: int, height: int) -> bytes:
    """A valid 8x8 JPEG whose frame header says width x height."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A lossless 8x8 WebP behind a VP8X header whose canvas is width x height."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "WEBP", lossless=True)
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + size
    body = b"WEBP" + vp8x + out.getvalue()[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR says width x height, with a few bytes of pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gif_claiming(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    data = bytearray(out.getvalue())
    struct.pack_into("<HH", data, 6, width, height)
    frame = data.index(b"\x2c", 13 + 6)  # after the 2-colour global table
    struct.pack_into("<HH", data, frame + 5, width, height)
    return bytes(data)


GENERATED: dict[str, tuple[bytes, set[int]]] = {
    "bomb-65000x65000.jpg": (jpeg_claiming(65000, 65000), {413}),
    "bomb-16384x16384.webp": (webp_claiming(16384, 16384), {413}),
    "bomb-100000x100000.png": (png_claiming(100_000, 100_000), {413}),
    "bomb-20000x10000.png": (png_claiming(20000, 10000), {413}),  # 200 Mpx: phizer's cap
    "bomb-65535x65535.gif": (gif_claiming(65535, 65535), {413}),
    "truncated.jpg": (image_bytes(640, 480)[:2000], {422}),
    "truncated.png": (image_bytes(200, 200, "PNG")[:500], {422}),
    "truncated.webp": (image_bytes(200, 200, "WEBP")[:300], {422}),
    "headless.jpg": (image_bytes(640, 480)[300:], {422}),
    "garbled.jpg": (image_bytes(640, 480)[:600] + b"\0" * 200, {422}),
    "zero.jpg": (b"", {422}),
    "text.jpg": (b"just some text, not a picture\n" * 3, {422}),
    "page.jpg": (b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>", {422}),
    "logo.jpg": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9e9" '
        b'height="9e9"><rect width="100%" height="100%"/></svg>',
        {415},
    ),
    "svg-with-doctype.png": (b"<!DOCTYPE svg><svg></svg>", {415}),
    "eps.jpg": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", {415}),
    "pdf.jpg": (b"%PDF-1.4\n1 0 obj<<>>endobj\n", {415}),
}


def edgecase_cases() -> list[tuple[str, str, set[int]]]:
    """(file in the edge-case folder, name to serve it under, allowed statuses) for every
    file the manifest says to refuse: under its own name when that extension is allowed,
    and always under a `.jpg` name."""
    cases = []
    for row in ROWS:
        if expectation(row) != "refuse":
            continue
        name, allowed = row["filename"], allowed_statuses(row)
        stem, _, ext = name.rpartition(".")
        if ext in ("jpg", "png", "gif", "webp"):
            cases.append((name, f"edge/{name}", allowed))
        cases.append((name, f"edge/as-jpg/{stem.replace('.', '-')}-{ext}.jpg", allowed))
    return cases


EDGE_CASES = edgecase_cases()


# --- the server and what is checked after each test -------------------------------------


def rss(pid: int) -> int:
    """Resident set size in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Site:
    server: Serve
    slave: Origin
    renders: Path
    workers: list[int]
    baseline: dict[int, int]  # pid -> RSS after a normal render

    def status(self, path: str) -> int:
        return self.server.get(path, timeout=60).status_code


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("hostile-originals")
    limits = {"max_original_bytes": MAX_BYTES, "fetch_timeout": FETCH_TIMEOUT}
    sections = dir_config(folder, limits=limits)
    originals = folder / "originals"
    for name, (data, _) in GENERATED.items():
        (originals / name).write_bytes(data)
    (originals / "edge" / "as-jpg").mkdir(parents=True)
    for source, name, _ in EDGE_CASES:
        shutil.copyfile(EDGECASES / source, originals / name)
    (originals / "fine.jpg").write_bytes(image_bytes(1200, 900))
    slave = Origin().start()
    sections["slaves"] = [{"url": slave.url}]
    try:
        with serve(write_config(folder, sections), workers=2) as server:
            # One normal render per worker loads every library: the baseline is steady state.
            for path in ("/400x400/fine.jpg", "/120x120/fine.jpg", "/220x220/fine.jpg"):
                assert server.get(path).status_code == 200
            workers = sorted(server.worker_pids())
            assert len(workers) == 2
            baseline = {pid: rss(pid) for pid in [server.process.pid, *workers]}
            yield Site(server, slave, folder / "renders", workers, baseline)
    finally:
        slave.stop()


@pytest.fixture
def hostile(site: Site) -> Iterator[Site]:
    """The site; afterwards, the same workers alive, healthy, and memory within bounds."""
    site.slave.behaviour, site.slave.files, site.slave.content_type = "files", {}, "image/jpeg"
    yield site
    assert sorted(site.server.worker_pids()) == site.workers, "a render worker died"
    assert site.server.get("/healthz").status_code == 200
    for pid, before in site.baseline.items():
        after = rss(pid)
        assert after <= before + RSS_ALLOWANCE, f"pid {pid}: RSS {before} -> {after} bytes"
    assert not [line for line in site.server.lines if "Traceback" in line]


def timed_status(site: Site, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = site.status(path)
    return status, time.monotonic() - started


# --- the cases --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "allowed"), [(n, a) for n, (_, a) in GENERATED.items()])
@pytest.mark.parametrize("size", ["220x220", "400x400"])
def test_generated_hostile_originals(
    hostile: Site, name: str, allowed: set[int], size: str
) -> None:
    status, seconds = timed_status(hostile, f"/{size}/{name}")
    assert status in allowed
    assert seconds < REFUSAL_SECONDS


@pytest.mark.parametrize(("source", "name", "allowed"), EDGE_CASES, ids=[c[1] for c in EDGE_CASES])
def test_manifest_refusals_by_content(
    hostile: Site, source: str, name: str, allowed: set[int]
) -> None:
    status, seconds = timed_status(hostile, f"/220x220/{name}")
    assert status in allowed, f"{source} as {name}: {status}"
    assert seconds < REFUSAL_SECONDS


def test_bombs_as_format_variants_and_crops_are_refused_too(hostile: Site) -> None:
    for path in (
        "/220x220/bomb-65000x65000.jpg.webp",
        "/220x220/bomb-100000x100000.png.avif",
        "/220x220/0x0/100x100/bomb-16384x16384.webp",
        "/220x220/0x0/100x100/bomb-65535x65535.gif",
    ):
        status, seconds = timed_status(hostile, path)
        assert status == 413, path
        assert seconds < REFUSAL_SECONDS


def test_a_refusal_leaves_no_render_and_is_cached_briefly(hostile: Site) -> None:
    response = hostile.server.get("/220x220/bomb-65000x65000.jpg")
    assert response.status_code == 413
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.text.startswith("413 ")
    for size in ("120x120", "220x220", "400x400"):
        assert not (hostile.renders / size / "bomb-65000x65000.jpg").exists()
    assert hostile.status("/220x220/fine.jpg") == 200


@pytest.mark.parametrize(
    ("body", "content_type", "allowed"),
    [
        (b"", "image/jpeg", {422}),
        (b"<html><body>not here</body></html>", "image/jpeg", {422}),
        (b"<html><body>soft 404</body></html>", "text/html", {404}),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", {415}),
        (jpeg_claiming(65000, 65000), "image/jpeg", {413}),
        (png_claiming(100_000, 100_000), "image/png", {413}),
        (image_bytes(640, 480)[:1500], "image/jpeg", {422}),
    ],
)
def test_hostile_originals_from_a_slave(
    hostile: Site, body: bytes, content_type: str, allowed: set[int]
) -> None:
    # A name per case: what a slave served is cached, and trusted, until evicted.
    name = f"slave-only-{zlib.crc32(body + content_type.encode()):x}.jpg"
    hostile.slave.files = {name: body}
    hostile.slave.content_type = content_type
    status, seconds = timed_status(hostile, f"/220x220/{name}")
    assert status in allowed
    assert seconds < REFUSAL_SECONDS


def test_an_origin_that_streams_forever_is_cut_at_the_byte_cap(hostile: Site) -> None:
    hostile.slave.behaviour = "endless"
    for name in ("endless-1.jpg", "endless-2.jpg", "endless-3.jpg"):  # several: memory stays flat
        status, seconds = timed_status(hostile, f"/220x220/{name}")
        assert status == 413
        assert seconds < FETCH_TIMEOUT


def test_an_origin_that_trickles_is_ended_by_the_total_deadline(hostile: Site) -> None:
    """A byte every 0.5 s never trips a read timeout; only the total deadline ends it."""
    hostile.slave.behaviour = "trickle"
    hostile.slave.trickle_interval = 0.5
    status, seconds = timed_status(hostile, "/220x220/trickle.jpg")
    assert status == 504
    assert FETCH_TIMEOUT - 0.5 <= seconds < FETCH_TIMEOUT + 4


def test_good_originals_still_render_after_all_that(hostile: Site) -> None:
    response = hostile.server.get("/220x220/0x0/600x600/fine.jpg")
    assert response.status_code == 200
    assert decoded(response.content).size == (220, 220)
