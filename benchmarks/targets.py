"""The promises BENCHMARKS.md makes, as data: each target names what it reads from a run's
results, its bound and which way it must hold; `report_targets` prints them with PASS/FAIL,
then the warm ratios round by round."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.warm import SIZES as WARM_SIZES

SIZES = [(w, h, mode) for _name, w, h, mode in WARM_SIZES]

Results = dict[str, Any]  # {"engine": ..., "serve": ..., "noop": ..., "focus": ...}, each
# absent if not run


@dataclass(frozen=True)
class Target:
    """One promise of BENCHMARKS.md: `measure` reads it from the results (None when that
    part was not run) and it passes when the value is at least (or, `at_most`, at most)
    `bound`."""

    name: str
    part: str  # "engine", "serve", "noop" or "focus": which results it needs
    measure: Callable[[dict[str, Any]], float | None]
    bound: float
    at_most: bool = False
    unit: str = "x"


def _cpu(e: dict[str, Any], key: str) -> float:
    return float(e["warm"][key]["cpu"] if key in e["warm"] else e["cpu"][key])


def _ratio(peer: str, ours: str) -> Callable[[dict[str, Any]], float]:
    """How many times faster phizer's `ours` ran than `peer` did (CPU seconds)."""
    return lambda e: _cpu(e, peer) / _cpu(e, ours)


def _share(
    row: Callable[[dict[str, Any]], dict[str, float]], ours: str, theirs: str
) -> Callable[[dict[str, Any]], float | None]:
    """phizer's `ours` as a fraction of the peer's `theirs` in one row of the serve results
    (None when the peer was not run)."""
    return lambda s: row(s)[ours] / row(s)[theirs] if theirs in row(s) else None


def _miss_vs_in_process(label: str) -> Callable[[dict[str, Any]], float]:
    """serve's overhead on a miss: its latency over the same job run in-process (the
    requested size first on the idle cores, timed to its render), so HTTP, the pool and
    the store are what the ratio measures."""
    return lambda s: float(s["miss"][label]["serve"] / s["miss"][label]["ahead"])


