"""Benchmark `phizer warm` dir -> dir against a naive per-size Pillow loop, in one run.

    scripts/bench-warm [--corpus .bench/corpus] [--repeat 3]

Builds the corpus with ../shared/bench-corpus.sh when it is missing, then warms it into a
fresh temporary store with 1 and with 2 workers (sizes 1600 max, 800 max, 220 fill, 120 fill,
quality 85) and runs the naive loop (Image.open -> convert -> resize(LANCZOS) -> save, once per
size, in one process) on the same files. Prints originals/s, renders/s and peak RSS per
worker, and checks the floors: 1 worker >= 2.5x naive, 2 workers >= 1.7x 1 worker (exit 1
when a floor is missed). Ratios are what to compare across machines, not absolute times.

Each of the three is timed `--repeat` times (default 3), the order alternating between
rounds, and the best time of each is compared: on a shared 2-core machine a single pass of
one of them can be slowed by a fifth by someone else's work, which a single round would
report as phizer's.

All three work through the corpus `--copies` times over (default 2; hard links under other
names), as scripts/bench does: throughput is what a backfill sees, and warm's fixed cost of
starting (about 0.6 s: Python, imports, the first listing, forking the workers) would
otherwise be a tenth of a 1-worker pass and a sixth of a 2-worker one, which is start-up
time, not throughput. `--copies 1` measures the corpus once, start-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent

SIZES = (
    ("xl", 1600, 1600, "max"),
    ("l", 800, 800, "max"),
    ("s", 220, 220, "fill"),
    ("xs", 120, 120, "fill"),
)
FLOOR_ONE_VS_NAIVE = 2.5
FLOOR_TWO_VS_ONE = 1.7


def ensure_corpus(corpus: Path) -> list[Path]:
    if not corpus.is_dir() or not any(corpus.iterdir()):
        script = REPO.parent / "shared" / "bench-corpus.sh"
        subprocess.run(["bash", str(script), str(corpus)], check=True)
    return sorted(p for p in corpus.iterdir() if p.suffix.lower() in (".jpg", ".png"))


def linked_copies(files: list[Path], into: Path, copies: int) -> list[Path]:
    """`files` linked into `into` (copied across file systems), `copies` times over, the
    repeats under other names (c1-..., c2-...) so each is an original of its own."""
    into.mkdir(parents=True, exist_ok=True)
    out = []
    for copy in range(copies):
        for file in files:
            target = into / (f"c{copy}-{file.name}" if copy else file.name)
            if not target.exists():
                try:
                    os.link(file, target)
                except OSError:
                    shutil.copyfile(file, target)
            out.append(target)
    return sorted(out)


def write_config(
    work: Path, corpus: Path, store: Path, progressive: bool = True, extra: str = ""
) -> Path:
    sizes = "".join(
        f'\n[sizes.{name}]\nwidth = {w}\nheight = {h}\nmode = "{mode}"\n'
        for name, w, h, mode in SIZES
    )
    config = work / f"{store.name}.toml"
    config.write_text(
        f'[master]\ntype = "dir"\npath = "{corpus}"\n\n[store]\ntype = "dir"\n'
        f'path = "{store}"\n\n[cache]\npath = "{work / "cache"}"\n\n'
        f"[output]\nquality = 85\nprogressive = {str(progressive).lower()}\n{sizes}{extra}"
    )
    return config


class RssSampler:
    """Peak RSS (VmHWM) of each child process of `pid`, sampled until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _children(self) -> list[int]:
        out = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for child in self._children():
                try:
                    status = Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        kb = int(line.split()[1])
                        self.peaks[child] = max(self.peaks.get(child, 0), kb)

    def stop(self) -> dict[int, int]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def run_warm_with(work: Path, corpus: Path, extra: str, cpu: int | None = None) -> dict[str, float]:
    """A one-worker `run_warm` with `extra` TOML appended to its config."""
    return run_warm(work, corpus, 1, "extra", cpu=cpu, extra=extra)


