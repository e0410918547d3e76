"""Which embedded profiles phizer treats as sRGB (and so does not run through LittleCMS), and
converting the others on several cores."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops

from phizer.engine.colour import acts_as_srgb, srgb_profile_bytes, to_working_mode


def test_lcms_own_srgb_profile_acts_as_srgb() -> None:
    assert acts_as_srgb(srgb_profile_bytes())


def test_photoshops_srgb_profile_acts_as_srgb(edgecases: Path) -> None:
    assert acts_as_srgb(bytes(Image.open(edgecases / "hopper.psd").info["icc_profile"]))


def test_a_wide_gamut_profile_does_not(edgecases: Path) -> None:
    p3 = Image.open(edgecases / "P3-sRGB-color-bars.jpg").info["icc_profile"]
    assert not acts_as_srgb(bytes(p3))


def test_an_unreadable_profile_does_not() -> None:
    assert not acts_as_srgb(b"not a profile")


def test_a_profile_applied_in_bands_gives_the_same_pixels(
    edgecases: Path, lcms_calls: list[tuple[int, int]]
) -> None:
    """A serve miss converts the decode on its idle cores: two bands, each through
    LittleCMS on its own, pasted together, exactly as one pass would make it."""
    bars = Image.open(edgecases / "P3-sRGB-color-bars.jpg")
    bars.load()
    whole = to_working_mode(bars)  # the profile's sRGB check runs (and is cached) here
    before = len(lcms_calls)
    banded = to_working_mode(bars, threads=2)
    assert lcms_calls[before:] == [(1000, 400), (1000, 400)]
    assert banded.mode == whole.mode
    assert ImageChops.difference(banded, whole).getbbox() is None
