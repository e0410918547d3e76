"""Where a photo's subject is, found once per photo and used by every cropping size.

Sources, in order of trust (`[focus] sources` picks and orders them):
- "metadata": what the application or the photographer said. The master's `focus` metadata
  (`x,y` or `x1,y1,x2,y2`, fractions of the displayed picture: `parse_hint`), else, in the
  file, the XMP face and person regions of the Metadata Working Group (`mwg-rs:Regions`, as
  Lightroom, digiKam and Picasa write them) or the EXIF SubjectArea (`from_file`).
- "faces": OpenCV's frontal-face Haar cascade (`alt2`, the most accurate of the ones in the
  `opencv-python-headless` wheel, the `phizer[faces]` extra) on a small copy; the box that
  holds every face found.
- "saliency": a score of edges, skin tones and saturation on a small copy, the approach
  smartcrop.js made common; the box around where the score is high (`saliency`).

Each works on pictures phizer already has (the header, or a copy resampled from the decode),
never on a decode of its own. Pure: the caller passes the images in.
"""

from __future__ import annotations

import logging
import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from PIL import Image

from phizer.base.models import Focus

logger = logging.getLogger(__name__)

# The analysis copy's longer side: a face a twentieth of the photo across is 19 px there,
# about the least the cascade finds (its cost grows as the square of this side:
# BENCHMARKS.md); saliency works on a third of it.
ANALYSIS_SIDE = 384
SALIENCY_SIDE = 128
MAX_XMP_BYTES = 1 << 18  # a JPEG segment holds 64 KiB; extended XMP is not read
MIN_SKIN_SHARE = 0.001  # of the small copy's pixels: below it, no face is looked for
SKIN_CLEAR = 0.8  # how skin-toned (0..1) a pixel must be to mark where faces may be

_MWG_RS = "{http://www.metadataworkinggroup.com/schemas/regions/}"
_ST_AREA = "{http://ns.adobe.com/xmp/sType/Area#}"
_ST_DIM = "{http://ns.adobe.com/xap/1.0/sType/Dimensions#}"
_SUBJECT_AREA = 0x9214
_EXIF_IFD = 0x8769


def parse_hint(text: str) -> Focus | None:
    """The master's `focus` metadata: `x,y` (a point) or `x1,y1,x2,y2` (a box), fractions of
    the displayed picture; None (and a warning) for anything else."""
    try:
        values = [float(v) for v in text.split(",")]
        if len(values) == 2:
            return Focus(values[0], values[1], values[0], values[1], "metadata")
        if len(values) == 4:
            return Focus(values[0], values[1], values[2], values[3], "metadata")
    except ValueError:
        pass
    logger.warning("focus metadata %r is not x,y or x1,y1,x2,y2 in 0..1; ignored", text[:80])
    return None


def from_file(im: Image.Image, orientation: int) -> Focus | None:
    """The XMP regions, else the EXIF SubjectArea, of an opened (not decoded) image, as a
    box of the displayed picture (`orientation` turns what is given in stored pixels). What
    the file says is the uploader's to write: anything that does not make sense (broken
    XML, an unknown encoding, numbers that are not finite) is ignored with a warning, never
    a reason for the render to fail."""
    stored = im.size
    try:
        return _xmp_regions(im, stored, orientation) or _subject_area(im, stored, orientation)
    except (ValueError, LookupError, OverflowError, TypeError) as exc:
        logger.warning("focus metadata in the file is unreadable (%s); ignored", exc)
        return None


