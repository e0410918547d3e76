"""The URL grammar: request paths <-> `RenderURL`, canonical store keys, path safety, signatures.

    /{W}x{H}/{path}                         resize
    /{W}x{H}/{x1}x{y1}/{x2}x{y2}/{path}     crop the box (x1,y1)-(x2,y2), then resize
    /{sig}/{W}x{H}/...                      signed: sig = signature(rest, key)
    /info/{path}  /{sig}/info/{path}        the original's manifest entry (`parse_info_url`)

The grammar is canonical: every accepted URL is `format_url` of what it parses to, so one
render has exactly one URL and one store key (cache hit rate is the product). Input is the
already percent-decoded path: Werkzeug's `request.path`, whose undecodable UTF-8 bytes arrive
as U+FFFD. Nothing here decodes again.

Status codes (the server maps the errors):
- 404 `NotFound`: not a render URL at all — not starting with "/", or a first segment that is
  not ASCII `digits x digits` ("/favicon.ico", "/220X220/a.jpg", "/+1x2/a.jpg"). That includes
  a signature-shaped first segment when signatures are not checked (no key, or sign = "none"):
  it is not stripped, because an unverified segment would give every render a second URL.
- 400 `BadRequest`: render-shaped but not canonical or not safe — leading zeros, a zero or a
  more-than-5-digit W or H (never converted: "1" * 10_000 is refused by its shape), a crop
  corner that is not canonical, an empty crop box (x2 <= x1 or y2 <= y1; whether the box is
  inside the image is the renderer's check), and every path rule below. Unsafe text (length,
  characters, escapes) is refused before routing, so "/\\x00" is a 400, not a 404.
- 403 `BadSignature`: with a key, a signature missing where `sign` requires one ("all": every
  URL; "crop": crop URLs), or present and wrong. A signed plain URL is accepted in "crop" mode.

Path rules (the original's path; `check_original_path` applies them to listed/--from-file paths):
- relative: no empty segment (so no leading "/", "//" or trailing "/"), no segment starting
  with "." (".", "..", hidden files and the stores' temporary files), no ":" in the first
  segment (it would read as a URL scheme, `evil:x.jpg`, or a drive letter; harmless elsewhere).
- characters: no C0/C1 controls or DEL (NUL included), no backslash, no "?" or "#" (they would
  cut a URL built naively from the path), no surrogates and no U+FFFD (undecodable bytes), no
  line/paragraph separators or bidi controls (log and file-name spoofing), and no "%" followed
  by two hex digits (a double-encoded "%2e%2e" must not decode into ".." further down). A
  lone "%" ("100%.jpg") is harmless and allowed, as are spaces, "@" and a leading "-".
  Overlong UTF-8 (C0 AE = ".") reaches us as U+FFFD (refused), or, from a server that passes
  latin-1 text, as ordinary letters ("À®") that never equal "." or "/": harmless either way.
- length: the URL <= 1024 bytes of UTF-8; the path <= 960 and each segment <= 250, so that
  every valid original has URLs (signature, size, crop, ".avif") and variant file names (255)
  within the limits of S3 keys and common filesystems.
- the last extension is an allowed one (case-insensitive); the path must not read as a crop
  URL (its first two segments `digits x digits`) or as a format variant (see below).
The path is never joined to a base by urljoin: a slave URL is base + quoted relative path,
so "@evil/x.jpg" becomes base + "%40evil/x.jpg" and can never change the host.

Format variants: a last extension in VARIANT_FORMATS, lowercase, after an image extension
asks for that original in that format: "a.jpg.webp" is a.jpg as WebP; "a.b.jpg" is a plain
original. A variant in the original's own format ("a.webp.webp", "a.jpeg.jpg") is accepted:
a page can append ".webp" to every image URL without knowing each original's format.
Over the usual size because the grammar is one piece: its rules are written once, here,
and every face (serve, warm's keys, `phizer sign`) parses or formats through them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from phizer.base.errors import BadRequest, BadSignature, ConfigError, NotFound
from phizer.base.formats import (
    CONTENT_TYPE_BY_FORMAT,
    DEFAULT_VARIANT,
    FORMAT_BY_EXTENSION,
    INPUT_EXTENSIONS,
    VARIANT_FORMATS,
    writes,
)
from phizer.base.models import CropBox

SIGN_MODES = ("none", "crop", "all")
MAX_URL_BYTES = 1024
MAX_PATH_BYTES = 960
MAX_SEGMENT_BYTES = 250
MAX_NUMBER = 99_999  # five digits
SIGNATURE_LENGTH = 16

_DIMS_SHAPE = re.compile(r"[0-9]+x[0-9]+")  # ASCII only: \d would match other scripts' digits
_SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})")
_CORNER = re.compile(r"(0|[1-9][0-9]{0,4})x(0|[1-9][0-9]{0,4})")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{16}")
_FORBIDDEN = re.compile(
    r"[\x00-\x1f\x7f-\x9f\\?#\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffd\ufffe\uffff"
    r"\ud800-\udfff]"
)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class RenderURL:
    """One render as a URL names it. Construction validates everything that does not depend on
    the configuration, so a `RenderURL` that exists has a key that parses back to it."""

    width: int
    height: int
    path: str  # the original's path, relative, without the variant extension
    crop: CropBox | None = None
    variant: str | None = None  # "webp", "avif", "jpg" or "png": another output format

    def __post_init__(self) -> None:
        if not (_is_number(self.width, 1) and _is_number(self.height, 1)):
            raise BadRequest(f"size {self.width!r}x{self.height!r} must be 1 to {MAX_NUMBER}")
        if self.crop is not None:
            _check_crop(self.crop)
        if self.variant is not None and self.variant not in VARIANT_FORMATS:
            raise BadRequest(f"format variant {self.variant!r} is not one of {VARIANT_FORMATS}")
        _check_path(self.path, INPUT_EXTENSIONS)

    @property
    def key(self) -> str:
        """The canonical store key: the URL path without its leading slash or signature."""
        parts = [f"{self.width}x{self.height}"]
        if self.crop is not None:
            c = self.crop
            parts += [f"{c.x1}x{c.y1}", f"{c.x2}x{c.y2}"]
        suffix = f".{self.variant}" if self.variant else ""
        return "/".join([*parts, self.path + suffix])


def parse_url(
    url_path: str, *, extensions: Sequence[str], key: str = "", sign: str = "crop"
) -> RenderURL:
    """Parse a decoded request path; `extensions` are the originals' allowed extensions and
    `key`/`sign` the `[security]` settings. Raises NotFound, BadRequest or BadSignature."""
    rest, signed = _unsigned(url_path, key, sign, "a render URL")
    url = _parse_unsigned(rest)
    if key and not signed and (sign == "all" or (sign == "crop" and url.crop is not None)):
        raise BadSignature("this URL needs a signature")
    _check_extension(url.path, extensions)
    if url.variant is None and not writes(extension_of(url.path)):
        shown = RenderURL(url.width, url.height, url.path, url.crop, DEFAULT_VARIANT)
        raise NotFound(
            f"a .{extension_of(url.path)} original is rendered in a format browsers show: "
            f"ask for {format_url(shown)}"
        )
    return url


INFO_SEGMENT = "info"


def is_info_url(url_path: str) -> bool:
    """Whether `url_path` asks for an original's entry (`/info/…`, signed or not): its
    first segment, or its second after a signature-shaped one, is `info`."""
    segments = url_path.split("/", 3)
    if len(segments) >= 3 and segments[1] == INFO_SEGMENT:
        return True
    return (
        len(segments) >= 4
        and bool(_SIGNATURE.fullmatch(segments[1]))
        and segments[2] == INFO_SEGMENT
    )


def parse_info_url(
    url_path: str, *, extensions: Sequence[str], key: str = "", sign: str = "crop"
) -> str:
    """The original's path in `/info/{path}`, under the rules of a render URL: the same path
    checks, and a signature (over `info/{path}`) wherever `sign = "all"` asks for one;
    with `sign = "crop"` an entry needs none (it is not a crop), but a signed form is
    accepted. Raises NotFound, BadRequest or BadSignature."""
    rest, signed = _unsigned(url_path, key, sign, "an info URL")
    head, _, path = rest.partition("/")
    if head != INFO_SEGMENT:
        raise NotFound(f"not an info URL: {_show(url_path)}")
    if key and not signed and sign == "all":
        raise BadSignature("this URL needs a signature")
    _check_path(path, extensions)
    return path


def format_url(url: RenderURL) -> str:
    """The request path for `url` (unsigned); `sign_url` adds a signature."""
    return "/" + url.key


def render_key(
    width: int,
    height: int,
    path: str,
    *,
    crop: CropBox | None = None,
    variant: str | None = None,
) -> str:
    """The store key of one render; BadRequest when the pieces cannot form a valid URL."""
    return RenderURL(width, height, path, crop, variant).key


def check_original_path(path: str, extensions: Sequence[str]) -> str:
    """`path` if it is a safe, addressable original's path (see the module docstring)."""
    _check_path(path, extensions)
    return path