TARGETS = [
    Target(
        "warm 1w, progressive = false >= 1.2x vips cascade, baseline",
        "engine", _ratio("vips_cascade_as_phizer_baseline", "warm1 baseline"), 1.2,
    ),
    Target(
        "warm 1w, defaults >= 1.2x vips cascade, progressive",
        "engine", _ratio("vips_cascade_as_phizer", "warm1"), 1.2,
    ),
    Target(
        "warm 1w, defaults >= 4x naive (bench corpus)",
        "engine", _ratio("naive_pillow", "warm1"), 4,
    ),
    Target(
        "warm 1w, defaults >= 4x naive (web corpus)",
        "engine", _ratio("web naive_pillow", "web warm1"), 4,
    ),
    Target(
        "warm 2w >= 1.8x 1w (wall)", "engine",
        lambda e: e["warm"]["warm1 wall"]["seconds"] / e["warm"]["warm2"]["seconds"], 1.8,
    ),
    Target(
        "peak RSS per worker <= 150 MiB", "engine",
        lambda e: max(r["rss_mb"] for r in e["warm"].values()), 150, at_most=True, unit=" MiB",
    ),
    Target(
        "1600 max: worst photo <= 0.2 dB below naive", "engine",
        lambda e: e["fidelity"]["1600 worst"], 0.2, at_most=True, unit=" dB",
    ),
    Target(
        "800 max: worst photo <= 0.2 dB below naive", "engine",
        lambda e: e["fidelity"]["800 worst"], 0.2, at_most=True, unit=" dB",
    ),
    Target(
        "miss 800 max <= 0.6x thumbor", "serve",
        _share(lambda s: s["miss"]["800x800 max"], "serve", "thumbor"), 0.6, at_most=True,
    ),
    Target(
        "cold page's worth <= 0.33x thumbor (wall)", "serve",
        _share(lambda s: s["page"], "phizer", "thumbor"), 0.33, at_most=True,
    ),
    Target(
        "cold page's worth <= 0.4x thumbor (server CPU)", "serve",
        _share(lambda s: s["page"], "phizer cpu", "thumbor cpu"), 0.4, at_most=True,
    ),
    *(
        Target(
            f"miss {label} <= 1.15x the same job in-process", "serve",
            _miss_vs_in_process(label), 1.15, at_most=True,
        )
        for label in (f"{w}x{h} {mode}" for w, h, mode in SIZES)
    ),
    Target(
        "hits >= 0.8x bare Werkzeug", "serve",
        lambda s: s["hits"]["phizer"]["rps"] / s["hits"]["werkzeug"]["rps"], 0.8,
    ),
    Target(
        "no-op warm of 10,000 <= 30 s", "noop",
        lambda n: n["seconds"], 30, at_most=True, unit=" s",
    ),
    Target(
        "no-op warm: GETs of originals == 0", "noop",
        lambda n: n["original_gets"], 0, at_most=True, unit="",
    ),
    Target(
        "manifest of 10,000 unchanged originals <= 60 s", "noop",
        lambda n: n["manifest_seconds"], 60, at_most=True, unit=" s",
    ),
    Target(
        "manifest: GETs of originals == 0", "noop",
        lambda n: n["manifest_original_gets"], 0, at_most=True, unit="",
    ),
    Target(
        "focus: saliency adds <= 10% to a 1-worker warm", "focus",
        lambda f: f["cost"]["saliency_ratio"], 1.10, at_most=True,
    ),
    Target(
        "focus: faces add <= 25% to a 1-worker warm", "focus",
        lambda f: f["cost"]["faces_ratio"], 1.25, at_most=True,
    ),
    Target(
        "focus: subject kept off centre, faces then saliency >= 1.5x centre crops", "focus",
        lambda f: f["quality"]["faces, saliency"]["off"] / f["quality"]["centre"]["off"], 1.5,
    ),
    Target(
        "focus: subject kept when centred, no worse than centre crops", "focus",
        lambda f: f["quality"]["faces, saliency"]["centred"] / f["quality"]["centre"]["centred"],
        1.0,
    ),
]  # fmt: skip


def report_targets(results: Results) -> None:
    print("\ntargets (BENCHMARKS.md)")
    for target in TARGETS:
        part = results.get(target.part)
        value = target.measure(part) if part is not None else None
        if value is None:
            shown, verdict = "not measured", "-"
        else:
            passed = value <= target.bound if target.at_most else value >= target.bound
            digits = 0 if target.unit in (" MiB", "") else 2
            shown, verdict = f"{value:.{digits}f}{target.unit}", "PASS" if passed else "FAIL"
        print(f"  {target.name:62} {shown:>12}  {verdict}")
    if results.get("engine") is not None:
        report_rounds(results["engine"]["rounds"])


# Each warm target's ratio as (label, the peer's key, phizer's key) in a round's measurements.
PAIRED = [
    ("warm 1w baseline vs vips cascade", "vips_cascade_as_phizer_baseline", "warm1 baseline"),
    ("  vs the cascade's own defaults", "vips_decode_once_cascade", "warm1 baseline"),
    ("warm 1w vs vips cascade, progressive", "vips_cascade_as_phizer", "warm1"),
    ("warm 1w vs naive", "naive_pillow", "warm1"),
    ("warm 1w vs naive, web corpus", "web naive_pillow", "web warm1"),
]


def report_rounds(rounds: list[dict[str, float]]) -> None:
    """The warm targets' ratios round by round. The table above divides each side's best
    round, which may come from different minutes; a round runs the peers and each warm
    within two or three minutes, so the spread of these says how far the machine's drift
    moves a verdict."""
    lines = []
    for label, peer, ours in PAIRED:
        values = [r[peer] / r[ours] for r in rounds if peer in r and ours in r]
        if values:
            lines.append(f"    {label:38} " + " ".join(f"{v:5.2f}x" for v in values))
    if lines:
        print("  the same ratios round by round (peers and warm from the same round):")
        print("\n".join(lines))
