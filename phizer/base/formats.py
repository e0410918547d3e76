"""The image formats phizer reads and writes: one table, from which every list of
extensions, content types and Pillow format names is derived."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # Pillow's name
    content_type: str
    extensions: tuple[str, ...]  # as in URLs, store keys and config; the first is canonical
    output: bool = True  # phizer writes renders in it (browsers show it)


FORMATS = (
    Format("JPEG", "image/jpeg", ("jpg", "jpeg")),
    Format("PNG", "image/png", ("png",)),
    Format("GIF", "image/gif", ("gif",)),
    Format("WEBP", "image/webp", ("webp",)),
    Format("AVIF", "image/avif", ("avif",)),
    # Phones' photos (pillow-heif). Browsers cannot show it, so a HEIC original is rendered
    # as a variant only: `a.heic.jpg` (or .webp, .avif, .png).
    Format("HEIF", "image/heic", ("heic", "heif"), output=False),
)

# What Pillow may open: these formats only (an MPO, a JPEG with more pictures appended,
# opens through the JPEG plugin and renders its first picture as a JPEG).
ACCEPTED_FORMATS = tuple(f.name for f in FORMATS)
# The formats renders are written in, by the extension a URL or store key ends with.
FORMAT_BY_EXTENSION = {ext: f.name for f in FORMATS if f.output for ext in f.extensions}
CONTENT_TYPE_BY_FORMAT = {f.name: f.content_type for f in FORMATS if f.output}
# The extensions an original may have, unless [limits].extensions narrows them.
INPUT_EXTENSIONS = tuple(ext for f in FORMATS for ext in f.extensions)
# The variant a render of an original in a format phizer does not write gets by default.
DEFAULT_VARIANT = "jpg"
# The format variants a URL may ask for (`a.jpg.webp`), by extension.
VARIANT_FORMATS = ("webp", "avif", "jpg", "png")


def output_format(original: str) -> str:
    """The format a render takes when its target names none: the original's own (an MPO's
    first picture is a JPEG, and so is a HEIC's render)."""
    return original if original in CONTENT_TYPE_BY_FORMAT else "JPEG"


def writes(extension: str) -> bool:
    """Whether a render can be in the format of a path with this (lower-case) extension."""
    return extension in FORMAT_BY_EXTENSION
