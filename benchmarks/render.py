"""Speed and fidelity of phizer's render engine against the obvious Pillow loop.

For every photo in the corpus, in one run (timings on a shared machine drift, so only ratios
measured side by side mean anything):
- time `render_all` for 1600 max, 800 max, 220 fill, 120 fill at quality 85, and the naive
  loop (per size: open, convert("RGB"), resize with LANCZOS, save JPEG q85; same geometry);
- PSNR of each 800px JPEG against a lossless reference (full decode, LANCZOS to 800 max,
  never encoded): phizer's shortcuts (DCT-scaled decode, cascaded resampling) may cost at most
  0.2 dB against the naive render on every photo.
Non-JPEG originals are rendered as JPEG (a format variant) so both sides encode the same.
Exit status 1 when the speed floor or any photo's PSNR check fails.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

from phizer.base.models import RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine.geometry import plan
from phizer.engine.render import render_all

SIZES = (
    SizeSpec("large", 1600, 1600, "max", quality=85),
    SizeSpec("medium", 800, 800, "max", quality=85),
    SizeSpec("small", 220, 220, "fill", quality=85),
    SizeSpec("thumb", 120, 120, "fill", quality=85),
)
MEDIUM = 1  # index of the 800px size in SIZES
SPEED_FLOOR = 2.5
PSNR_TOLERANCE = 0.2  # dB


def phizer(data: bytes, fmt: str | None) -> list[bytes]:
    targets = [RenderTarget(s, s.name, format=fmt) for s in SIZES]
    return [r.data for r in render_all(data, targets, OutputConfig(), LimitsConfig())]


def naive(data: bytes) -> list[bytes]:
    out = []
    for size in SIZES:
        im = Image.open(io.BytesIO(data)).convert("RGB")
        p = plan(size, *im.size)
        small = im.resize((p.width, p.height), Image.Resampling.LANCZOS, box=p.box)
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def best_time(work: Callable[[], list[bytes]], repeat: int) -> tuple[float, list[bytes]]:
    best, result = math.inf, []
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def psnr(data: bytes, reference: Image.Image) -> float:
    got = Image.open(io.BytesIO(data)).convert("RGB")
    stat = ImageStat.Stat(ImageChops.difference(got, reference))
    mse = sum(stat.sum2) / (3 * reference.width * reference.height)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def reference_800(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    p = plan(SIZES[MEDIUM], *im.size)
    return im.resize((p.width, p.height), Image.Resampling.LANCZOS, box=p.box)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--repeat", type=int, default=2, help="best of N timings per photo")
    parser.add_argument("--only", default="", help="photos whose name contains this")
    args = parser.parse_args()
    photos = sorted(p for p in args.corpus.iterdir() if args.only in p.name)
    if not photos:
        print(f"no photos in {args.corpus}", file=sys.stderr)
        return 2
    print(
        f"{'photo':40} {'MP':>5} {'phizer':>8} {'naive':>8} {'speed':>6} "
        f"{'PSNR phizer':>11} {'PSNR naive':>10} {'delta':>6}"
    )
    total_p = total_n = 0.0
    failures = 0
    for path in photos:
        data = path.read_bytes()
        fmt = None if path.suffix.lower() in (".jpg", ".jpeg") else "JPEG"
        t_p, ours = best_time(lambda d=data, f=fmt: phizer(d, f), args.repeat)  # type: ignore[misc]
        t_n, theirs = best_time(lambda d=data: naive(d), args.repeat)  # type: ignore[misc]
        total_p, total_n = total_p + t_p, total_n + t_n
        ref = reference_800(data)
        q_p, q_n = psnr(ours[MEDIUM], ref), psnr(theirs[MEDIUM], ref)
        ok = q_p >= q_n - PSNR_TOLERANCE
        failures += not ok
        with Image.open(path) as im:
            mp = im.width * im.height / 1e6
        print(
            f"{path.name[:40]:40} {mp:5.1f} {t_p * 1000:6.0f}ms {t_n * 1000:6.0f}ms "
            f"{t_n / t_p:5.2f}x {q_p:9.2f}dB {q_n:8.2f}dB {q_p - q_n:+6.3f} "
            f"{'PASS' if ok else 'FAIL'}"
        )
    ratio = total_n / total_p
    fast = ratio >= SPEED_FLOOR
    print(
        f"\ntotal: phizer {total_p:.2f}s, naive {total_n:.2f}s, speed ratio {ratio:.2f}x "
        f"(floor {SPEED_FLOOR}x): {'PASS' if fast else 'FAIL'}"
    )
    print(
        f"PSNR within {PSNR_TOLERANCE} dB of naive on {len(photos) - failures}/{len(photos)} "
        f"photos: {'PASS' if not failures else 'FAIL'}"
    )
    return 0 if fast and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
