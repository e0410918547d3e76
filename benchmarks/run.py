"""phizer against its peers on the same photos, sizes and quality, in one run; every result is
a ratio of two measurements taken side by side (a shared 2-core machine drifts).

    python -m benchmarks [--quick] [--rounds N] [--thumbor BIN] [--no-thumbor] [--no-serve]
                         [--noop-warm] [--focus] (scripts/bench runs it with the venv's python)

Corpora (built into .bench/ when missing, never committed): the bench corpus
(../shared/bench-corpus.sh, 24 JPEGs of 1.8-20 MP) and a web corpus of 2-5 MP photos
(scripts/bench-corpus-web, 19 JPEGs, mostly 2560x1600); sizes 1600 max, 800 max, 220 fill,
120 fill; JPEG q85; stock wheels as `pip install` gives them.

1. Engine, one core, CPU seconds (best of --rounds, the peers and phizer interleaved):
   naive per-size Pillow, pyvips `thumbnail` per size, the pyvips decode-once cascade writing
   baseline JPEGs and writing progressive ones (benchmarks.peers, VIPS_CONCURRENCY=1), and
   `phizer warm` dir -> dir at 1 worker with its defaults and with `progressive = false`, and
   at 2 workers (benchmarks.warm's runner: originals/s, renders/s, peak RSS per worker);
   the web corpus through the peers and a 1-worker warm as well. Then the 800 and 1600 px
   renders' PSNR against a full decode + LANCZOS, next to the naive pipeline's.
2. Serve (2 render workers, render-ahead on): single-miss latency per size (each photo's
   best of 2 rounds) against fetch + render of the same size in-process; thumbor's miss
   latency; a page's worth (every size of each photo once, shuffled, one client, cold)
   against thumbor, wall time and the servers' own CPU; hit throughput and p50/p99 with wrk
   against a bare Werkzeug send_file app (benchmarks.serve's helpers).
3. --noop-warm: benchmarks.noop_warm (10,000 unchanged originals in SeaweedFS).
4. --focus: benchmarks.focus (subject kept by cropping renders, and what each focal-point
   source adds to a one-worker warm of the bench corpus).
Ends with the targets (benchmarks.targets), PASS/FAIL each, then the warm ratios round by round
(the spread the machine's drift gives them). Exit status 0 whatever the outcome: this
measures, it does not gate.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageOps

from benchmarks import render as bench_render
from benchmarks import serve as bench_serve
from benchmarks import thumbor as bench_thumbor
from benchmarks import warm as bench_warm
from benchmarks.targets import report_targets
from phizer.base.models import RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig, load_config
from phizer.engine.render import iter_renders, render_all
from phizer.engine.resample import resampler_name
from phizer.pool.jobs import resample_threads, usable_cores
from phizer.pool.pipeline import Pipeline
from phizer.pool.targets import make_targets

REPO = Path(__file__).resolve().parent.parent
QUALITY = 85
MISS_ROUNDS = 2  # each miss timed this many times, the best kept (see single_misses)
SIZES = [(w, h, mode) for _name, w, h, mode in bench_warm.SIZES]
WEB_CORPUS = REPO / ".bench" / "corpus-web"

# What one engine pass runs in a child process pinned to one core: each peer of
# benchmarks.peers, and phizer's render_all (progressive and baseline), over every photo;
# prints CPU seconds as JSON.
ENGINE_PASS = r"""
import io, json, sys, time
sys.path[:0] = [sys.argv[1]]
from pathlib import Path
paths = sorted(Path(sys.argv[2]).glob("*.jpg"))
from benchmarks import peers
out = {}
for name, fn in peers.PEERS.items():
    out[name] = peers._one_pass(fn, paths, peers.BENCH_SIZES, peers.BENCH_QUALITY)[1]