def format_of_key(key: str) -> str | None:
    """The output format a URL path or store key names by its last extension, or None.

    The dir store and nginx's `try_files` label a stored render by its key's extension, so
    the miss that wrote it must say the same. The render under a key is therefore always in
    the format its extension names, even when the original behind `photo.jpg` turns out to
    be a PNG or a GIF (a mislabelled upload): it is rendered as a JPEG, its alpha flattened
    and its first frame taken, as a `.jpg` variant of it would be."""
    return FORMAT_BY_EXTENSION.get(extension_of(key))


def content_type_of_key(key: str) -> str | None:
    """The Content-Type a render's key implies, by the format its extension names."""
    fmt = format_of_key(key)
    return CONTENT_TYPE_BY_FORMAT.get(fmt) if fmt else None


def own_variant(path: str) -> str | None:
    """The variant a render of `path` takes when it asks for none: None (the original's own
    format), or `jpg` for an original in a format renders are not written in (a HEIC)."""
    return None if writes(extension_of(path)) else DEFAULT_VARIANT


def extension_of(path: str) -> str:
    """The last segment's extension, lower case, without its dot ("" when it has none)."""
    _, dot, ext = path.rpartition("/")[2].rpartition(".")
    return ext.lower() if dot else ""


def signature(rest: str, key: str) -> str:
    """The signature segment for `rest` (the unsigned path without its leading slash)."""
    try:
        # surrogateescape gives back the raw bytes of a key read from the environment.
        secret = key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ConfigError("[security].key is not valid text") from None
    digest = hmac.new(secret, rest.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:SIGNATURE_LENGTH]


