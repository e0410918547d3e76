"""Helpers for the warm and pool tests: small varied originals made in code, configs, store
snapshots."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image

from phizer.base.models import SizeSpec
from phizer.config import CacheConfig, Config, SourceConfig
from support.config import write_config

SIZES_TOML = """
[sizes.thumb]
width = 48
height = 48
mode = "fill"

[sizes.medium]
width = 100
height = 100
mode = "max"
quality = 80

[sizes.tall]
width = 60
height = 90
mode = "portrait"
"""
FORMATS = {".jpg": "JPEG", ".png": "PNG"}


def make_originals(root: Path, count: int, seed: int = 7) -> dict[str, tuple[int, int]]:
    """Small, varied originals (JPEG and PNG, landscape and portrait, a few folders)."""
    rng = random.Random(seed)
    made = {}
    for i in range(count):
        size = rng.choice([(160, 120), (120, 160), (200, 90), (90, 150), (130, 130)])
        ext = ".jpg" if i % 3 else ".png"
        path = f"{['a', 'b/c', 'd'][i % 3]}/img{i:04d}{ext}"
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        image = Image.new("RGB", size, colour)
        image.paste((255 - colour[0], 0, 0), (0, 0, size[0] // 2, size[1] // 3))
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / path, FORMATS[ext])
        made[path] = size
    return made


def expected_size(mode: str, box: tuple[int, int], original: tuple[int, int]) -> tuple[int, int]:
    (bw, bh), (w, h) = box, original
    if mode == "fill":
        return box
    if mode == "portrait":
        return min(bw, round(w * bh / h)), bh
    scale = min(bw / w, bh / h, 1.0)
    return round(w * scale), round(h * scale)


SIZE_MODES = {(48, 48): "fill", (100, 100): "max", (60, 90): "portrait"}


def dir_pipeline_config(root: Path, sizes: tuple[SizeSpec, ...]) -> Config:
    """dir -> dir over `root`'s originals/, renders/ and cache/ folders."""
    return Config(
        master=SourceConfig(type="dir", path=root / "originals"),
        store=SourceConfig(type="dir", path=root / "renders"),
        cache=CacheConfig(path=root / "cache"),
        sizes=sizes,
    )


def warm_config(tmp_path: Path, extra: str = "", sizes: str = SIZES_TOML) -> Path:
    """warm's usual config: `originals/` -> `renders/`, SIZES_TOML, plus `extra` tables."""
    return write_config(
        tmp_path,
        f'[master]\ntype = "dir"\npath = "originals"\n\n'
        f'[store]\ntype = "dir"\npath = "renders"\n\n{extra}\n{sizes}',
    )


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every visible render file with its inode and mtime: any rewrite changes one."""
    out = {}
    for file in root.rglob("*"):
        if file.is_file() and not file.name.startswith("."):
            st = file.stat()
            out[file.relative_to(root).as_posix()] = (st.st_ino, st.st_mtime_ns)
    return out
