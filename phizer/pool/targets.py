"""Which renders an original gets: one target per size and format variant, keyed by the
canonical URL path the store and the server share.

Kept apart from the pipeline so the processes that only plan work (warm's listing, serve's
front end) do not import the render engine and Pillow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from phizer.base.models import CropBox, RenderTarget, SizeSpec
from phizer.base.urls import format_of_key, own_variant, render_key
from phizer.config import Config


def make_targets(
    config: Config,
    path: str,
    sizes: Iterable[SizeSpec] | None = None,
    variants: Iterable[str | None] = (None,),
    crop: CropBox | None = None,
) -> list[RenderTarget]:
    """Targets for `path`: every size (default: all configured) times every format variant
    (None = the format `path`'s extension names, or JPEG for an original in a format renders
    are not written in, a HEIC; "webp" = the `.webp` variant). Each render is in the format
    its key's extension names (see `format_of_key`)."""
    own = own_variant(path)
    out: list[RenderTarget] = []
    seen: set[str] = set()
    for variant in variants:
        for size in config.sizes if sizes is None else sizes:
            chosen = own if variant is None else variant
            key = render_key(size.width, size.height, path, crop=crop, variant=chosen)
            if key not in seen:
                seen.add(key)
                out.append(RenderTarget(size=size, key=key, crop=crop, format=format_of_key(key)))
    return out


def settings_fingerprint(config: Config) -> str:
    """Every configured size's settings in 16 hex digits: a record made under other
    settings says so (`phizer.base.records`)."""
    out = config.output
    sources = config.focus.sources
    joined = "|".join(s.fingerprint(out.keep_metadata, out.canvas, sources) for s in config.sizes)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]
