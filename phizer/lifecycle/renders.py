"""Which renders an original has in the store, found without listing the store's folders:
each configured size, each size a `.phizer/sizes/` marker says phizer rendered once, each
format variant, and the crop renders its `.phizer/crops/` markers name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phizer.base.formats import INPUT_EXTENSIONS
from phizer.base.keys import (
    SIZE_MARKER_PREFIX,
    crop_marker_prefix,
    dimensions_of_size_marker,
    plain_render_keys,
    render_key_of_crop_marker,
)
from phizer.config import Config
from phizer.stores import RenderStore


@dataclass(frozen=True)
class OriginalRenders:
    """An original's renders as stored: `keys` exist; `markers` are its crop markers, each
    with the crop render key it names, to delete once that render is."""

    path: str
    keys: tuple[str, ...]
    markers: tuple[tuple[str, str], ...]

    def markers_of(self, deleted: set[str]) -> list[str]:
        """The crop markers of the renders in `deleted`. A marker whose render was not there
        stays: its render may be being written (the marker goes first), and prune, once the
        original is gone, deletes both."""
        return [marker for marker, key in self.markers if key in deleted]


def render_dimensions(config: Config, store: RenderStore) -> list[str]:
    """The `WxH` of every size renders may exist for: the configured ones, and those whose
    settings marker warm once wrote (a size since removed from the config)."""
    dims = dict.fromkeys(spec.dimensions for spec in config.sizes)
    for info in store.list(SIZE_MARKER_PREFIX):
        found = dimensions_of_size_marker(info.key)
        if found is not None:
            dims[found] = None
    return list(dims)


def find_renders(store: RenderStore, path: str, dimensions: Sequence[str]) -> OriginalRenders:
    """The renders of `path` that exist: a stat (or one listing per shared prefix on S3)
    per possible key, and one listing of the original's crop markers."""
    markers = tuple(
        (info.key, key)
        for info in store.list(crop_marker_prefix(path))
        if (key := render_key_of_crop_marker(info.key, INPUT_EXTENSIONS, path)) is not None
    )
    sizes = [(int(w), int(h)) for w, _, h in (d.partition("x") for d in dimensions)]
    candidates = [key for _, key in plain_render_keys(path, sizes)]
    candidates += [key for _, key in markers]
    keys = tuple(info.key for info in store.existing(candidates))
    return OriginalRenders(path, keys, markers)