from phizer.config import LimitsConfig, OutputConfig
from phizer.base.models import RenderTarget, SizeSpec
from phizer.engine.render import render_all
for progressive in (True, False):
    sizes = [SizeSpec(f"{w}x{h}", w, h, m, quality=int(sys.argv[4]), progressive=progressive)
             for w, h, m in json.loads(sys.argv[3])]
    cpu = time.process_time()
    for p in paths:
        render_all(p.read_bytes(), [RenderTarget(s, s.name) for s in sizes], OutputConfig(),
                   LimitsConfig())
    out["render_all" + ("" if progressive else " baseline")] = time.process_time() - cpu
import PIL
out["pillow"] = PIL.__version__
print(json.dumps(out))
"""


def engine_pass(python: Path, jpegs: Path) -> dict[str, Any]:
    env = {**os.environ, "VIPS_CONCURRENCY": "1"}
    command = [
        str(python), "-c", ENGINE_PASS, str(REPO), str(jpegs),
        json.dumps(SIZES), str(QUALITY),
    ]  # fmt: skip
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"engine pass with {python} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout))


def jpeg_folder(corpus: Path, into: Path, copies: int = 1) -> Path:
    """The corpus's JPEGs alone (hard links), so warm and serve render what the peers do;
    `copies` > 1 repeats them under other names (c1-..., c2-...), so warm's fixed start-up
    cost (two or three Python processes) weighs as it does on a real backfill, not 2x."""
    bench_warm.linked_copies(sorted(corpus.glob("*.jpg")), into, copies)
    return into


# --- 1. engine and warm ---------------------------------------------------------------


def bench_engine(args: argparse.Namespace, jpegs: Path, web: Path, work: Path) -> dict[str, Any]:
    x = args.copies
    copies = jpeg_folder(args.corpus.resolve(), REPO / ".bench" / f"jpegs-x{x}", x)
    web_copies = jpeg_folder(web, REPO / ".bench" / f"web-x{x}", x)
    warm: dict[str, dict[str, float]] = {}
    pillow = ""

    def keep_warm(label: str, result: dict[str, float], by: str) -> None:
        if label not in warm or result[by] < warm[label][by]:
            warm[label] = result

    # Each warm step: (label, corpus of hard links, workers, progressive).
    warms = [
        ("warm1", copies, 1, True),
        ("warm1 baseline", copies, 1, False),
        ("warm2", copies, 2, True),
        ("web warm1", web_copies, 1, True),
    ]
    rounds: list[dict[str, float]] = []  # each round's own CPU seconds, for paired ratios
    for i in range(args.rounds):
        print(f"  engine round {i + 1}/{args.rounds}", flush=True)
        this_round: dict[str, float] = {}
        rounds.append(this_round)
        steps = ["peers", "web peers", *(label for label, *_ in warms)]
        if i % 2:
            steps.reverse()  # alternate the order, so a change in load hits all alike
        for step in steps:
            round_dir = work / f"r{i}-{step.replace(' ', '-')}"
            round_dir.mkdir()
            if step in ("peers", "web peers"):
                got = engine_pass(Path(sys.executable), web if step == "web peers" else jpegs)
                pillow = got.pop("pillow")
                prefix = "web " if step == "web peers" else ""
                this_round.update({prefix + label: value for label, value in got.items()})
            else:
                _, corpus, workers, progressive = next(w for w in warms if w[0] == step)
                # One worker runs on the peers' core, two on both cores.
                run = bench_warm.run_warm(
                    round_dir,
                    corpus,
                    workers,
                    step.replace(" ", "-"),
                    progressive=progressive,
                    cpu=0 if workers == 1 else None,
                )
                result = per_corpus(run, args)
                # CPU seconds for the 1-worker ratios; wall seconds for 2 workers vs 1.
                keep_warm(step, result, "cpu" if workers == 1 else "seconds")
                if step == "warm1":
                    keep_warm("warm1 wall", result, "seconds")
                this_round[step] = result["cpu"]
            shutil.rmtree(round_dir, ignore_errors=True)
    labels = {label for r in rounds for label in r}
    best = {label: min(r[label] for r in rounds if label in r) for label in labels}
    print("  fidelity of the 800 and 1600 px renders ...", flush=True)
    return {
        "cpu": best,
        "warm": warm,
        "rounds": rounds,
        "pillow": pillow,
        "fidelity": fidelity_of_engine(jpegs),
    }


def fidelity_of_engine(jpegs: Path) -> dict[str, float]:
    """For the 800 and 1600 px max renders of every photo: the PSNR (dB) of phizer's render
    and of the naive pipeline's (full decode, Pillow LANCZOS, q85) against the full decode +
    LANCZOS before encoding; the mean of each, and the worst photo's shortfall of phizer's
    against the naive one (the target: at most 0.2 dB)."""
    out: dict[str, float] = {}
    for longest in (1600, 800):
        spec = SizeSpec(f"{longest}", longest, longest, "max", quality=QUALITY)
        ours, naive = [], []
        for path in sorted(jpegs.glob("*.jpg")):
            data = path.read_bytes()
            [render] = render_all(data, [RenderTarget(spec, "k")], OutputConfig(), LimitsConfig())
            with Image.open(io.BytesIO(data)) as im:
                full = ImageOps.exif_transpose(im).convert("RGB")
            truth = full.resize((render.width, render.height), Image.Resampling.LANCZOS)
            encoded = io.BytesIO()
            truth.save(encoded, "JPEG", quality=QUALITY)
            ours.append(bench_render.psnr(render.data, truth))
            naive.append(bench_render.psnr(encoded.getvalue(), truth))
        out[f"{longest} phizer"] = statistics.mean(ours)
        out[f"{longest} naive"] = statistics.mean(naive)
        out[f"{longest} worst"] = max(n - o for o, n in zip(ours, naive, strict=True))
    return out


def per_corpus(result: dict[str, float], args: argparse.Namespace) -> dict[str, float]:
    """Warm's CPU seconds per pass over the corpus, comparable with the peers' one pass."""
    return {**result, "cpu": result["cpu"] / args.copies}


def report_engine(e: dict[str, Any], photos: int, web_photos: int, copies: int) -> None:
    cpu, warm = e["cpu"], e["warm"]
    resampler = resampler_name()
    print(f"\nengine, one core, CPU seconds (best of rounds); Pillow {e['pillow']}, {resampler}")
    print(f"  (warm: CPU of warming the corpus {copies} times over, divided by {copies})")
    for title, prefix, rows in (
        (f"bench corpus, {photos} photos x 4 sizes", "", ENGINE_ROWS),
        (f"web corpus, {web_photos} photos x 4 sizes", "web ", WEB_ROWS),
    ):
        naive, cascade = cpu[prefix + "naive_pillow"], cpu[prefix + "vips_decode_once_cascade"]
        print(f"  {title:44} {'CPU s':>7} {'x naive':>8} {'x vips cascade':>15}")
        for label, key in rows:
            value = warm[key]["cpu"] if key in warm else cpu[key]
            print(f"  {label:44} {value:7.2f} {naive / value:7.2f}x {cascade / value:14.2f}x")
    print("\nphizer warm dir -> dir (wall clock, best of rounds)")
    for label in ("warm1 wall", "warm2", "web warm1"):
        r = warm[label]
        print(
            f"  {label.replace(' wall', ''):12} "
            f"{r['originals'] / r['seconds']:6.2f} originals/s "
            f"{r['renders'] / r['seconds']:7.2f} renders/s {r['seconds']:6.1f} s "
            f"peak RSS per worker {r['rss_mb']:.0f} MiB"
        )
    f = e["fidelity"]
    print("\nfidelity: PSNR against a full decode + LANCZOS, mean over the bench corpus")
    for longest in (1600, 800):
        print(
            f"  {longest} max: phizer {f[f'{longest} phizer']:.2f} dB, naive pipeline "
            f"{f[f'{longest} naive']:.2f} dB; the worst photo"
            f" {f[f'{longest} worst']:+.2f} dB below naive"
        )


# The engine table's rows: (label, key in the engine's measurements).
ENGINE_ROWS = [
    ("naive Pillow per size", "naive_pillow"),
    ("pyvips thumbnail per size", "vips_thumbnail_per_size"),
    ("pyvips decode-once cascade (vips defaults)", "vips_decode_once_cascade"),
    ("  writing phizer's baseline JPEGs", "vips_cascade_as_phizer_baseline"),
    ("  writing phizer's progressive JPEGs", "vips_cascade_as_phizer"),
    ("phizer render_all (defaults)", "render_all"),
    ("  progressive = false", "render_all baseline"),
    ("phizer warm, 1 worker (defaults)", "warm1"),
    ("  progressive = false", "warm1 baseline"),
]
WEB_ROWS = [
    ("naive Pillow per size", "web naive_pillow"),
    ("pyvips decode-once cascade (vips defaults)", "web vips_decode_once_cascade"),
    ("  writing phizer's baseline JPEGs", "web vips_cascade_as_phizer_baseline"),
    ("  writing phizer's progressive JPEGs", "web vips_cascade_as_phizer"),
    ("phizer render_all (defaults)", "web render_all"),
    ("phizer warm, 1 worker (defaults)", "web warm1"),
]


# --- 2. serve -------------------------------------------------------------------------


def serve_config(folder: Path, originals: Path, store: Path, memory_cache: bool) -> Path:
    lines = [
        "[master]", 'type = "dir"', f'path = "{originals}"',
        "[store]", 'type = "dir"', f'path = "{store}"',
        "[cache]", f'path = "{folder / "cache"}"',
        f"memory_bytes = {100_000_000 if memory_cache else 0}",
        "[server]", "workers = 2", "render_ahead = true", "queue = 256",
        "[output]", f"quality = {QUALITY}",
    ]  # fmt: skip
    for w, h, mode in SIZES:
        lines += [f"[sizes.s{w}x{h}]", f"width = {w}", f"height = {h}", f'mode = "{mode}"']
    path = folder / f"phizer-{store.name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def metric(url: str, name: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([\d.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def wait_idle(url: str) -> None:
    """Until render-ahead has finished, so it never runs under the next measurement."""
    deadline = time.monotonic() + 120
    while metric(url, "phizer_queue_depth") > 0 and time.monotonic() < deadline:
        time.sleep(0.02)


def get(url: str) -> float:
    return fetch(url)[0]


def fetch(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = requests.get(url, timeout=120)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code} {response.text[:200]}")
    return elapsed, response.content


def fidelity(original: Path, rendered: bytes) -> float:
    """PSNR (dB) of a max-mode render against the original fully decoded and LANCZOS-resized
    to the render's own size: what a shortcut in decoding or resampling costs a viewer (the
    q85 encoding costs both servers alike)."""
    with Image.open(io.BytesIO(rendered)) as im:
        size = im.size
    with Image.open(original) as im:
        reference = ImageOps.exif_transpose(im).convert("RGB")
    return bench_render.psnr(rendered, reference.resize(size, Image.Resampling.LANCZOS))


def clear(store: Path) -> None:
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir()


def in_process(config_path: Path, name: str, size: tuple[int, int, str], ahead: bool) -> float:
    """Fetch + render of one size by a fresh Pipeline in this process (the same dir source
    and engine serve uses, no HTTP, no pool), on one core. `ahead`: the job an idle serve
    runs (the requested size first, decoded for it and resampled on every free core, then
    the others), timed to its first render, as the client waits; nothing is stored."""
    config = load_config(config_path)
    spec = next(s for s in config.sizes if (s.width, s.height) == size[:2])
    targets = make_targets(config, name, [spec])
    if ahead:
        targets += make_targets(config, name, [s for s in config.sizes if s != spec])
    pipeline = Pipeline.from_config(config)
    threads = resample_threads(usable_cores(), 0) if ahead else 1
    started = time.perf_counter()
    data = pipeline.source.fetch(name).data
    renders = iter_renders(
        data, targets, config.output, config.limits, awaited=ahead, first_threads=threads
    )
    next(renders)
    return time.perf_counter() - started


def bench_serve_all(args: argparse.Namespace, jpegs: Path, work: Path) -> dict[str, Any]:
    names = sorted(p.name for p in jpegs.glob("*.jpg"))[: args.serve_photos]
    originals = work / "originals"
    originals.mkdir()
    for name in names:
        os.link(jpegs / name, originals / name)
    # bench-serve's synthetic photo, to start the workers before anything is timed.
    (originals / "warmup.jpg").write_bytes(bench_serve.photo(1))
    thumbor = None
    if args.thumbor is not None:
        if args.thumbor.exists():
            thumbor = bench_thumbor.start(args.thumbor, originals, work, QUALITY)
        else:
            print(f"  thumbor: {args.thumbor} not found; skipped (see scripts/bench_thumbor.py)")
    out: dict[str, Any] = {"photos": len(names), "thumbor": thumbor is not None}
    try:
        out["miss"] = single_misses(work, originals, names, thumbor)
        out["page"] = page_of_sizes(work, originals, names, thumbor, args.seed)
        out["hits"] = hits(work, originals, names, args)
    finally:
        if thumbor is not None:
            bench_serve.stop(thumbor[0])
    return out


def single_misses(
    work: Path, originals: Path, names: list[str], thumbor: tuple[Any, str] | None
) -> dict[str, dict[str, float]]:
    """Per size: every photo as a true miss (empty store, no memory cache), then the same
    fetch + render in-process, then thumbor; interleaved photo by photo. Each is timed in
    MISS_ROUNDS rounds (the store emptied before each) and a photo counts its best time for
    each of them: a 100 ms request on a shared machine is easily slowed by a tenth by
    someone else's work, which one round would charge to whichever server was running."""
    store = work / "miss-renders"
    store.mkdir()
    config = serve_config(work, originals, store, memory_cache=False)
    process, url = bench_serve.start_phizer(config, 2)
    totals: dict[str, dict[str, float]] = {}
    try:
        get(f"{url}/120x120/warmup.jpg")
        wait_idle(url)
        for size in SIZES:
            w, h, mode = size
            row = totals.setdefault(f"{w}x{h} {mode}", {})
            best: dict[str, dict[str, float]] = {}  # by server, by photo
            bodies: dict[str, tuple[bytes, bytes]] = {}
            for _round in range(MISS_ROUNDS):
                clear(store)
                for name in names:
                    elapsed, body = fetch(f"{url}/{w}x{h}/{name}")
                    keep_best(best, "serve", name, elapsed)
                    wait_idle(url)
                    keep_best(best, "single", name, in_process(config, name, size, False))
                    keep_best(best, "ahead", name, in_process(config, name, size, True))
                    if thumbor is not None:
                        path = bench_thumbor.path(w, h, mode, name)
                        elapsed, their_body = fetch(thumbor[1] + path)
                        keep_best(best, "thumbor", name, elapsed)
                        bodies.setdefault(name, (body, their_body))
            for who, per_photo in best.items():
                row[who] = statistics.mean(per_photo.values())
            if mode == "max" and bodies:  # fill crops may differ by a pixel: not comparable
                ours = [fidelity(originals / n, b) for n, (b, _) in bodies.items()]
                theirs = [fidelity(originals / n, t) for n, (_, t) in bodies.items()]
                row["psnr serve"] = statistics.mean(ours)
                row["psnr thumbor"] = statistics.mean(theirs)
                row["psnr worst gap"] = max(o - t for o, t in zip(ours, theirs, strict=True))
    finally:
        bench_serve.stop(process)
    return totals


