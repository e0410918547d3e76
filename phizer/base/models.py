"""Plain values that cross module (and process) boundaries: originals, crop boxes, targets,
renders. Frozen dataclasses only, so they pickle cheaply and nobody mutates them in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["max", "fill", "portrait", "landscape"]
Gravity = Literal["auto", "centre"]
CROPPING_MODES = ("fill", "portrait", "landscape")


@dataclass(frozen=True)
class SizeSpec:
    """One configured size, with its output settings resolved against `[output]`."""

    name: str
    width: int
    height: int
    mode: Mode
    upscale: bool = False
    quality: int = 85
    progressive: bool = True
    gravity: Gravity = "auto"  # "centre": crop the middle even when a focal point is known

    @property
    def dimensions(self) -> str:
        """The `WxH` that names this size in URLs and store keys."""
        return f"{self.width}x{self.height}"

    @property
    def follows_focus(self) -> bool:
        """Whether a focal point moves this size's crop window (a cropping mode, not
        opted out)."""
        return self.mode in CROPPING_MODES and self.gravity == "auto"

    def fingerprint(
        self, keep_metadata: bool = False, canvas: str = "#ffffff", focus: tuple[str, ...] = ()
    ) -> str:
        """Everything that changes this size's pixels or bytes; a render made under another
        fingerprint is stale (warm re-renders it). `focus`: the focal point's sources, which
        move a cropping size's window (nothing is added without them, so turning focus on
        re-renders the cropping sizes only)."""
        base = (
            f"v1;{self.width}x{self.height};{self.mode};up={int(self.upscale)};"
            f"q={self.quality};prog={int(self.progressive)};meta={int(keep_metadata)};"
            f"canvas={canvas.lower()}"
        )
        if focus and self.follows_focus:
            base += f";focus={','.join(focus)}"
        return base


@dataclass(frozen=True)
class CropBox:
    """A box in pixels of the original as displayed (after EXIF orientation); x2/y2 exclusive."""

    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class RenderTarget:
    """One render to produce from an original: a size, an optional crop box, an optional
    output format (None = follow the original's content), and the store key it is saved
    under."""

    size: SizeSpec
    key: str
    crop: CropBox | None = None
    format: str | None = None  # Pillow format name ("WEBP"), or None to follow the original


@dataclass(frozen=True)
class Rendered:
    """An encoded render, ready to store and to serve."""

    key: str
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Focus:
    """Where a photo's subject is: a box in fractions (0..1) of the displayed picture (a
    point is a box of no size), and what found it: "metadata", "faces" or "saliency"."""

    x1: float
    y1: float
    x2: float
    y2: float
    source: str

    def __post_init__(self) -> None:
        if not (0 <= self.x1 <= self.x2 <= 1 and 0 <= self.y1 <= self.y2 <= 1):
            raise ValueError(f"focus box {self} is not inside the picture")


@dataclass(frozen=True)
class KnownFocus:
    """A focal point already settled for this version of an original (its record, the
    master's metadata): `focus` None means settled that there is none."""

    focus: Focus | None


@dataclass(frozen=True)
class Picture:
    """What a render job learns of the original itself: its size as displayed (after the
    EXIF orientation), a ThumbHash placeholder of the whole picture (base64), and its
    focal point (None: none found, or no source configured); `focus_computed` is False
    when the focal point was given (the record, the master's metadata) rather than found."""

    width: int
    height: int
    placeholder: str
    focus: Focus | None = None
    focus_computed: bool = False


@dataclass(frozen=True)
class OriginalInfo:
    """What a listing or a HEAD tells about an original, without its bytes."""

    path: str
    size: int | None = None
    etag: str | None = None
    last_modified: float | None = None  # seconds since the epoch


@dataclass(frozen=True)
class Original:
    """An original's bytes and the validators that say which version they are."""

    path: str
    data: bytes
    etag: str | None = None
    last_modified: float | None = None  # seconds since the epoch
    focus_hint: str | None = None  # the master's `focus` metadata, as the application set it

    @property
    def info(self) -> OriginalInfo:
        return OriginalInfo(self.path, len(self.data), self.etag, self.last_modified)


@dataclass(frozen=True)
class StoredInfo:
    """A render as the render store sees it (listing, HEAD)."""

    key: str
    size: int
    last_modified: float  # seconds since the epoch
    etag: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class KeyFailure:
    """A store key an operation could not carry out, and why (a store's message)."""

    key: str
    message: str


@dataclass(frozen=True)
class RenderOutcome:
    """One render as the pipeline made and stored it: what warm tallies, and what serve
    answers a miss with. `data` and `info` (the store's answer to the write, so a miss
    carries a hit's validators) travel back from a worker only for the renders a client
    waits for; `stored` is False when the write failed (the image is still good to serve)."""

    key: str
    content_type: str
    size: int
    width: int
    height: int
    stored: bool
    data: bytes | None
    info: StoredInfo | None = None
