"""The pieces of scripts/loadtest (which runs them in order): make the originals, the config
and the URL mix; warm part of it; snapshot the RSS and open file descriptors of a process
tree from /proc; judge the run; check every render in the store decodes.

    loadtest.py prepare WORKDIR
    loadtest.py warm URL WORKDIR
    loadtest.py settle PID URL
    loadtest.py snapshot PID > FILE.json
    loadtest.py judge PID URL START.json WRK-OUTPUT
    loadtest.py verify-store WORKDIR

`judge` and `verify-store` exit 1 on a failure, naming it.
"""

from __future__ import annotations

import io
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageDraw, ImageFilter

ORIGINALS = 36
WARMED = 18  # originals whose plain sizes are rendered before the run (hits from the start)
SIZES = ("120x120", "220x220", "800x800", "1600x1600")  # phizer's default sizes
CROPS_PER_ORIGINAL = 6
# Flat means: RSS at most this factor of the start plus this many bytes; fds at most this
# many more. Generous enough for allocator noise and per-worker originals caches of the
# few dozen originals; far below what a leak over a minute of load would show.
RSS_FACTOR, RSS_SLACK = 1.5, 30 * 2**20
FD_SLACK = 4
# Werkzeug opens an epoll selector per request to drain what the client sent after the
# response; when the client resets the connection (wrk does, when it stops) the selector is
# dropped with the exception's frames and closed by the cyclic garbage collector, not at
# once. Such descriptors are counted apart: a few may linger, a leak would be one per request.
EPOLL = "anon_inode:[eventpoll]"
EPOLL_SLACK = 64
DESIGNED_5XX = {503}  # the render queue is full: Retry-After, by design


def photo(index: int) -> tuple[str, bytes]:
    """A photo-like original (gradients, shapes, blur and noise), its name and bytes."""
    rng = random.Random(index)
    width, height = rng.choice([(1600, 1200), (1200, 1600), (2000, 1333), (1024, 768)])
    base = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB",
        (
            base,
            base.rotate(90).resize((width, height)),
            base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ),
    )
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(20, 300)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(image, noise, 0.15)
    kinds = [("JPEG", "jpg")] * 10 + [("PNG", "png"), ("WEBP", "webp")]
    fmt, ext = kinds[index % len(kinds)]
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, fmt)
    else:
        image.save(out, fmt, quality=88)
    return f"album{index % 4}/photo-{index:02d}.{ext}", out.getvalue()


def prepare(work: Path) -> None:
    originals = work / "originals"
    names = []
    for index in range(ORIGINALS):
        name, data = photo(index)
        (originals / name).parent.mkdir(parents=True, exist_ok=True)
        (originals / name).write_bytes(data)
        names.append(name)
    (work / "phizer.toml").write_text(
        "[master]\n"
        'type = "dir"\n'
        f'path = "{originals}"\n'
        "[store]\n"
        'type = "dir"\n'
        f'path = "{work / "renders"}"\n'
        "[cache]\n"
        f'path = "{work / "cache"}"\n'
        "[server]\n"
        "queue = 64\n"
    )
    warmed = [f"/{size}/{name}" for name in names[:WARMED] for size in SIZES]
    rng = random.Random(6)
    paths = list(warmed)
    paths += [f"/{size}/{name}" for name in names[WARMED:] for size in SIZES]
    paths += [f"/{size}/{name}.webp" for name in names[:12] for size in ("220x220", "800x800")]
    for name in names:
        for _ in range(CROPS_PER_ORIGINAL):
            x, y = rng.randrange(0, 500), rng.randrange(0, 500)
            w, h = rng.randrange(100, 500), rng.randrange(100, 500)
            paths.append(f"/220x220/{x}x{y}/{x + w}x{y + h}/{name}")
    paths += [f"/220x220/missing/photo-{k}.jpg" for k in range(10)]  # 404: no such original
    paths += [f"/221x220/{name}" for name in names[:5]]  # 404: no such size
    paths += ["/220x220/../etc/passwd.jpg", "/0220x220/a.jpg", "/220x220/a.txt"]  # 400
    paths += warmed * 2  # hits weigh more, as on a real site
    rng.shuffle(paths)
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    (work / "warm.txt").write_text("\n".join(warmed) + "\n")
    print(f"loadtest: {ORIGINALS} originals, {len(paths)} URLs ({len(warmed)} warmed first)")


def warm(url: str, work: Path) -> None:
    with requests.Session() as session:
        for path in (work / "warm.txt").read_text().split():
            response = session.get(url + path, timeout=60)
            if response.status_code != 200:
                sys.exit(f"loadtest: warming {path} answered {response.status_code}")


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return sorted(found)


def snapshot(pid: int) -> dict[str, dict[str, Any]]:
    """RSS (bytes) and open file descriptors of every process in the tree, by pid."""
    out: dict[str, dict[str, Any]] = {}
    for p in tree(pid):
        proc = Path(f"/proc/{p}")
        try:
            status = (proc / "status").read_text()
            links = sorted(_readlink(fd) for fd in (proc / "fd").iterdir())
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited meanwhile
        rss = int(re.search(r"VmRSS:\s+(\d+)", status)[1]) * 1024  # type: ignore[index]
        epolls = links.count(EPOLL)
        out[str(p)] = {
            "rss": rss,
            "fds": len(links) - epolls,
            "epolls": epolls,
            "links": links,
            "cmd": cmd.strip()[:100],
        }
    return out


