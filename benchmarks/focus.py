"""Focal points, measured: how often cropping renders keep a photo's subject with centre
crops and with each `[focus]` source, and what each source adds to a one-worker warm.

    scripts/bench-focus [--rounds 3] [--corpus .bench/corpus-web] [--json]

Quality: a test set of photos whose subject and its box are known, composed here (never
stored): Grace Hopper's portrait (hopper.jpg from the shared edge cases, a US Navy photograph
in the public domain) at 150-300 px on 1200x800, 800x1200 and 1600x900 backgrounds (plain,
graded, textured), off centre at eight places and centred at one; and scikit-image's
astronaut photograph (Eileen Collins, NASA, public domain; scripts/bench-corpus-people
fetches it from Debian's python3-skimage), as it is and at 400-600 px on textured
1600x900 and 1200x1200 backgrounds, her face the subject. Every cropping size of
the benchmark (220 and 120 fill, a 3:1 banner and a 1:2 tall fill, a 300 px portrait strip)
is planned from the focal point the engine finds, as the renderer plans it, and a render
keeps the subject when its window holds at least 90% of the subject's box. Printed: the
share kept with centre crops, saliency, faces, and faces then saliency, on off-centre and
on centred photos (focus must win clearly, and never lose on centred ones).

Cost: `phizer warm` dir -> dir, one worker pinned to one core, on the web corpus (2-5 MP
photos, scripts/bench-corpus-web; the bench corpus with --corpus), the four benchmark sizes,
with no source, with saliency and with faces; CPU seconds, best of --rounds, interleaved.
Targets: saliency <= 1.10x and faces <= 1.25x the warm without.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from PIL import Image  # noqa: E402
from support.focus import composed, hopper, jpeg, kept  # noqa: E402

from benchmarks.warm import SIZES as WARM_SIZES  # noqa: E402
from benchmarks.warm import run_warm_with  # noqa: E402
from phizer.base.models import Picture, RenderTarget, SizeSpec  # noqa: E402
from phizer.config import LimitsConfig, OutputConfig  # noqa: E402
from phizer.engine.geometry import plan  # noqa: E402
from phizer.engine.render import iter_described  # noqa: E402

EDGECASES = REPO.parent / "shared" / "edgecases"
PEOPLE = REPO / ".bench" / "people"
# Where the astronaut's face is in scikit-image's 512x512 photo (found once with the cascade,
# checked by eye): the subject a crop must keep.
ASTRONAUT_FACE = (177, 66, 274, 163)
CROPPING = (
    SizeSpec("s", 220, 220, "fill"),
    SizeSpec("xs", 120, 120, "fill"),
    SizeSpec("banner", 600, 200, "fill"),
    SizeSpec("tall", 200, 400, "fill"),
    SizeSpec("strip", 300, 300, "portrait"),
)
CANVASES = ((1200, 800), (800, 1200), (1600, 900))
PLACES_OFF = ((0.15, 0.2), (0.85, 0.2), (0.15, 0.8), (0.85, 0.8), (0.5, 0.12), (0.5, 0.88),
              (0.1, 0.5), (0.9, 0.5))  # fmt: skip
SOURCES = {
    "centre": (),
    "saliency": ("saliency",),
    "faces": ("faces",),
    "faces, saliency": ("faces", "saliency"),
}


Photo = tuple[str, bytes, tuple[int, int], tuple[int, int, int, int], bool]


def test_set(people: Path) -> list[Photo]:
    """(name, JPEG, size, subject box, off centre) for every photo: Hopper composed, and the
    astronaut as she is and composed (her face is the subject)."""
    out = []
    seed = 0
    face = hopper(EDGECASES)
    for canvas in CANVASES:
        for kind in ("plain", "graded", "textured"):
            for where in (*PLACES_OFF, (0.5, 0.5)):
                seed += 1
                side = 150 + (seed * 37) % 151
                photo, box = composed(face.resize((side, side)), canvas, where, kind, seed)
                name = f"hopper-{kind}-{canvas[0]}x{canvas[1]}-{where[0]}-{where[1]}"
                out.append((name, jpeg(photo), canvas, box, where != (0.5, 0.5)))
    with Image.open(people / "astronaut.png") as im:
        astronaut = im.convert("RGB")
    out.append(("astronaut", jpeg(astronaut), astronaut.size, ASTRONAUT_FACE, True))
    for canvas in ((1600, 900), (1200, 1200)):
        for where in (*PLACES_OFF, (0.5, 0.5)):
            seed += 1
            side = 400 + (seed * 53) % 201
            scaled = astronaut.resize((side, side))
            photo, (x, y, _, _) = composed(scaled, canvas, where, "textured", seed)
            k = side / astronaut.width
            fx1, fy1, fx2, fy2 = ASTRONAUT_FACE
            box = (x + round(fx1 * k), y + round(fy1 * k), x + round(fx2 * k), y + round(fy2 * k))
            name = f"astronaut-{canvas[0]}x{canvas[1]}-{where[0]}-{where[1]}"
            out.append((name, jpeg(photo), canvas, box, where != (0.5, 0.5)))
    return out


def quality(people: Path) -> dict[str, dict[str, float]]:
    if not (people / "astronaut.png").is_file():
        subprocess.run(
            ["bash", str(REPO / "scripts" / "bench-corpus-people"), str(people)], check=True
        )
    photos = test_set(people)
    limits, output = LimitsConfig(), OutputConfig()
    results: dict[str, dict[str, float]] = {}
    for label, sources in SOURCES.items():
        counts = {"off": [0, 0], "centred": [0, 0]}
        for _name, data, (w, h), box, off in photos:
            targets = [RenderTarget(s, f"{s.dimensions}/x.jpg") for s in CROPPING]
            items = iter_described(data, targets, output, limits, focus_sources=sources)
            picture = next(i for i in items if isinstance(i, Picture))
            for spec in CROPPING:
                window = plan(spec, w, h, None, picture.focus).box
                tally = counts["off" if off else "centred"]
                tally[0] += kept(window, box)
                tally[1] += 1
        results[label] = {k: round(v[0] / v[1], 3) for k, v in counts.items()}
    return results


def cost(corpus: Path, rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="phizer-bench-focus-") as tmp:
        for round_ in range(rounds):
            order = ["none", "saliency", "faces"]
            for label in order if round_ % 2 == 0 else reversed(order):
                sources = [] if label == "none" else [label]
                work = Path(tmp) / f"{label}-{round_}"
                work.mkdir()
                extra = f"\n[focus]\nsources = {json.dumps(sources)}\n"
                used = run_warm_with(work, corpus, extra, cpu=0)["cpu"]
                best[label] = min(best.get(label, used), used)
    return {
        "none_cpu": round(best["none"], 3),
        "saliency_cpu": round(best["saliency"], 3),
        "faces_cpu": round(best["faces"], 3),
        "saliency_ratio": round(best["saliency"] / best["none"], 3),
        "faces_ratio": round(best["faces"] / best["none"], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=REPO / ".bench" / "corpus-web")
    parser.add_argument("--people", type=Path, default=PEOPLE)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    scores = quality(args.people.resolve())
    print(f"subject kept by cropping renders ({len(CROPPING)} sizes, composed test set):")
    print(f"  {'source':16} {'off centre':>11} {'centred':>8}")
    for label, s in scores.items():
        print(f"  {label:16} {s['off']:11.1%} {s['centred']:8.1%}")
    corpus = args.corpus.resolve()
    photos = len(list(corpus.glob("*.jpg")))
    print(f"warm cost, 1 worker, {photos} photos in {corpus.name}, best of {args.rounds}:")
    spent = cost(corpus, args.rounds)
    print(f"  no focus {spent['none_cpu']:.2f} CPU-s; saliency {spent['saliency_ratio']:.2f}x, "
          f"faces {spent['faces_ratio']:.2f}x")  # fmt: skip
    result: dict[str, Any] = {"quality": scores, "cost": spent, "warm_sizes": len(WARM_SIZES)}
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
