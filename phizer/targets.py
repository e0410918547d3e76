"""Which renders an original gets: one target per size and format variant, keyed by the
canonical URL path the store and the server share.

Kept apart from the pipeline so the processes that only plan work (warm's listing, serve's
front end) do not import the render engine and Pillow.
"""

from __future__ import annotations

from collections.abc import Iterable

from phizer.config import Config
from phizer.models import FORMAT_BY_EXTENSION, CropBox, RenderTarget, SizeSpec
from phizer.urls import render_key


def make_targets(
    config: Config,
    path: str,
    sizes: Iterable[SizeSpec] | None = None,
    variants: Iterable[str | None] = (None,),
    crop: CropBox | None = None,
) -> list[RenderTarget]:
    """Targets for `path`: every size (default: all configured) times every format variant
    (None = the original's own format; "webp" = the `.webp` variant)."""
    out = []
    for variant in variants:
        fmt = FORMAT_BY_EXTENSION[variant] if variant else None
        for size in config.sizes if sizes is None else sizes:
            key = render_key(size.width, size.height, path, crop=crop, variant=variant)
            out.append(RenderTarget(size=size, key=key, crop=crop, format=fmt))
    return out