def _role(p: int, server: int, cmd: str) -> str:
    if p == server:
        return "server"
    return "resource tracker" if "resource_tracker" in cmd else "render worker"


def _readlink(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:
        return "?"  # closed meanwhile


def statuses(wrk_output: str) -> dict[int, int]:
    return {int(c): int(n) for c, n in re.findall(r"^status (\d+) (\d+)$", wrk_output, re.M)}


def settle(pid: int, url: str, fds_at_most: int | None = None, timeout: float = 60) -> None:
    """Wait until the requests wrk left in flight are answered: no render job pending and
    the server's descriptor count steady (each open connection holds one) and, when given,
    back to `fds_at_most`. A leak never gets there: judge then reports it."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        metrics = requests.get(url + "/metrics", timeout=30).text
        depth = re.search(r"^phizer_queue_depth ([\d.e+]+)$", metrics, re.M)
        fds = sum(_readlink(fd) != EPOLL for fd in Path(f"/proc/{pid}/fd").iterdir())
        idle = depth is not None and float(depth[1]) == 0 and fds == last
        if idle and (fds_at_most is None or fds <= fds_at_most):
            return
        last = fds
        time.sleep(1)
    print(f"loadtest: the server did not settle within {timeout:g} s")


def judge(pid: int, url: str, start_file: Path, wrk_file: Path) -> None:
    start = json.loads(start_file.read_text())
    settle(pid, url, fds_at_most=int(start[str(pid)]["fds"]))
    end = snapshot(pid)
    wrk = wrk_file.read_text()
    failures = []
    print("loadtest:     pid process             RSS start -> end (MB)    fds start -> end")
    for p, before in start.items():
        after = end.get(p)
        label = f"{p:>7} {_role(int(p), pid, before['cmd']):16}"
        if after is None:
            print(f"  {label}  exited")
            failures.append(f"process {p} ({before['cmd']}) is gone: a worker died")
            continue
        print(
            f"  {label}  {before['rss'] / 2**20:8.1f} -> {after['rss'] / 2**20:8.1f}"
            f"      {before['fds']:5} -> {after['fds']:5}"
        )
        if after["rss"] > before["rss"] * RSS_FACTOR + RSS_SLACK:
            failures.append(f"process {p}: RSS grew {before['rss']} -> {after['rss']} bytes")
        if after["fds"] > before["fds"] + FD_SLACK:
            new = sorted(set(after["links"]) - set(before["links"]))
            failures.append(f"process {p}: open fds grew {before['fds']} -> {after['fds']}: {new}")
        if after["epolls"] > before["epolls"] + EPOLL_SLACK:
            failures.append(f"process {p}: {after['epolls']} epoll descriptors left open")
        elif after["epolls"] > before["epolls"]:
            print(f"  {label}  {after['epolls'] - before['epolls']} drain selectors await the GC")
    for p in end.keys() - start.keys():
        failures.append(f"process {p} ({end[p]['cmd']}) appeared: a worker was replaced?")
    tally = statuses(wrk)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
    print(
        f"loadtest: {rate[1] if rate else '?'} requests/s; statuses {dict(sorted(tally.items()))}"
    )
    metrics = requests.get(url + "/metrics", timeout=30).text
    served = dict(
        re.findall(r'^phizer_requests_total\{status="(\d+)"\} ([\d.e+]+)$', metrics, re.M)
    )
    print(f"loadtest: /metrics phizer_requests_total {served}")
    if not tally:
        failures.append("wrk reported no statuses (did the Lua script run?)")
    bad = {code: n for code, n in tally.items() if code >= 500 and code not in DESIGNED_5XX}
    if bad:
        failures.append(f"5xx answers other than 503: {bad}")
    errors = re.search(r"socket_errors (.*)", wrk)
    print(f"loadtest: wrk {errors[0] if errors else 'socket errors: ?'}")
    finish(failures)


def verify_store(work: Path) -> None:
    failures, count = [], 0
    for file in sorted((work / "renders").rglob("*")):
        rel = file.relative_to(work / "renders").as_posix()
        if not file.is_file() or rel.startswith(".phizer/"):
            continue
        if file.name.startswith(".") and file.name.endswith(".tmp"):
            failures.append(f"temporary file left in the store: {rel}")
            continue
        count += 1
        try:
            with Image.open(file) as image:
                image.verify()
            with Image.open(file) as image:
                image.load()
        except Exception as exc:  # any failure to decode is the finding
            failures.append(f"render {rel} does not decode: {type(exc).__name__}: {exc}")
    print(f"loadtest: {count} renders in the store, {len(failures)} bad")
    if count == 0:
        failures.append("the store is empty")
    finish(failures)


def finish(failures: list[str]) -> None:
    for failure in failures:
        print(f"loadtest: FAIL {failure}")
    if failures:
        sys.exit(1)


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "prepare":
        prepare(Path(args[0]))
    elif command == "warm":
        warm(args[0], Path(args[1]))
    elif command == "settle":
        settle(int(args[0]), args[1])
    elif command == "snapshot":
        print(json.dumps(snapshot(int(args[0]))))
    elif command == "judge":
        judge(int(args[0]), args[1], Path(args[2]), Path(args[3]))
    elif command == "verify-store":
        verify_store(Path(args[0]))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
