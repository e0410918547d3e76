"""Which renders an original has in the store, found without listing the store's folders:
each configured size, each size a `.phizer/sizes/` marker says phizer rendered once, each
format variant, and the crop renders its `.phizer/crops/` markers name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phizer.base.formats import DEFAULT_VARIANT, INPUT_EXTENSIONS, VARIANT_FORMATS, writes
from phizer.base.keys import (
    SIZE_MARKER_PREFIX,
    crop_marker_prefix,
    dimensions_of_size_marker,
    render_key_of_crop_marker,
)
from phizer.base.urls import extension_of, render_key
from phizer.config import Config
from phizer.stores import RenderStore


@dataclass(frozen=True)
class OriginalRenders:
    """An original's renders as stored: `keys` exist; `markers` are its crop markers, each
    with the render key it names (None: not a marker phizer wrote), to delete once that
    render is gone."""

    path: str
    keys: tuple[str, ...]
    markers: tuple[tuple[str, str | None], ...]

    def markers_of(self, failed: set[str]) -> list[str]:
        """The crop markers to delete once `keys` are, but for the renders in `failed`."""
        return [marker for marker, key in self.markers if key not in failed]


def render_dimensions(config: Config, store: RenderStore) -> list[str]:
    """The `WxH` of every size renders may exist for: the configured ones, and those whose
    settings marker warm once wrote (a size since removed from the config)."""
    dims = dict.fromkeys(spec.dimensions for spec in config.sizes)
    for info in store.list(SIZE_MARKER_PREFIX):
        found = dimensions_of_size_marker(info.key)
        if found is not None:
            dims[found] = None
    return list(dims)


def possible_keys(path: str, dimensions: Sequence[str]) -> list[str]:
    """Every plain render key `path` can have at these sizes: its own format (unless the
    original is in one renders are not written in, a HEIC) and each format variant."""
    own: tuple[str | None, ...] = (None,) if writes(extension_of(path)) else (DEFAULT_VARIANT,)
    keys: dict[str, None] = {}
    for dims in dimensions:
        width, _, height = dims.partition("x")
        for variant in (*own, *VARIANT_FORMATS):
            keys[render_key(int(width), int(height), path, variant=variant)] = None
    return list(keys)


def find_renders(store: RenderStore, path: str, dimensions: Sequence[str]) -> OriginalRenders:
    """The renders of `path` that exist: a stat (or one listing per shared prefix on S3)
    per possible key, and one listing of the original's crop markers."""
    markers = tuple(
        (info.key, render_key_of_crop_marker(info.key, INPUT_EXTENSIONS))
        for info in store.list(crop_marker_prefix(path))
    )
    candidates = possible_keys(path, dimensions) + [k for _, k in markers if k is not None]
    keys = tuple(info.key for info in store.existing(candidates))
    return OriginalRenders(path, keys, markers)
