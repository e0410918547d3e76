"""Peer pipelines phizer's benchmarks compare against, on the same photos, sizes and quality.

Each peer takes (path, sizes, quality) and returns one encoded JPEG per size, in order:
  naive_pillow              what most Python shops write: open, convert, resize per size
  vips_thumbnail_per_size   libvips `thumbnail` once per size (imgproxy/sharp style)
  vips_decode_once_cascade  libvips: one shrink-on-load decode, each size from the previous
  vips_cascade_as_phizer    the same, writing the JPEGs phizer writes by default (Huffman
                            tables fitted to each render; progressive from 180x180 pixels)
A size is (width, height, mode): "max" fits inside the box, "fill" covers it and crops the
centre. pyvips is optional (the `bench` extra); it is imported only when a vips peer runs.

Run with the venv's python: `VIPS_CONCURRENCY=1 taskset -c 0 python scripts/peers.py
.bench/corpus [rounds]` measures on one core (libvips otherwise spreads work over threads).
On a shared machine trust the CPU-second ratios: wall-clock ones swing with others' load.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from PIL import Image

Mode = Literal["max", "fill"]
Size = tuple[int, int, Mode]
Peer = Callable[[Path, Sequence[Size], int], list[bytes]]

BENCH_SIZES: list[Size] = [
    (1600, 1600, "max"),
    (800, 800, "max"),
    (220, 220, "fill"),
    (120, 120, "fill"),
]
BENCH_QUALITY = 85


def scaled(src_w: int, src_h: int, size: Size) -> tuple[int, int]:
    """The resampled dimensions before any crop: fit inside for "max", cover for "fill".
    Never upscales (a source smaller than the box keeps its size)."""
    w, h, mode = size
    pick = max if mode == "fill" else min
    scale = min(1.0, pick(w / src_w, h / src_h))
    return max(1, round(src_w * scale)), max(1, round(src_h * scale))


def _centre_box(w: int, h: int, size: Size) -> tuple[int, int, int, int]:
    cw, ch = min(w, size[0]), min(h, size[1])
    left, top = (w - cw) // 2, (h - ch) // 2
    return left, top, left + cw, top + ch


def _pillow_jpeg(im: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def naive_pillow(path: Path, sizes: Sequence[Size], quality: int) -> list[bytes]:
    """Per size: open, convert to RGB, LANCZOS to the mode's dimensions, crop, encode."""
    renders = []
    for size in sizes:
        with Image.open(path) as original:
            im = original.convert("RGB")
        im = im.resize(scaled(im.width, im.height, size), Image.Resampling.LANCZOS)
        if size[2] == "fill":
            im = im.crop(_centre_box(im.width, im.height, size))
        renders.append(_pillow_jpeg(im, quality))
    return renders


def _vips() -> Any:
    import pyvips  # optional: pip install pyvips pyvips-binary (the `bench` extra)

    return pyvips


# phizer's default JPEG (phizer/encode.py): progressive from this many pixels, and always
# Huffman tables fitted to the image. Kept apart so these peers run without phizer.
PHIZER_PROGRESSIVE_MIN_PIXELS = 32_400


def _vips_jpeg(im: Any, quality: int, like: str | None = None) -> bytes:
    """libvips' JPEG: its defaults (baseline, standard Huffman tables), or `like` phizer's
    output: "progressive" (phizer's default: progressive from 180x180 px) or "baseline"
    (`progressive = false`), both with Huffman tables fitted to the image as phizer's are."""
    # keep=NONE strips EXIF/ICC/XMP as Pillow's save does, so sizes and times compare.
    options: dict[str, Any] = {"Q": quality, "keep": _vips().enums.ForeignKeep.NONE}
    if like is not None:
        options["optimize_coding"] = True
        progressive = like == "progressive"
        options["interlace"] = progressive and im.width * im.height >= PHIZER_PROGRESSIVE_MIN_PIXELS
    return bytes(im.jpegsave_buffer(**options))


def vips_thumbnail_per_size(path: Path, sizes: Sequence[Size], quality: int) -> list[bytes]:
    """libvips `thumbnail` (shrink-on-load, then resize) from the file, once per size."""
    vips = _vips()
    renders = []
    for w, h, mode in sizes:
        crop = "centre" if mode == "fill" else "none"
        im = vips.Image.thumbnail(str(path), w, height=h, crop=crop, size="down")
        renders.append(_vips_jpeg(im, quality))
    return renders


