"""The render store's keys: which of them are renders, and phizer's own bookkeeping objects
beside the renders, all under `.phizer/` (a prefix no original path can start with, so no
render key is ever one of them):

    .phizer/sizes/{W}x{H}.json                  the settings a size's renders were made under
    .phizer/clock                               warm's probe of the store's clock
    .phizer/crops/{path}/{W}x{H}/{x1}x{y1}/{x2}x{y2}[.{variant}]
                                                an empty marker per stored crop render
    .phizer/originals/{path}.json               the original's record (`base.records`)

Crop renders are made by serve, one per box a signed URL asks for, so no configuration
lists them. Their markers sit under a prefix per original, so the crop renders of one photo
are found by listing that prefix, at a cost that does not grow with the store; a marker is
written before its render and needs no read-modify-write, so concurrent misses never lose
one. A marker maps back to exactly one render key, and the two carry the same parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from phizer.base.errors import PhizerError
from phizer.base.formats import VARIANT_FORMATS
from phizer.base.urls import RenderURL, own_variant, parse_url, render_key

BOOKKEEPING_PREFIX = ".phizer/"
SIZE_MARKER_PREFIX = ".phizer/sizes/"
SIZE_MARKER_SUFFIX = ".json"
CLOCK_KEY = ".phizer/clock"
CROP_MARKER_PREFIX = ".phizer/crops/"
RECORD_PREFIX = ".phizer/originals/"
RECORD_SUFFIX = ".json"


def record_key(path: str) -> str:
    """Where the record of the original at `path` is kept."""
    return f"{RECORD_PREFIX}{path}{RECORD_SUFFIX}"


def size_marker_key(dimensions: str) -> str:
    """The marker of the size whose renders live under `{dimensions}/`."""
    return f"{SIZE_MARKER_PREFIX}{dimensions}{SIZE_MARKER_SUFFIX}"


def dimensions_of_size_marker(key: str) -> str | None:
    """`220x220` for `.phizer/sizes/220x220.json`; None for any other key."""
    if not (key.startswith(SIZE_MARKER_PREFIX) and key.endswith(SIZE_MARKER_SUFFIX)):
        return None
    dims = key[len(SIZE_MARKER_PREFIX) : -len(SIZE_MARKER_SUFFIX)]
    width, x, height = dims.partition("x")
    return dims if x and width.isdigit() and height.isdigit() else None


def parse_render_key(key: str, extensions: Sequence[str]) -> RenderURL | None:
    """The render a store key holds, or None when the key is not the canonical key of a
    render of an original with one of `extensions`: bookkeeping, temp files, anything a
    person put in the store. What deletes renders deletes only keys this accepts."""
    try:
        url = parse_url("/" + key, extensions=extensions, sign="none")
    except PhizerError:
        return None
    return url if url.key == key else None


def plain_render_keys(
    path: str, sizes: Iterable[tuple[int, int]]
) -> list[tuple[tuple[int, int], str]]:
    """Every key a plain (uncropped) render of `path` can have at `sizes` (width, height):
    its own format (none for a HEIC, whose renders are all variants) and each variant, in
    that order, without repeats; each with its size."""
    out: dict[str, tuple[int, int]] = {}
    for width, height in sizes:
        for variant in dict.fromkeys((own_variant(path), *VARIANT_FORMATS)):
            out.setdefault(render_key(width, height, path, variant=variant), (width, height))
    return [(size, key) for key, size in out.items()]


def crop_marker_prefix(path: str) -> str:
    """Where the crop markers of the original at `path` are: list it to find them all."""
    return f"{CROP_MARKER_PREFIX}{path}/"


def crop_marker_key(url: RenderURL) -> str:
    """The marker of a crop render (ValueError for a render without a crop box)."""
    if url.crop is None:
        raise ValueError(f"{url.key} is not a crop render")
    c = url.crop
    variant = f".{url.variant}" if url.variant else ""
    box = f"{c.x1}x{c.y1}/{c.x2}x{c.y2}"
    return f"{crop_marker_prefix(url.path)}{url.width}x{url.height}/{box}{variant}"


def render_key_of_crop_marker(
    marker: str, extensions: Sequence[str], path: str | None = None
) -> str | None:
    """The render key a crop marker stands for, or None when `marker` is not one (or, with
    `path`, not one of that original's: `.phizer/crops/a.jpg/` also holds the markers of an
    original nested under it, `a.jpg/b.jpg`)."""
    if not marker.startswith(CROP_MARKER_PREFIX):
        return None
    parts = marker[len(CROP_MARKER_PREFIX) :].split("/")
    if len(parts) < 4:
        return None
    named, size, first, last = "/".join(parts[:-3]), parts[-3], parts[-2], parts[-1]
    corner, dot, variant = last.partition(".")
    key = f"{size}/{first}/{corner}/{named}" + (f".{variant}" if dot else "")
    url = parse_render_key(key, extensions)
    if url is None or url.crop is None or crop_marker_key(url) != marker:
        return None
    if path is not None and url.path != path:
        return None
    return key
