"""What an upload's tags cost a render: each corpus JPEG untagged, tagged with an sRGB profile,
with Display P3, and turned by EXIF orientation 6, rendered side by side in one run.

    scripts/bench-tags [--corpus .bench/corpus] [--repeat 3] [--only SUBSTRING]

The corpus's photos carry neither, but uploads often do: Photoshop's and Lightroom's exports
embed an sRGB profile, phones embed sRGB or Display P3, and a phone's portrait shot is stored
sideways with orientation 6. Each tag goes into the JPEG as a segment of its own (APP2 for
the profile, APP1 for EXIF), so the pixels and their decode are the same in every variant.
Two timings per photo, CPU seconds on one core, best of `--repeat`: `render_all` for the four
benchmark sizes (warm), and the first render of an 800px serve miss (decoded for that size
alone). Printed as ratios against the untagged photo: an sRGB profile should cost nothing
(phizer recognises it and keeps the pixels); P3 is converted to sRGB through LittleCMS,
which is what it costs; a turned photo is resampled as stored and each render turned.
The sRGB profile is Photoshop's (HP's), from ../shared/edgecases/hopper.psd, and the P3 one
is ../shared/edgecases/P3-sRGB-color-bars.jpg's.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from benchmarks.render import SIZES
from phizer.base.models import RenderTarget
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine.render import iter_renders
from phizer.pool.malloc import keep_freed_memory

REPO = Path(__file__).resolve().parent.parent

EDGECASES = REPO.parent / "shared" / "edgecases"


def with_segment(jpeg: bytes, marker: int, segment: bytes) -> bytes:
    """`jpeg` with one more segment right after SOI (under 64 KiB)."""
    header = struct.pack(">BBH", 0xFF, marker, len(segment) + 2)
    return jpeg[:2] + header + segment + jpeg[2:]


def with_profile(jpeg: bytes, profile: bytes) -> bytes:
    return with_segment(jpeg, 0xE2, b"ICC_PROFILE\0\x01\x01" + profile)


def turned(jpeg: bytes, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return with_segment(jpeg, 0xE1, exif.tobytes())


def cpu(work: Callable[[], object], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def timings(data: bytes, repeat: int) -> tuple[float, float]:
    """(render_all of the four sizes, first render of an 800px miss), CPU seconds."""
    every = [RenderTarget(s, s.name) for s in SIZES]
    medium = [RenderTarget(SIZES[1], SIZES[1].name)]
    out, limits = OutputConfig(), LimitsConfig()
    warm = cpu(lambda: list(iter_renders(data, every, out, limits)), repeat)
    miss = cpu(lambda: next(iter_renders(data, medium, out, limits, awaited=True)), repeat)
    return warm, miss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / ".bench" / "corpus")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="photos whose name contains this")
    args = parser.parse_args()
    photos = sorted(p for p in args.corpus.glob("*.jpg") if args.only in p.name)
    if not photos:
        print(f"no JPEGs in {args.corpus} (scripts/bench-render builds the corpus)")
        return 2
    profiles = {
        "sRGB": bytes(Image.open(EDGECASES / "hopper.psd").info["icc_profile"]),
        "P3": bytes(Image.open(EDGECASES / "P3-sRGB-color-bars.jpg").info["icc_profile"]),
    }
    keep_freed_memory()  # as render workers do, so no variant pays for fresh pages
    timings(photos[0].read_bytes(), 1)  # and none for the first imports and allocations
    totals = {name: [0.0, 0.0] for name in ("untagged", *profiles, "turned")}
    print(f"{len(photos)} photos, CPU seconds on one core, best of {args.repeat}")
    for path in photos:
        plain = path.read_bytes()
        variants = {"untagged": plain} | {n: with_profile(plain, p) for n, p in profiles.items()}
        variants["turned"] = turned(plain, 6)
        for name, data in variants.items():
            warm, miss = timings(data, args.repeat)
            totals[name][0] += warm
            totals[name][1] += miss
    base_warm, base_miss = totals["untagged"]
    print(f"{'':10} {'render_all':>10} {'x untagged':>10} {'800 miss':>9} {'x untagged':>10}")
    for name, (warm, miss) in totals.items():
        print(
            f"{name:10} {warm:9.2f}s {warm / base_warm:9.2f}x {miss:8.2f}s {miss / base_miss:9.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