def run_warm(
    work: Path,
    corpus: Path,
    workers: int,
    tag: str,
    python: str = sys.executable,
    progressive: bool = True,
    cpu: int | None = None,
    extra: str = "",
) -> dict[str, float]:
    """`phizer warm` in a fresh store under `work`, run by `python`. `progressive = False`
    writes baseline JPEGs, where phizer's default is progressive. `cpu`: pin the run (warm
    and its workers) to that core, as the peers it is compared with are. `extra`: more TOML
    for the config."""
    store = work / f"renders-{tag}"
    config = write_config(work, corpus, store, progressive, extra)
    command = [
        python,
        "-c",
        "from phizer.cli.main import main; main()",
        "-c",
        str(config),
        "warm",
        "--json",
        "--workers",
        str(workers),
    ]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    cpu_before = cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = RssSampler(process.pid)
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    peaks = sampler.stop()
    used = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before  # warm and its workers
    if process.returncode != 0:
        sys.exit(f"warm failed ({process.returncode}): {err}")
    summary = json.loads(out)
    return {
        "seconds": seconds,
        "originals": summary["originals"],
        "renders": summary["rendered"],
        "cpu": used,
        "rss_mb": max(peaks.values(), default=0) / 1024,
    }


def naive_size(image: Image.Image, w: int, h: int, mode: str) -> Image.Image:
    if mode == "fill":
        return ImageOps.fit(image, (w, h), Image.Resampling.LANCZOS)
    scale = min(w / image.width, h / image.height, 1.0)
    size = (round(image.width * scale), round(image.height * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


def run_naive(work: Path, files: list[Path]) -> dict[str, float]:
    """What a first script does: open, convert, resize and save once per size."""
    out = work / "naive"
    cpu = cpu_seconds(resource.RUSAGE_SELF)
    started = time.perf_counter()
    renders = 0
    for file in files:
        for _name, w, h, mode in SIZES:
            with Image.open(file) as opened:
                image = opened.convert("RGB")
            target = out / f"{w}x{h}" / file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            naive_size(image, w, h, mode).save(target, quality=85)
            renders += 1
    return {
        "seconds": time.perf_counter() - started,
        "originals": len(files),
        "renders": renders,
        "cpu": cpu_seconds(resource.RUSAGE_SELF) - cpu,
        "rss_mb": 0.0,
    }


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(label: str, work: Path, files: list[Path], corpus: Path) -> dict[str, float]:
    if label == "naive":
        return run_naive(work, files)
    workers = int(label.split()[0])
    return run_warm(work, corpus, workers, f"w{workers}")


def show(label: str, r: dict[str, float]) -> None:
    rss = f"{r['rss_mb']:.0f} MB peak RSS per worker" if r["rss_mb"] else "(in this process)"
    print(
        f"{label:<12} {r['originals'] / r['seconds']:6.2f} originals/s "
        f"{r['renders'] / r['seconds']:7.2f} renders/s  {r['seconds']:6.1f} s "
        f"({r['cpu']:5.1f} CPU-s)  {rss}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / ".bench" / "corpus")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs each")
    parser.add_argument("--copies", type=int, default=2, help="the corpus N times over")
    args = parser.parse_args()
    corpus = ensure_corpus(args.corpus.resolve())
    print(
        f"corpus: {len(corpus)} originals in {args.corpus}, {args.copies} times over; sizes "
        + ", ".join(f"{w}x{h} {m}" for _n, w, h, m in SIZES)
    )
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="phizer-bench-warm-") as tmp:
        originals = Path(tmp) / "originals"
        files = linked_copies(corpus, originals, args.copies)
        for i in range(args.repeat):
            work = Path(tmp) / str(i)
            work.mkdir()
            labels = ["naive", "1 worker", "2 workers"]
            if i % 2:  # alternate the order, so a change in machine load hits all alike
                labels.reverse()
            for label in labels:
                r = measure(label, work, files, originals)
                if label not in best or r["seconds"] < best[label]["seconds"]:
                    best[label] = r
    for label in ("naive", "1 worker", "2 workers"):
        show(label, best[label])
    one = best["naive"]["seconds"] / best["1 worker"]["seconds"]
    two = best["1 worker"]["seconds"] / best["2 workers"]["seconds"]
    cpu_ratio = best["naive"]["cpu"] / best["1 worker"]["cpu"]
    print(
        f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        f"(compare ratios; CPU-s per corpus, naive / 1 worker: {cpu_ratio:.2f}x)"
    )
    ok_one, ok_two = one >= FLOOR_ONE_VS_NAIVE, two >= FLOOR_TWO_VS_ONE
    print(
        f"1 worker vs naive:   {one:.2f}x (floor {FLOOR_ONE_VS_NAIVE}x) "
        f"{'ok' if ok_one else 'MISSED'}"
    )
    print(
        f"2 workers vs 1:      {two:.2f}x (floor {FLOOR_TWO_VS_ONE}x) "
        f"{'ok' if ok_two else 'MISSED'}"
    )
    return 0 if ok_one and ok_two else 1


if __name__ == "__main__":
    sys.exit(main())
