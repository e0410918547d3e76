"""ThumbHash placeholders: phizer's encoder against the `thumbhash` package's, and what a
page's decoder gets back (the aspect ratio, the colours)."""

from __future__ import annotations

import base64
import random

import pytest
import thumbhash as reference
from PIL import Image

from phizer.engine.placeholder import MAX_SIDE, encoded, thumbhash


def pattern(width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), 90, 40))
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        image.paste(colour, (x, y, min(width, x + 9), min(height, y + 7)))
    return image


@pytest.mark.parametrize("seed", range(12))
def test_matches_the_reference_package_but_for_its_rounding(seed: int) -> None:
    """The package rounds halves to even, the reference (JavaScript) rounds them up: a
    coefficient may differ by one step, never more, and the header not at all."""
    rng = random.Random(seed)
    image = pattern(rng.randint(4, MAX_SIDE), rng.randint(4, MAX_SIDE), seed)
    pixels = list(image.convert("RGBA").tobytes())
    theirs = bytes(reference.rgba_to_thumb_hash(image.width, image.height, pixels))
    mine = thumbhash(image)
    assert len(mine) == len(theirs)
    assert mine[:5] == theirs[:5]
    for a, b in zip(mine[5:], theirs[5:], strict=True):
        assert abs((a & 15) - (b & 15)) <= 1
        assert abs((a >> 4) - (b >> 4)) <= 1


@pytest.mark.parametrize(("size", "ratio"), [((32, 16), 2.0), ((16, 32), 0.5), ((24, 24), 1.0)])
def test_decodes_to_the_pictures_shape(size: tuple[int, int], ratio: float) -> None:
    hashed = list(base64.b64decode(encoded(pattern(*size, seed=3))))
    assert reference.thumb_hash_to_approximate_aspect_ratio(hashed) == pytest.approx(ratio, 0.25)


def test_the_average_colour_survives() -> None:
    hashed = list(thumbhash(Image.new("RGB", (20, 12), (200, 40, 30))))
    r, g, b, a = reference.thumb_hash_to_average_rgba(hashed)
    assert (round(r * 255), round(g * 255), round(b * 255), a) == pytest.approx(
        (200, 40, 30, 1.0), abs=6
    )


def test_transparency_is_kept() -> None:
    """The reference package fails on transparent pictures; the format keeps their alpha."""
    image = Image.new("RGBA", (20, 30), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (5, 5, 15, 25))
    hashed = thumbhash(image)
    assert hashed[2] & 0x80  # the has-alpha bit
    assert reference.thumb_hash_to_approximate_aspect_ratio(list(hashed)) < 1


def test_too_big_a_picture_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        thumbhash(Image.new("RGB", (MAX_SIDE + 1, 8)))