def faces(image: Image.Image) -> Focus | None:
    """The box holding every frontal face OpenCV finds in `image` (the analysis copy).

    The cascade is the dearest step of finding a focal point, so it only looks where there
    is skin: the box around the pixels of a small copy that are clearly skin-toned, grown by
    a tenth of the picture each way (a face's box takes in hair and shadow). A picture with
    no such pixels (a sky, a street, a field) is not searched, and most others only in part.
    """
    small = image.convert("RGB")
    small.thumbnail((SALIENCY_SIDE, SALIENCY_SIDE))
    skin = _skin(np.asarray(small, dtype=np.float32) / 255.0) > SKIN_CLEAR
    if skin.mean() < MIN_SKIN_SHARE:
        return None
    gray = np.asarray(image.convert("L"))
    h, w = gray.shape
    ys, xs = np.nonzero(skin)
    sy, sx = h / skin.shape[0], w / skin.shape[1]
    grow = max(h, w) // 10
    left, right = max(0, int(xs.min() * sx) - grow), min(w, int((xs.max() + 1) * sx) + grow)
    top, bottom = max(0, int(ys.min() * sy) - grow), min(h, int((ys.max() + 1) * sy) + grow)
    least = max(16, max(h, w) // 24)
    if right - left < least or bottom - top < least:
        return None
    found = _cascade().detectMultiScale(
        np.ascontiguousarray(gray[top:bottom, left:right]),
        scaleFactor=1.1,
        minNeighbors=4,
        minSize=(least, least),
    )
    if len(found) == 0:
        return None
    x1 = left + min(int(x) for x, _, _, _ in found)
    y1 = top + min(int(y) for _, y, _, _ in found)
    x2 = left + max(int(x + fw) for x, _, fw, _ in found)
    y2 = top + max(int(y + fh) for _, y, _, fh in found)
    return Focus(x1 / w, y1 / h, x2 / w, y2 / h, "faces")


def saliency(image: Image.Image) -> Focus | None:
    """The box around the picture's most salient part, from a score of detail (edges), skin
    tones and saturation, each as smartcrop.js weighs them, blurred, and kept where it is
    at least half its peak. None for a picture with nothing that stands out."""
    small = image.convert("RGB")
    small.thumbnail((SALIENCY_SIDE, SALIENCY_SIDE))
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    h, w = rgb.shape[:2]
    if h < 3 or w < 3:
        return None
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    light = 0.2126 * r + 0.7152 * g + 0.0722 * b
    detail = np.zeros_like(light)
    detail[1:-1, 1:-1] = np.abs(
        4 * light[1:-1, 1:-1]
        - light[:-2, 1:-1]
        - light[2:, 1:-1]
        - light[1:-1, :-2]
        - light[1:-1, 2:]
    )
    skin = _skin(rgb)
    top, bottom = rgb.max(axis=2), rgb.min(axis=2)
    lightness = (top + bottom) / 2
    span = top - bottom
    saturation = np.where(
        lightness > 0.5,
        span / np.maximum(2 - top - bottom, 1e-6),
        span / np.maximum(top + bottom, 1e-6),
    )
    saturated = np.clip((saturation - 0.4) / 0.6, 0, 1) * ((lightness > 0.05) & (lightness < 0.9))
    score = 0.2 * np.clip(detail * 4, 0, 1) + 1.8 * skin + 0.3 * saturated
    score = _blur(score, max(1, min(h, w) // 12))
    peak = float(score.max())
    if peak < 0.02:  # a flat picture: nothing to point at
        return None
    ys, xs = np.nonzero(score >= peak / 2)
    return Focus(
        float(xs.min()) / w,
        float(ys.min()) / h,
        float(xs.max() + 1) / w,
        float(ys.max() + 1) / h,
        "saliency",
    )


def _skin(rgb: np.ndarray) -> np.ndarray:
    """How skin-toned each pixel is, 0..1: smartcrop.js's colour distance and thresholds."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    light = 0.2126 * r + 0.7152 * g + 0.0722 * b
    norm = np.sqrt(r * r + g * g + b * b) + 1e-6
    skin_colour = np.array([0.78, 0.57, 0.44], dtype=np.float32)
    skin_colour /= np.linalg.norm(skin_colour)
    distance = np.sqrt(((rgb / norm[..., None] - skin_colour) ** 2).sum(axis=2))
    return np.clip((1 - distance - 0.8) / 0.2, 0, 1) * ((light > 0.2) & (light < 1.0))  # type: ignore[no-any-return]


def find(
    sources: Iterable[str],
    *,
    file_focus: Focus | None,
    image: Callable[[], Image.Image],
) -> Focus | None:
    """The first focal point the `sources` give, in their order: "metadata" is what
    `from_file` read; "faces" and "saliency" look at `image()`, the analysis copy, made only
    if one of them is asked."""
    copy: Image.Image | None = None
    for source in sources:
        if source == "metadata":
            if file_focus is not None:
                return file_focus
            continue
        copy = copy or image()
        if source == "faces" and (found := faces(copy)) is not None:
            return found
        if source == "saliency" and (found := saliency(copy)) is not None:
            return found
    return None


def turned(
    box: tuple[float, float, float, float], orientation: int
) -> tuple[float, float, float, float]:
    """A box in fractions of the stored picture, in fractions of the displayed one."""
    corners = [_turn_point(x, y, orientation) for x, y in ((box[0], box[1]), (box[2], box[3]))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _turn_point(u: float, v: float, orientation: int) -> tuple[float, float]:
    return {
        2: (1 - u, v),
        3: (1 - u, 1 - v),
        4: (u, 1 - v),
        5: (v, u),
        6: (1 - v, u),
        7: (1 - v, 1 - u),
        8: (v, 1 - u),
    }.get(orientation, (u, v))


def _xmp_regions(im: Image.Image, stored: tuple[int, int], orientation: int) -> Focus | None:
    raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    if not data or not isinstance(data, bytes) or len(data) > MAX_XMP_BYTES:
        return None
    try:
        # expat refuses entity-expansion bombs (since 2.4.1, which every supported Python
        # bundles); the size cap bounds the rest.
        root = ET.fromstring(data)
    except (ET.ParseError, LookupError, ValueError):
        return None
    boxes = []
    for area in root.iter(f"{_MWG_RS}Area"):
        x, y, w, h = (_field(area, _ST_AREA, name) for name in ("x", "y", "w", "h"))
        if x is None or y is None:
            continue
        w, h = w or 0.0, h or 0.0
        box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        if all(0 <= v <= 1 for v in box):
            boxes.append(box)
    if not boxes:
        return None
    union = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    if _applied_to_stored(root, stored, orientation):
        union = turned(union, orientation)
    return Focus(*union, source="metadata")


def _applied_to_stored(root: ET.Element, stored: tuple[int, int], orientation: int) -> bool:
    """Whether the regions are in stored rather than displayed coordinates: only when the
    file says so, by `AppliedToDimensions` equal to the stored size of a picture its
    orientation turns a quarter (writers mostly give displayed coordinates)."""
    if orientation < 5:
        return False
    for dims in root.iter(f"{_MWG_RS}AppliedToDimensions"):
        w, h = _field(dims, _ST_DIM, "w"), _field(dims, _ST_DIM, "h")
        if w is not None and h is not None:
            return (round(w), round(h)) == stored
    return False


def _field(element: ET.Element, namespace: str, name: str) -> float | None:
    """An RDF property, written as an attribute or as a child element."""
    text = element.get(namespace + name)
    if text is None:
        child = element.find(namespace + name)
        text = child.text if child is not None else None
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _subject_area(im: Image.Image, stored: tuple[int, int], orientation: int) -> Focus | None:
    """EXIF SubjectArea: a point (x, y), a circle (x, y, d) or a rectangle (x, y, w, h), its
    centre first, in stored pixels."""
    try:
        values: Any = im.getexif().get_ifd(_EXIF_IFD).get(_SUBJECT_AREA)
        numbers = [float(v) for v in values] if values is not None else []
    except (TypeError, ValueError, SyntaxError, OSError):
        return None
    if not all(math.isfinite(n) for n in numbers):
        return None
    width, height = stored
    if len(numbers) == 2:
        half_w = half_h = 0.0
    elif len(numbers) == 3:
        half_w = half_h = numbers[2] / 2
    elif len(numbers) == 4:
        half_w, half_h = numbers[2] / 2, numbers[3] / 2
    else:
        return None
    x, y = numbers[0], numbers[1]
    box = (
        max(0.0, (x - half_w) / width),
        max(0.0, (y - half_h) / height),
        min(1.0, (x + half_w) / width),
        min(1.0, (y + half_h) / height),
    )
    if not (box[0] <= box[2] and box[1] <= box[3]):
        return None
    return Focus(*turned(box, orientation), source="metadata")


def _blur(values: np.ndarray, radius: int) -> np.ndarray:
    """A box blur by cumulative sums (separable, edges clamped)."""
    out = values
    for axis in (0, 1):
        padded = np.pad(
            out, [(radius + 1, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge"
        )
        summed = np.cumsum(padded, axis=axis)
        n = 2 * radius + 1
        if axis == 0:
            out = (summed[n:] - summed[:-n]) / n
        else:
            out = (summed[:, n:] - summed[:, :-n]) / n
    return out


_loaded = threading.local()


def _cascade() -> Any:
    """OpenCV's frontal-face cascade, loaded once a thread (OpenCV does not promise one may
    be used by two threads at once: serve with `workers = 0` renders in request threads),
    and imported only when asked."""
    cascade = getattr(_loaded, "cascade", None)
    if cascade is None:
        cascade = _loaded.cascade = _load_cascade()
    return cascade


def _load_cascade() -> Any:
    import cv2  # the phizer[faces] extra; the config refuses "faces" without it
    from cv2 import data  # the cascades ship in the wheel

    # One thread: a render worker has one core; OpenCV's pool would take the others'.
    cv2.setNumThreads(1)
    return cv2.CascadeClassifier(data.haarcascades + "haarcascade_frontalface_alt2.xml")