def sign_url(url_path: str, key: str) -> str:
    """`/{sig}/{rest}` for `/{rest}`, after checking `/{rest}` is a valid unsigned render or
    info URL (a signed URL that serve must refuse anyway is a mistake worth reporting early)."""
    if not key:
        raise ConfigError("[security].key is empty; nothing to sign with")
    if is_info_url(url_path):
        parse_info_url(url_path, extensions=INPUT_EXTENSIONS, sign="none")
    else:
        parse_url(url_path, extensions=INPUT_EXTENSIONS, sign="none")
    rest = url_path[1:]
    return f"/{signature(rest, key)}/{rest}"


# --- parsing ---------------------------------------------------------------------------


def _unsigned(url_path: str, key: str, sign: str, what: str) -> tuple[str, bool]:
    """A request path's text checked, without its leading slash and its signature segment
    (checked), and whether it had one. A signature-shaped first segment is one only when
    signatures are checked: unverified, it would give every URL a second form."""
    if sign not in SIGN_MODES:
        raise ConfigError(f"[security].sign has value {sign!r}; must be one of {SIGN_MODES}")
    _check_text(url_path, MAX_URL_BYTES, "URL")
    if not url_path.startswith("/"):
        raise NotFound(f"not {what}: {_show(url_path)}")
    rest = url_path[1:]
    if key and sign != "none":
        first, _, unsigned = rest.partition("/")
        if _SIGNATURE.fullmatch(first):
            if not hmac.compare_digest(first, signature(unsigned, key)):
                raise BadSignature("bad signature")
            return unsigned, True
    return rest, False


