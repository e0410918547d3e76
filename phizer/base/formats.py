"""The image formats phizer reads and writes: one table, from which every list of
extensions, content types and Pillow format names is derived."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # Pillow's name
    content_type: str
    extensions: tuple[str, ...]  # as in URLs, store keys and config; the first is canonical


FORMATS = (
    Format("JPEG", "image/jpeg", ("jpg", "jpeg")),
    Format("PNG", "image/png", ("png",)),
    Format("GIF", "image/gif", ("gif",)),
    Format("WEBP", "image/webp", ("webp",)),
    Format("AVIF", "image/avif", ("avif",)),
)

# What Pillow may open: these formats only (an MPO, a JPEG with more pictures appended,
# opens through the JPEG plugin and renders its first picture as a JPEG).
ACCEPTED_FORMATS = tuple(f.name for f in FORMATS)
FORMAT_BY_EXTENSION = {ext: f.name for f in FORMATS for ext in f.extensions}
CONTENT_TYPE_BY_FORMAT = {f.name: f.content_type for f in FORMATS}
# The extensions an original may have, unless [limits].extensions narrows them.
INPUT_EXTENSIONS = tuple(FORMAT_BY_EXTENSION)
# The format variants a URL may ask for (`a.jpg.webp`), by extension.
VARIANT_FORMATS = ("webp", "avif", "jpg", "png")


def output_format(original: str) -> str:
    """The format a render takes when its target names none: the original's own (an MPO's
    first picture is a JPEG)."""
    return "JPEG" if original == "MPO" else original
