"""Benchmark `phizer serve`: hit throughput against a bare Werkzeug send_file app serving the
same files in the same server mode (threaded Werkzeug), and miss latency per size minus the
pure render time measured in-process.

    scripts/bench-serve [--duration 10] [--connections 16] [--originals 12] [--workers 2]

Needs wrk on PATH. Everything runs on 127.0.0.1 in a temporary folder that is removed after.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from phizer.config import load_config
from phizer.engine.render import iter_renders
from phizer.pool.targets import make_targets

SIZES = {
    "thumb": (120, 120, "fill"),
    "small": (220, 220, "fill"),
    "medium": (800, 800, "max"),
}

BASELINE = """
import sys
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request

root = sys.argv[1]

class Quiet(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_request(self, *args):
        pass

def app(environ, start_response):
    request = Request(environ)
    response = send_from_directory(root, request.path.lstrip("/"), environ, max_age=31536000)
    return response(environ, start_response)

server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
"""

LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def photo(seed: int) -> bytes:
    """A 2400x1600 photo-like JPEG (gradients and noise), different per seed."""
    base = Image.effect_noise((600, 400), 40 + seed).resize((2400, 1600))
    gradient = Image.linear_gradient("L").resize((2400, 1600))
    image = Image.merge("RGB", (base, gradient, gradient.rotate(180)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def write_config(folder: Path, workers: int) -> Path:
    lines = [
        "[master]",
        'type = "dir"',
        f'path = "{folder / "originals"}"',
        "[store]",
        'type = "dir"',
        f'path = "{folder / "renders"}"',
        "[cache]",
        f'path = "{folder / "cache"}"',
        "[server]",
        f"workers = {workers}",
        "render_ahead = false",
        "queue = 256",
    ]
    for name, (w, h, mode) in SIZES.items():
        lines += [f"[sizes.{name}]", f"width = {w}", f"height = {h}", f'mode = "{mode}"']
    path = folder / "phizer.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_phizer(config: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    phizer = Path(sys.executable).parent / "phizer"
    process = subprocess.Popen(
        [str(phizer), "-c", str(config), "serve", "--port", "0", "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "serving on " in line:
            url = line.split("serving on ", 1)[1].strip()
            # Keep draining the access log so the server never blocks on a full pipe.
            threading.Thread(target=drain, args=(process.stderr,), daemon=True).start()
            return process, url
    raise SystemExit("phizer serve did not start")


def drain(stream: io.TextIOBase) -> None:
    for _ in stream:
        pass


def start_baseline(renders: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", BASELINE, str(renders)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def miss_latencies(url: str, names: list[str]) -> dict[str, list[float]]:
    """Each request a true miss: render-ahead is off, so every size renders on its own."""
    out: dict[str, list[float]] = {}
    for name, (w, h, _mode) in SIZES.items():
        for original in names:
            started = time.perf_counter()
            response = requests.get(f"{url}/{w}x{h}/{original}", timeout=60)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"miss {w}x{h}/{original}: {response.status_code}")
            out.setdefault(name, []).append(elapsed)
    return out


def render_times(config_path: Path, folder: Path, names: list[str]) -> dict[str, list[float]]:
    """The same renders in this process: decode + resize + encode, no I/O around them."""
    config = load_config(config_path)
    out: dict[str, list[float]] = {}
    for spec in config.sizes:
        for original in names:
            data = (folder / "originals" / original).read_bytes()
            target = make_targets(config, original, [spec])
            started = time.perf_counter()
            for _ in iter_renders(data, target, config.output, config.limits):
                pass
            out.setdefault(spec.name, []).append(time.perf_counter() - started)
    return out


def wrk(
    url: str, paths: list[str], duration: int, connections: int, folder: Path
) -> dict[str, float]:
    script = folder / "paths.lua"
    script.write_text(LUA % ", ".join(f'"{p}"' for p in paths))
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    text = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rps": rps,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", text).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", text).group(1)),  # type: ignore[union-attr]
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--originals", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="phizer-bench-"))
    try:
        run(folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(folder: Path, args: argparse.Namespace) -> None:
    (folder / "originals").mkdir()
    names = [f"photo{i}.jpg" for i in range(args.originals)]
    for i, name in enumerate(names):
        (folder / "originals" / name).write_bytes(photo(i))
    config = write_config(folder, args.workers)
    process, url = start_phizer(config, args.workers)
    try:
        requests.get(f"{url}/120x120/{names[0]}", timeout=60)  # start-up: worker imports
        names = names[1:]
        misses = miss_latencies(url, names)
        paths = [f"/{w}x{h}/{n}" for (w, h, _m) in SIZES.values() for n in names]
        phizer_hits = wrk(url, paths, args.duration, args.connections, folder)
    finally:
        stop(process)
    baseline, base_url = start_baseline(folder / "renders")
    try:
        base_hits = wrk(base_url, paths, args.duration, args.connections, folder)
    finally:
        stop(baseline)
    renders = render_times(config, folder, names)
    report(phizer_hits, base_hits, misses, renders, args)


def report(
    phizer: dict[str, float],
    base: dict[str, float],
    misses: dict[str, list[float]],
    renders: dict[str, list[float]],
    args: argparse.Namespace,
) -> None:
    print(
        f"hits: wrk -t2 -c{args.connections} -d{args.duration}s over {len(SIZES)} sizes "
        f"x {args.originals - 1} originals (threaded Werkzeug server for both)"
    )
    print(f"  {'':22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for label, row in (("phizer serve", phizer), ("werkzeug send_file", base)):
        print(
            f"  {label:22} {row['rps']:9.0f} {row['p50']:8.2f} {row['p99']:8.2f} "
            f"{row['non2xx']:8.0f}"
        )
    print(f"  throughput ratio phizer/baseline: {phizer['rps'] / base['rps']:.2f}")
    print(
        f"misses (serial, {args.workers} workers, median of {args.originals - 1} "
        "2400x1600 JPEGs; render = in-process decode+resize+encode)"
    )
    print(f"  {'size':8} {'miss ms':>9} {'render ms':>10} {'overhead ms':>12}")
    for name in SIZES:
        miss = statistics.median(misses[name]) * 1000
        render = statistics.median(renders[name]) * 1000
        print(f"  {name:8} {miss:9.1f} {render:10.1f} {miss - render:12.1f}")


if __name__ == "__main__":
    main()