def _parse_unsigned(rest: str) -> RenderURL:
    segments = rest.split("/")
    if not _DIMS_SHAPE.fullmatch(segments[0]):
        raise NotFound(f"not a render URL: {_show('/' + rest)}")
    width, height = _numbers(segments[0], _SIZE, "size")
    crop = None
    if (
        len(segments) >= 4
        and _DIMS_SHAPE.fullmatch(segments[1])
        and _DIMS_SHAPE.fullmatch(segments[2])
    ):
        x1, y1 = _numbers(segments[1], _CORNER, "crop corner")
        x2, y2 = _numbers(segments[2], _CORNER, "crop corner")
        crop = CropBox(x1, y1, x2, y2)
        segments = segments[2:]
    path = "/".join(segments[1:])
    split = _variant_split(path)
    if split is None:
        return RenderURL(width, height, path, crop)
    # An uppercase variant ("a.jpg.WEBP") is not canonical: RenderURL refuses it.
    return RenderURL(width, height, split[0], crop, split[1])


def _numbers(segment: str, pattern: re.Pattern[str], what: str) -> tuple[int, int]:
    """Two canonical numbers; the shape check bounds their length before int() sees them."""
    match = pattern.fullmatch(segment)
    if match is None:
        raise BadRequest(
            f"{what} {_show(segment)} is not canonical: decimal digits without leading zeros, "
            f"at most {MAX_NUMBER}" + (", at least 1" if pattern is _SIZE else "")
        )
    return int(match[1]), int(match[2])


def _variant_split(path: str) -> tuple[str, str] | None:
    """(original path, variant extension as written) when `path` reads as a format variant."""
    stem, dot, ext = path.rpartition(".")
    if not dot or ext.lower() not in VARIANT_FORMATS:
        return None
    name = stem.rpartition("/")[2]
    _, dot, inner = name.rpartition(".")
    if not dot or inner.lower() not in INPUT_EXTENSIONS:
        return None
    return stem, ext


# --- validation ------------------------------------------------------------------------


def _is_number(value: object, low: int) -> bool:
    return type(value) is int and low <= value <= MAX_NUMBER


def _check_crop(crop: CropBox) -> None:
    corners = (crop.x1, crop.y1, crop.x2, crop.y2)
    if not all(_is_number(v, 0) for v in corners):
        raise BadRequest(f"crop box {corners!r}: coordinates must be 0 to {MAX_NUMBER}")
    if crop.x2 <= crop.x1 or crop.y2 <= crop.y1:
        raise BadRequest(f"crop box {corners!r} is empty: needs x2 > x1 and y2 > y1")


def _check_text(text: str, limit: int, what: str) -> None:
    """Length, characters and escapes, in an order that never encodes or scans huge input."""
    if len(text) > limit:
        raise BadRequest(f"{what} is longer than {limit} bytes")
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        raise BadRequest(f"{what} contains {bad.group()!r}, which is never part of a path")
    escape = _ESCAPE.search(text)
    if escape is not None:
        raise BadRequest(f"{what} contains the percent-escape {escape.group()!r}")
    if len(text.encode("utf-8")) > limit:
        raise BadRequest(f"{what} is longer than {limit} bytes")


def _check_path(path: str, extensions: Sequence[str]) -> None:
    if not isinstance(path, str) or not path:
        raise BadRequest("the original's path is missing")
    _check_text(path, MAX_PATH_BYTES, "path")
    segments = path.split("/")
    for segment in segments:
        if not segment:
            raise BadRequest(f"path {_show(path)} has an empty segment (a '//' or edge '/')")
        if segment.startswith("."):
            raise BadRequest(f"path segment {_show(segment)} starts with '.'")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise BadRequest(f"path segment is longer than {MAX_SEGMENT_BYTES} bytes")
    if ":" in segments[0]:
        raise BadRequest(f"path {_show(path)} has ':' in its first segment")
    if len(segments) >= 3 and all(_DIMS_SHAPE.fullmatch(s) for s in segments[:2]):
        raise BadRequest(f"path {_show(path)} would read as a crop box")
    _check_extension(path, extensions)
    if _variant_split(path) is not None:
        raise BadRequest(f"path {_show(path)} would read as a format variant of another")


def _check_extension(path: str, extensions: Sequence[str]) -> None:
    allowed = {e.lower() for e in extensions}
    if extension_of(path) not in allowed:
        raise BadRequest(
            f"path {_show(path)} does not end in an allowed extension "
            f"({', '.join(sorted(allowed))})"
        )


def _show(text: str) -> str:
    """A bounded repr: messages may be echoed to clients and logs."""
    return repr(text) if len(text) <= 80 else repr(text[:80]) + "..."
