"""The render store's keys: which are renders (the only keys purge and prune delete) and
phizer's own `.phizer/` bookkeeping beside them."""

from __future__ import annotations

import pytest

from phizer.base.formats import INPUT_EXTENSIONS
from phizer.base.keys import (
    crop_marker_key,
    crop_marker_prefix,
    dimensions_of_size_marker,
    parse_render_key,
    render_key_of_crop_marker,
    size_marker_key,
)
from phizer.base.models import CropBox
from phizer.base.urls import RenderURL

EXT = INPUT_EXTENSIONS


@pytest.mark.parametrize(
    "key",
    [
        "220x220/a.jpg",
        "220x220/photos/2024/a b.jpg.webp",
        "800x800/x/a.heic.jpg",
        "220x220/10x20/110x120/photos/a.png",
        "220x220/0x0/5x5/photos/a.jpg.avif",
    ],
)
def test_render_keys_parse_back_to_themselves(key: str) -> None:
    url = parse_render_key(key, EXT)
    assert url is not None
    assert url.key == key


@pytest.mark.parametrize(
    "key",
    [
        ".phizer/sizes/220x220.json",
        ".phizer/clock",
        ".phizer/crops/a.jpg/220x220/0x0/5x5",
        "220x220/.a.jpg.x1y2.tmp",  # a temp file
        "220x220/notes.txt",  # an extension originals never have
        "220x220/a.heic",  # a HEIC is only ever rendered as a variant
        "0220x220/a.jpg",  # not canonical
        "220x220/a.jpg.WEBP",
        "220x220//a.jpg",
        "check",
        "",
    ],
)
def test_anything_else_is_not_a_render_key(key: str) -> None:
    assert parse_render_key(key, EXT) is None


def test_extensions_narrow_what_is_a_render() -> None:
    assert parse_render_key("220x220/a.png", ("jpg",)) is None
    assert parse_render_key("220x220/a.jpg", ("jpg",)) is not None


@pytest.mark.parametrize("variant", [None, "webp", "jpg"])
def test_a_crop_marker_names_its_render_and_sits_under_its_original(variant: str | None) -> None:
    url = RenderURL(220, 110, "photos/a b/x.jpg", CropBox(10, 0, 410, 200), variant)
    marker = crop_marker_key(url)
    assert marker.startswith(crop_marker_prefix("photos/a b/x.jpg"))
    assert render_key_of_crop_marker(marker, EXT) == url.key


def test_the_crop_markers_of_one_original_are_not_under_anothers_prefix() -> None:
    """`a.jpg`'s prefix ends in a slash, so `a.jpg.old/…` or `a.jpg2` never share it."""
    mine = crop_marker_prefix("p/a.jpg")
    other = crop_marker_key(RenderURL(9, 9, "p/a.jpg2.jpg", CropBox(0, 0, 1, 1)))
    assert not other.startswith(mine)


def test_a_plain_render_has_no_crop_marker() -> None:
    with pytest.raises(ValueError, match="not a crop render"):
        crop_marker_key(RenderURL(220, 220, "a.jpg"))


@pytest.mark.parametrize(
    "marker",
    [
        ".phizer/crops/a.jpg/220x220/0x0",  # too short
        ".phizer/crops/a.jpg/220x220/5x5/0x0",  # an empty box
        ".phizer/crops/a.jpg/220x220/00x0/5x5",  # not canonical
        ".phizer/sizes/a.jpg/220x220/0x0/5x5",  # not under crops
        ".phizer/crops/a.txt/220x220/0x0/5x5",
    ],
)
def test_what_is_not_a_crop_marker_names_no_render(marker: str) -> None:
    assert render_key_of_crop_marker(marker, EXT) is None


def test_size_markers() -> None:
    assert dimensions_of_size_marker(size_marker_key("30x40")) == "30x40"
    assert dimensions_of_size_marker(".phizer/sizes/notes.json") is None
    assert dimensions_of_size_marker(".phizer/clock") is None


def test_a_crop_marker_of_a_nested_original_is_not_its_parents() -> None:
    nested = crop_marker_key(RenderURL(9, 9, "d/a.jpg/x.jpg", CropBox(0, 0, 1, 1)))
    assert nested.startswith(crop_marker_prefix("d/a.jpg"))
    assert render_key_of_crop_marker(nested, EXT, "d/a.jpg") is None
    assert render_key_of_crop_marker(nested, EXT, "d/a.jpg/x.jpg") == "9x9/0x0/1x1/d/a.jpg/x.jpg"
