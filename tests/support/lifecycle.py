"""Helpers for the purge and prune tests: a warmed folder with format variants and crop
renders, and a view of every file a store holds."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from phizer.base.models import CropBox
from phizer.cli.main import main
from phizer.config import load_config
from phizer.pool.pipeline import Pipeline
from phizer.pool.targets import make_targets
from support.warm import make_originals, warm_config

# Crop renders made in each test, by original: serve makes them from signed crop URLs
# through the same pipeline call.
CROP = CropBox(0, 0, 60, 60)


def cli(config: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["-c", str(config), *args], input=stdin)


def summary(result: Result) -> dict:  # type: ignore[type-arg]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def warmed(
    tmp_path: Path, count: int = 6, extra: str = ""
) -> tuple[Path, dict[str, tuple[int, int]]]:
    """`count` originals warmed with a webp variant into renders/; the config's path."""
    made = make_originals(tmp_path / "originals", count)
    config = warm_config(tmp_path, '[output]\nformats = ["webp"]\n' + extra)
    result = cli(config, "warm", "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    return config, made


def store_crop(config: Path, path: str, crop: CropBox = CROP, variant: str | None = None) -> str:
    """Render and store one crop of `path` as a serve miss does; its store key."""
    cfg = load_config(config)
    pipeline = Pipeline.from_config(cfg)
    targets = make_targets(cfg, path, cfg.sizes[:1], (variant,), crop=crop)
    outcomes = list(pipeline.render_and_store(pipeline.fetch(path), targets, awaited=True))
    assert all(o.stored for o in outcomes)
    return outcomes[0].key


def files(root: Path) -> dict[str, bytes]:
    """Every file under `root` (bookkeeping included) with its bytes; a file deleted while
    it is read (a prune at work) is left out."""
    out = {}
    for file in sorted(root.rglob("*")):
        try:
            if file.is_file():
                out[file.relative_to(root).as_posix()] = file.read_bytes()
        except FileNotFoundError:
            continue
    return out


def renders_of(tree: dict[str, bytes], path: str) -> set[str]:
    """The keys in `tree` that are renders of `path` (any size, variant or crop)."""
    return {
        key
        for key in tree
        if not key.startswith(".phizer/")
        and (
            key.endswith("/" + path)
            or any(key.endswith(f"/{path}.{v}") for v in ("webp", "jpg", "png", "avif"))
        )
    }
