"""`phizer render`: one original, one size, no store — for trying a size or a file by hand."""

from __future__ import annotations

from pathlib import Path

from phizer.base.errors import TooLarge
from phizer.base.models import CropBox, Rendered, SizeSpec
from phizer.config import Config
from phizer.engine.render import render_all
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
) -> Rendered:
    """Render `path` at `size`. A path naming an existing local file is read directly (handy
    for checking one file); anything else is fetched through the configured sources."""
    local = Path(path)
    if local.is_file():
        data = read_local(local, config.limits.max_original_bytes)
        name = local.name
    else:
        data = build_source(config).fetch(path).data
        name = path
    (target,) = make_targets(config, name, [size], variants=(variant,), crop=crop)
    (rendered,) = render_all(data, [target], config.output, config.limits)
    return rendered