def vips_decode_once_cascade(path: Path, sizes: Sequence[Size], quality: int) -> list[bytes]:
    """One decode, shrunk on load to what the largest size needs; every size is resized from
    the previous (larger, uncropped) result, so each resize starts from the fewest pixels."""
    return _vips_cascade(path, sizes, quality, None)


def vips_cascade_as_phizer(path: Path, sizes: Sequence[Size], quality: int) -> list[bytes]:
    """The cascade writing the same JPEGs as phizer's defaults (progressive, fitted Huffman
    tables), so the encoder's share of the work is the same on both sides."""
    return _vips_cascade(path, sizes, quality, "progressive")


def vips_cascade_as_phizer_baseline(path: Path, sizes: Sequence[Size], quality: int) -> list[bytes]:
    """The cascade writing the same JPEGs as phizer with `progressive = false` (baseline,
    fitted Huffman tables): like output for the baseline comparison."""
    return _vips_cascade(path, sizes, quality, "baseline")


def _vips_cascade(path: Path, sizes: Sequence[Size], quality: int, like: str | None) -> list[bytes]:
    vips = _vips()
    header = vips.Image.new_from_file(str(path))  # header only: pixels load lazily
    wanted = [scaled(header.width, header.height, s) for s in sizes]
    # thumbnail with the largest wanted box is libvips' own shrink-on-load decode.
    big_w, big_h = max(wanted, key=lambda wh: wh[0] * wh[1])
    current = vips.Image.thumbnail(str(path), big_w, height=big_h, size="down")
    current = current.copy_memory()  # decode now, once; the cascade reads from memory
    renders: list[bytes | None] = [None] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: wanted[i][0] * wanted[i][1], reverse=True):
        w, h = wanted[i]
        if (w, h) != (current.width, current.height):
            current = current.resize(w / current.width, vscale=h / current.height)
            current = current.copy_memory()
        im = current
        if sizes[i][2] == "fill":
            left, top, right, bottom = _centre_box(im.width, im.height, sizes[i])
            im = im.crop(left, top, right - left, bottom - top)
        renders[i] = _vips_jpeg(im, quality, like)
    return [r for r in renders if r is not None]


PEERS: dict[str, Peer] = {
    "naive_pillow": naive_pillow,
    "vips_thumbnail_per_size": vips_thumbnail_per_size,
    "vips_decode_once_cascade": vips_decode_once_cascade,
    "vips_cascade_as_phizer": vips_cascade_as_phizer,
    "vips_cascade_as_phizer_baseline": vips_cascade_as_phizer_baseline,
}


def time_peer(
    fn: Peer,
    paths: Sequence[Path],
    sizes: Sequence[Size],
    quality: int,
    repeat: int = 3,
    cpu: bool = False,
) -> float:
    """Seconds for one pass of `fn` over every path: the best (minimum) of `repeat` passes,
    since on a shared machine noise only ever adds time. Wall-clock by default; `cpu=True`
    gives this process's CPU seconds (all its threads), which other engineers' load on the
    same cores disturbs far less."""
    return min(_one_pass(fn, paths, sizes, quality)[cpu] for _ in range(repeat))


def _one_pass(
    fn: Peer, paths: Sequence[Path], sizes: Sequence[Size], quality: int
) -> tuple[float, float]:
    """(wall, CPU) seconds for one pass over every path."""
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        fn(path, sizes, quality)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str]) -> None:
    """Time every peer on a corpus, interleaved `rounds` times (so drift on a shared machine
    hits every peer alike), and print the best wall and CPU seconds and ratios to naive."""
    corpus = Path(argv[0] if argv else ".bench/corpus")
    rounds = int(argv[1]) if len(argv) > 1 else 3
    paths = sorted(corpus.glob("*.jpg"))
    best = {name: (float("inf"), float("inf")) for name in PEERS}
    for _ in range(rounds):
        for name, fn in PEERS.items():
            wall, cpu = _one_pass(fn, paths, BENCH_SIZES, BENCH_QUALITY)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    naive_wall, naive_cpu = best["naive_pillow"]
    for name, (wall, cpu) in best.items():
        print(
            f"{name:26}  wall {wall:6.2f} s {naive_wall / wall:5.2f}x"
            f"  cpu {cpu:6.2f} s {naive_cpu / cpu:5.2f}x  ({len(paths)} photos)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
