"""`phizer render`: one original, one size, no store — for trying a size or a file by hand."""

from __future__ import annotations

from pathlib import Path

from phizer.base.errors import TooLarge
from phizer.base.models import CropBox, Original, Picture, Rendered, SizeSpec
from phizer.config import Config
from phizer.engine.render import iter_described
from phizer.pool.pipeline import known_focus
from phizer.pool.targets import make_targets
from phizer.sources.build import build_source


def read_local(path: Path, max_bytes: int) -> bytes:
    """A local file's bytes, refusing one over the byte cap before reading it."""
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"original is larger than limits.max_original_bytes ({max_bytes} bytes)")
    return data


def render_path(
    config: Config,
    path: str,
    size: SizeSpec,
    crop: CropBox | None = None,
    variant: str | None = None,
) -> tuple[Rendered, Picture]:
    """Render `path` at `size`, and what the render learned of the original (its focal
    point under `[focus] sources`, looked for afresh). A path naming an existing local
    file is read directly (handy for checking one file); anything else is fetched through
    the configured sources, the master's `focus` metadata included."""
    local = Path(path)
    if local.is_file():
        original = Original(local.name, read_local(local, config.limits.max_original_bytes))
    else:
        original = build_source(config).fetch(path)
    (target,) = make_targets(config, original.path, [size], variants=(variant,), crop=crop)
    sources = config.focus.sources
    items = list(
        iter_described(
            original.data,
            [target],
            config.output,
            config.limits,
            focus_sources=sources,
            known_focus=known_focus(original, sources, None),
        )
    )
    rendered = next(i for i in items if isinstance(i, Rendered))
    picture = next(i for i in items if isinstance(i, Picture))
    return rendered, picture