def keep_best(best: dict[str, dict[str, float]], who: str, name: str, elapsed: float) -> None:
    per_photo = best.setdefault(who, {})
    per_photo[name] = min(per_photo.get(name, float("inf")), elapsed)


def page_of_sizes(
    work: Path, originals: Path, names: list[str], thumbor: tuple[Any, str] | None, seed: int
) -> dict[str, float]:
    """Every size of every photo once, shuffled, one client, cold cache: total seconds, and
    the CPU seconds the server's processes (workers included) spent on it."""
    store = work / "page-renders"
    store.mkdir()
    requests_ = [(size, name) for name in names for size in SIZES]
    random.Random(seed).shuffle(requests_)
    config = serve_config(work, originals, store, memory_cache=True)
    process, url = bench_serve.start_phizer(config, 2)
    out: dict[str, float] = {"requests": len(requests_)}
    try:
        get(f"{url}/120x120/warmup.jpg")
        wait_idle(url)
        before = metric(url, "phizer_render_seconds_count")
        cpu = tree_cpu(process.pid)
        started = time.perf_counter()
        for (w, h, _mode), name in requests_:
            get(f"{url}/{w}x{h}/{name}")
        out["phizer"] = time.perf_counter() - started
        wait_idle(url)
        out["phizer cpu"] = tree_cpu(process.pid) - cpu  # render-ahead included
        out["jobs"] = metric(url, "phizer_render_seconds_count") - before
    finally:
        bench_serve.stop(process)
    if thumbor is not None:
        cpu = tree_cpu(thumbor[0].pid)
        started = time.perf_counter()
        for (w, h, mode), name in requests_:
            get(thumbor[1] + bench_thumbor.path(w, h, mode, name))
        out["thumbor"] = time.perf_counter() - started
        out["thumbor cpu"] = tree_cpu(thumbor[0].pid) - cpu
    return out


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` and every live descendant of it."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while listed
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {pid}, True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return sum(times.get(p, 0.0) for p in tree)


def hits(
    work: Path, originals: Path, names: list[str], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """wrk over every render of the page test, phizer and the bare app alternately."""
    store = work / "page-renders"
    config = serve_config(work, originals, store, memory_cache=True)
    paths = [f"/{w}x{h}/{name}" for name in names for (w, h, _m) in SIZES]
    best: dict[str, dict[str, float]] = {}
    for i in range(2):
        for label in ("phizer", "werkzeug") if i % 2 == 0 else ("werkzeug", "phizer"):
            if label == "phizer":
                process, url = bench_serve.start_phizer(config, 2)
            else:
                process, url = bench_serve.start_baseline(store)
            try:
                get(url + paths[0])
                got = bench_serve.wrk(url, paths, args.wrk_seconds, 16, work)
            finally:
                bench_serve.stop(process)
            if label not in best or got["rps"] > best[label]["rps"]:
                best[label] = got
    return best


def report_serve(s: dict[str, Any]) -> None:
    print(
        f"\nserve, single miss: mean over {s['photos']} photos of each one's best of"
        f" {MISS_ROUNDS} rounds, each a true miss"
    )
    print(
        f"  {'size':16} {'serve':>7} {'in-proc':>8} {'ratio':>6} {'in-proc+ahead':>14} "
        f"{'ratio':>6} {'thumbor':>8}"
    )
    for label, row in s["miss"].items():
        thumb = f"{row['thumbor'] * 1000:6.0f}ms" if "thumbor" in row else "       -"
        print(
            f"  {label:16} {row['serve'] * 1000:5.0f}ms {row['single'] * 1000:6.0f}ms "
            f"{row['serve'] / row['single']:5.2f}x {row['ahead'] * 1000:12.0f}ms "
            f"{row['serve'] / row['ahead']:5.2f}x {thumb}"
        )
    print("  (in-proc: fetch + render of that size alone, one core; +ahead: the job an idle serve")
    print("   runs, requested size first on every free core, timed to the first render)")
    for label, row in s["miss"].items():
        if "psnr serve" in row:
            print(
                f"  {label}, PSNR against a full decode + LANCZOS: phizer {row['psnr serve']:.2f}"
                f" dB, thumbor {row['psnr thumbor']:.2f} dB\n    (means over the photos;"
                f" on its worst photo thumbor is {row['psnr worst gap']:.2f} dB below phizer)"
            )
    page = s["page"]
    print(f"\nserve, a page's worth: {page['requests']:.0f} requests, shuffled, one client, cold")
    print(
        f"  phizer  {page['phizer']:5.1f} s wall, {page['phizer cpu']:5.1f} s server CPU"
        f" ({page['jobs']:.0f} render jobs)"
    )
    if "thumbor" in page:
        print(
            f"  thumbor {page['thumbor']:5.1f} s wall, {page['thumbor cpu']:5.1f} s server CPU:"
            f" phizer {page['phizer'] / page['thumbor']:.2f}x the wall time,"
            f" {page['phizer cpu'] / page['thumbor cpu']:.2f}x the CPU"
        )
    print(f"\nserve, hits: wrk -t2 -c16 over {len(s['miss']) * s['photos']} renders (best of 2)")
    for label, row in s["hits"].items():
        print(
            f"  {label:10} {row['rps']:8.0f} req/s p50 {row['p50']:6.2f} ms "
            f"p99 {row['p99']:6.2f} ms non-2xx {row['non2xx']:.0f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 8 photos served, 5 s wrk")
    parser.add_argument("--rounds", type=int, default=3, help="engine/warm rounds (best of)")
    parser.add_argument("--corpus", type=Path, default=REPO / ".bench" / "corpus")
    parser.add_argument("--web-corpus", type=Path, default=WEB_CORPUS)
    parser.add_argument("--thumbor", type=Path, default=bench_thumbor.DEFAULT)
    parser.add_argument("--no-thumbor", dest="thumbor", action="store_const", const=None)
    parser.add_argument("--no-engine", action="store_true", help="skip the engine and warm part")
    parser.add_argument("--no-serve", action="store_true", help="skip the serve part")
    parser.add_argument("--noop-warm", action="store_true", help="also run benchmarks.noop_warm")
    parser.add_argument("--focus", action="store_true", help="also run benchmarks.focus")
    parser.add_argument("--copies", type=int, default=4, help="warm the corpus N times over")
    parser.add_argument("--serve-photos", type=int, default=24)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7, help="the page test's shuffle")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.serve_photos, args.wrk_seconds, args.copies = 1, 8, 5, 2
    bench_warm.ensure_corpus(args.corpus.resolve())
    web = args.web_corpus.resolve()
    if not web.is_dir() or not any(web.glob("*.jpg")):
        subprocess.run(["bash", str(REPO / "scripts" / "bench-corpus-web"), str(web)], check=True)
    jpegs = jpeg_folder(args.corpus.resolve(), REPO / ".bench" / "jpegs")
    photos, web_photos = len(list(jpegs.glob("*.jpg"))), len(list(web.glob("*.jpg")))
    print(
        f"corpora: {photos} JPEGs in {jpegs}, {web_photos} in {web}; sizes "
        + ", ".join(f"{w}x{h} {m}" for w, h, m in SIZES)
    )
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {os.getloadavg()[0]:.1f}")
    engine = serve = noop = None
    with tempfile.TemporaryDirectory(prefix="phizer-bench-", dir=REPO / ".bench") as tmp:
        if not args.no_engine:
            (Path(tmp) / "engine").mkdir()
            engine = bench_engine(args, jpegs, web, Path(tmp) / "engine")
            report_engine(engine, photos, web_photos, args.copies)
        if not args.no_serve:
            if not shutil.which("wrk"):
                raise SystemExit("wrk is not installed (apt-get install wrk)")
            (Path(tmp) / "serve").mkdir()
            print("\nserve: misses, a page's worth, hits ...", flush=True)
            serve = bench_serve_all(args, jpegs, Path(tmp) / "serve")
            report_serve(serve)
    if args.noop_warm:
        print("\nno-op warm (benchmarks.noop_warm) ...", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.noop_warm", "--json"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = done.stdout.strip().splitlines()
        print("\n".join(f"  {line}" for line in lines[:-1]))
        try:
            noop = json.loads(lines[-1])  # exit status 1 only means a target was missed
        except (IndexError, json.JSONDecodeError):
            print(f"  failed:\n{done.stderr[-2000:]}")
    focus = None
    if args.focus:
        print("\nfocal points (benchmarks.focus, on the bench corpus) ...", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.focus", "--json", "--corpus", str(jpegs),
             "--rounds", str(args.rounds)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = done.stdout.strip().splitlines()
        print("\n".join(f"  {line}" for line in lines[:-1]))
        try:
            focus = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            print(f"  failed:\n{done.stderr[-2000:]}")
    report_targets({"engine": engine, "serve": serve, "noop": noop, "focus": focus})
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
