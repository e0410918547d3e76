"""Which embedded profiles phizer treats as sRGB, and so does not run through LittleCMS."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from phizer.colour import acts_as_srgb, srgb_profile_bytes


def test_lcms_own_srgb_profile_acts_as_srgb() -> None:
    assert acts_as_srgb(srgb_profile_bytes())


def test_photoshops_srgb_profile_acts_as_srgb(edgecases: Path) -> None:
    assert acts_as_srgb(bytes(Image.open(edgecases / "hopper.psd").info["icc_profile"]))


def test_a_wide_gamut_profile_does_not(edgecases: Path) -> None:
    p3 = Image.open(edgecases / "P3-sRGB-color-bars.jpg").info["icc_profile"]
    assert not acts_as_srgb(bytes(p3))


def test_an_unreadable_profile_does_not() -> None:
    assert not acts_as_srgb(b"not a profile")
