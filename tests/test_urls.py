"""The URL grammar: both forms, canonical numbers, each path-safety rule with concrete attack
strings, format variants, signing in each mode, and properties (round trip, canonical form,
nothing but phizer errors on arbitrary input)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from phizer.base.errors import BadRequest, BadSignature, ConfigError, NotFound, PhizerError
from phizer.base.formats import INPUT_EXTENSIONS, writes
from phizer.base.models import CropBox
from phizer.base.urls import (
    RenderURL,
    check_original_path,
    format_of_key,
    format_url,
    parse_url,
    render_key,
    sign_url,
    signature,
)

EXTS = INPUT_EXTENSIONS
KEY = "s3cret"
SLOW = settings(max_examples=300, deadline=None)


def parse(url: str, **kwargs: str) -> RenderURL:
    return parse_url(url, extensions=EXTS, **kwargs)


# --- the two forms and the store key ---------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/220x220/photos/a.jpg", RenderURL(220, 220, "photos/a.jpg")),
        ("/1x99999/a.png", RenderURL(1, 99999, "a.png")),
        (
            "/220x220/10x10/400x300/photos/a.jpg",
            RenderURL(220, 220, "photos/a.jpg", CropBox(10, 10, 400, 300)),
        ),
        ("/220x220/0x0/1x1/a.jpg", RenderURL(220, 220, "a.jpg", CropBox(0, 0, 1, 1))),
        ("/220x220/photos/a.jpg.webp", RenderURL(220, 220, "photos/a.jpg", variant="webp")),
        # only one "digits x digits" segment after the size: a directory, not a crop box
        ("/220x220/10x10/photos/a.jpg", RenderURL(220, 220, "10x10/photos/a.jpg")),
        ("/220x220/220x220/a.jpg", RenderURL(220, 220, "220x220/a.jpg")),
    ],
)
def test_parses_both_forms_and_formats_back(url: str, expected: RenderURL) -> None:
    assert parse(url) == expected
    assert format_url(expected) == url


def test_render_keys_are_the_canonical_url_paths_of_design_md() -> None:
    assert render_key(220, 220, "photos/a.jpg") == "220x220/photos/a.jpg"
    crop = CropBox(10, 10, 400, 300)
    assert render_key(220, 220, "photos/a.jpg", crop=crop) == "220x220/10x10/400x300/photos/a.jpg"
    assert render_key(220, 220, "photos/a.jpg", variant="webp") == "220x220/photos/a.jpg.webp"
    assert RenderURL(1, 2, "a.gif", crop, "png").key == "1x2/10x10/400x300/a.gif.png"


@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        ("220x220/a.jpg", "JPEG"),
        ("220x220/dir.png/A.JPEG", "JPEG"),
        ("220x220/a.png.webp", "WEBP"),
        ("220x220/0x0/10x10/a.gif.avif", "AVIF"),
        ("220x220/a.gif", "GIF"),
        ("220x220/a.tiff", None),
        ("220x220/png", None),
        ("220x220/a.", None),
    ],
)
def test_a_keys_last_extension_names_its_format(key: str, fmt: str | None) -> None:
    assert format_of_key(key) == fmt


# --- canonical numbers: 404 when not a render URL, 400 when render-shaped but wrong -----


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/",
        "220x220/a.jpg",  # no leading slash
        "/favicon.ico",
        "/220X220/a.jpg",
        "/+220x220/a.jpg",
        "/-1x220/a.jpg",
        "/220x220.5/a.jpg",
        "/220x/a.jpg",
        "/x220/a.jpg",
        "/ 220x220/a.jpg",
        "/220x220x3/a.jpg",
        "/\u0662\u0662\u0660x220/a.jpg",  # Arabic-Indic digits: \d would take them
        "/\uff12\uff12\uff10x220/a.jpg",  # fullwidth digits
    ],
)
def test_not_a_render_url_is_not_found(url: str) -> None:
    with pytest.raises(NotFound):
        parse(url)


@pytest.mark.parametrize(
    "url",
    [
        "/0220x220/a.jpg",
        "/220x0220/a.jpg",
        "/0x220/a.jpg",
        "/220x0/a.jpg",
        "/00x1/a.jpg",
        "/100000x1/a.jpg",
        "/1x123456/a.jpg",
        "/" + "9" * 500 + "x1/a.jpg",  # refused by shape, never int()-ed
        "/220x220/010x10/400x300/a.jpg",
        "/220x220/10x10/400x0300/a.jpg",
        "/220x220/00x10/400x300/a.jpg",
        "/220x220/10x10/400000x300/a.jpg",
        "/220x220/10x10/10x300/a.jpg",  # empty: x2 == x1
        "/220x220/10x10/400x10/a.jpg",  # empty: y2 == y1
        "/220x220/400x300/10x10/a.jpg",  # inverted
        "/220x220",
        "/220x220/",
    ],
)
def test_render_shaped_but_not_canonical_is_bad_request(url: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse(url)
    assert type(info.value) is BadRequest


@pytest.mark.parametrize(
    ("width", "height", "crop"),
    [
        (0, 1, None),
        (1, 100_000, None),
        (-5, 5, None),
        (True, 5, None),  # a bool is not a size
        (5, 5, CropBox(-1, 0, 5, 5)),
        (5, 5, CropBox(0, 0, 100_000, 5)),
        (5, 5, CropBox(3, 3, 3, 4)),
    ],
)
def test_render_key_refuses_what_no_url_could_say(
    width: int, height: int, crop: CropBox | None
) -> None:
    with pytest.raises(BadRequest):
        render_key(width, height, "a.jpg", crop=crop)


# --- path safety -----------------------------------------------------------------------

ATTACKS = [
    "../etc/passwd",
    "../etc/passwd.jpg",
    "a/../../b.jpg",
    "./a.jpg",
    "a/./b.jpg",
    "a/.../b.jpg",
    "a//b.jpg",
    "/etc/passwd.jpg",  # "//" after the size: an absolute path
    "a.jpg/",
    "a\\b.jpg",
    "..\\..\\windows\\win.ini.jpg",
    "a\x00.jpg",
    "a.jpg\x00.png",
    "a\x7f.jpg",
    "a\x85.jpg",  # C1 (NEL)
    "a\x9b31m.jpg",  # C1 CSI
    "a\x1b[31m.jpg",
    "a\nb.jpg",
    "a\r\nSet-Cookie: x.jpg",
    "a\tb.jpg",
    "%2e%2e/x.jpg",  # double-encoded "..", as it arrives after one decoding
    "%2E%2E%2Fx.jpg",
    "a%2fb.jpg",
    "a%00.jpg",
    "a%5c.jpg",
    "\ufffd\ufffd/x.jpg",  # overlong C0 AE C0 AE as Werkzeug decodes it
    "\udcc0\udcae\udcc0\udcae/x.jpg",  # the same bytes through surrogateescape
    "a\ud800.jpg",
    "a\u202egnp.jpg",  # right-to-left override
    "a\u2066b.jpg",
    "a\u2028b.jpg",
    "a?b.jpg",
    "a#b.jpg",
    "C:/a.jpg",
    "c:a.jpg",
    "evil:x.jpg",
    "http:/x.jpg",
    ".hidden.jpg",
    "a/.git/x.jpg",
    ".a.jpg.tmp123",
    "a.exe",
    "a.jpg.exe",
    "a",
    "a.",
    "a.tif",
    "x" * 2000 + ".jpg",
    "x" * 247 + ".jpg",  # a 251-byte segment
    "\u00e9" * 124 + ".jpg",  # 128 characters but 252 bytes
    "/".join(["abcdefghi"] * 97) + ".jpg",  # 974 bytes: over the path limit
]


@pytest.mark.parametrize("path", ATTACKS)
def test_unsafe_paths_are_bad_requests_in_urls(path: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse("/220x220/" + path)
    assert type(info.value) is BadRequest


@pytest.mark.parametrize("path", ATTACKS)
def test_unsafe_paths_are_refused_as_originals_and_keys(path: str) -> None:
    with pytest.raises(BadRequest):
        check_original_path(path, EXTS)
    with pytest.raises(BadRequest):
        render_key(220, 220, path)


@pytest.mark.parametrize("path", ["10x10/400x300/a.jpg", "0x0/1x1/a/b.png"])
def test_an_original_that_reads_as_a_crop_box_is_refused(path: str) -> None:
    # In a URL, "/220x220/10x10/400x300/a.jpg" is a crop of a.jpg; this original has no URL.
    with pytest.raises(BadRequest, match="crop box"):
        check_original_path(path, EXTS)
    with pytest.raises(BadRequest, match="crop box"):
        render_key(220, 220, path)
    assert parse("/220x220/" + path).crop is not None


@pytest.mark.parametrize(
    "path",
    [
        "100%.jpg",  # a lone "%" cannot decode into anything
        "50%off/a%z1.jpg",
        "@evil/x.jpg",  # quoted into a slave URL as %40evil: the host never changes
        "a@b/x.jpg",
        "-rf.jpg",
        "a b/c d.jpg",
        "photos/a:b.jpg",  # ":" only matters in the first segment
        "caf\u00e9/\u00e9t\u00e9.jpg",
        "\u6f22\u5b57.png",
        "a.JPG",
        "a.b.jpg",
        "a..jpg",
        "x" * 246 + ".jpg",  # a 250-byte segment
        "/".join(["abcdefghi"] * 95) + "/abcd.jpg",  # 959 bytes
    ],
)
def test_harmless_paths_are_accepted(path: str) -> None:
    assert check_original_path(path, EXTS) == path
    url = "/220x220/" + path
    assert parse(url).path == path
    assert format_url(parse(url)) == url


def test_overlong_utf8_as_latin1_text_is_harmless() -> None:
    # A server that hands over latin-1 text instead of decoded UTF-8: C0 AE reads as "À®",
    # two letters, never "." or "/"; bytes 80-9F would be C1 controls and are refused.
    url = parse("/220x220/" + b"\xc0\xae\xc0\xae/x.jpg".decode("latin-1"))
    assert url.path.split("/") == ["\u00c0\u00ae\u00c0\u00ae", "x.jpg"]
    with pytest.raises(BadRequest):
        parse("/220x220/" + b"\xe0\x80\xae\xe0\x80\xae/x.jpg".decode("latin-1"))


def test_a_url_over_1024_bytes_is_refused_even_when_its_path_is_short_enough() -> None:
    path = "/".join(["abcdefghi"] * 95) + "/abcd.jpg"
    assert parse("/220x220/" + path).path == path
    with pytest.raises(BadRequest, match="longer than 1024"):
        parse("/220x220/" + "a" * 1100 + ".jpg")


def test_every_valid_original_has_a_signed_crop_variant_url_within_the_limit() -> None:
    path = "/".join(["abcdefghi"] * 95) + "/abcd.jpg"
    url = RenderURL(99999, 99999, path, CropBox(99998, 99998, 99999, 99999), "avif")
    signed = sign_url(format_url(url), KEY)
    assert len(signed.encode()) <= 1024
    assert parse(signed, key=KEY, sign="all") == url


def test_the_extension_must_be_configured_case_insensitively() -> None:
    assert parse_url("/1x1/a.JPG", extensions=("jpg",)).path == "a.JPG"
    assert parse_url("/1x1/a.jpg", extensions=("JPG",)).path == "a.jpg"
    with pytest.raises(BadRequest, match="allowed extension"):
        parse_url("/1x1/a.png", extensions=("jpg",))
    with pytest.raises(BadRequest):
        check_original_path("a.png", ("jpg",))


# --- format variants -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "path", "variant"),
    [
        ("a.jpg.webp", "a.jpg", "webp"),
        ("a.png.avif", "a.png", "avif"),
        ("a.gif.png", "a.gif", "png"),
        ("a.jpeg.jpg", "a.jpeg", "jpg"),  # the original's own format: accepted
        ("a.webp.webp", "a.webp", "webp"),
        ("a.JPG.webp", "a.JPG", "webp"),
        ("d.jpg/a.jpg.webp", "d.jpg/a.jpg", "webp"),
        ("a.b.jpg", "a.b.jpg", None),
        ("a.tif.webp", "a.tif.webp", None),  # "tif" is no image extension: a plain WebP
        ("a.jpg.gif", "a.jpg.gif", None),  # gif is not a variant format: a plain GIF
        ("a.png.jpeg", "a.png.jpeg", None),
        ("a.jpg/webp.jpg", "a.jpg/webp.jpg", None),
    ],
)
def test_format_variants(tail: str, path: str, variant: str | None) -> None:
    url = parse("/220x220/" + tail)
    assert (url.path, url.variant) == (path, variant)
    assert url.key == "220x220/" + tail


@pytest.mark.parametrize(
    "tail",
    [
        "a.jpg.WEBP",  # not canonical: the variant is lowercase
        "a.jpg.Webp",
        "a.png.jpg.webp",  # its original "a.png.jpg" would itself read as a variant
        "x/.jpg.webp",
        ".jpg.webp",
    ],
)
def test_malformed_variants_are_bad_requests(tail: str) -> None:
    with pytest.raises(BadRequest):
        parse("/220x220/" + tail)


def test_a_variant_needs_its_original_extension_configured() -> None:
    with pytest.raises(BadRequest, match="allowed extension"):
        parse_url("/1x1/a.png.webp", extensions=("jpg", "webp"))


@pytest.mark.parametrize("path", ["a.jpg.webp", "a.jpg.JPG", "a.JPEG.png", "x/a.gif.avif"])
def test_an_original_that_reads_as_a_variant_is_refused(path: str) -> None:
    with pytest.raises(BadRequest, match="variant"):
        check_original_path(path, EXTS)


@pytest.mark.parametrize("variant", ["gif", "jpeg", "WEBP", "", "tif"])
def test_render_key_refuses_unknown_variants(variant: str) -> None:
    with pytest.raises(BadRequest):
        render_key(220, 220, "a.jpg", variant=variant)


# --- signing ---------------------------------------------------------------------------

PLAIN = "/220x220/photos/a.jpg"
CROP = "/220x220/10x10/400x300/photos/a.jpg"


def expected_signature(rest: str, key: str) -> str:
    digest = hmac.new(key.encode(), rest.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:16]


def test_signature_is_as_documented_for_scripts() -> None:
    sig = signature("220x220/photos/a.jpg", KEY)
    assert sig == expected_signature("220x220/photos/a.jpg", KEY)
    assert len(sig) == 16
    assert sign_url(PLAIN, KEY) == f"/{sig}/220x220/photos/a.jpg"
    assert signature("220x220/photos/a.jpg", "other") != sig


@pytest.mark.parametrize(
    ("sign", "url", "outcome"),
    [
        ("crop", PLAIN, "ok"),
        ("crop", CROP, BadSignature),
        ("crop", "signed:" + PLAIN, "ok"),
        ("crop", "signed:" + CROP, "ok"),
        ("all", PLAIN, BadSignature),
        ("all", CROP, BadSignature),
        ("all", "signed:" + PLAIN, "ok"),
        ("all", "signed:" + CROP, "ok"),
        ("none", PLAIN, "ok"),
        ("none", CROP, "ok"),
        ("none", "signed:" + PLAIN, NotFound),  # not checked, so not part of the grammar
    ],
)
def test_signing_modes(sign: str, url: str, outcome: object) -> None:
    unsigned = url.removeprefix("signed:")
    if url.startswith("signed:"):
        url = sign_url(unsigned, KEY)
    if outcome == "ok":
        assert parse(url, key=KEY, sign=sign) == parse(unsigned)
    else:
        assert isinstance(outcome, type)
        with pytest.raises(outcome):
            parse(url, key=KEY, sign=sign)


@pytest.mark.parametrize("sign", ["none", "crop", "all"])
def test_without_a_key_nothing_is_required_and_signatures_are_not_stripped(sign: str) -> None:
    assert parse(CROP, sign=sign).crop == CropBox(10, 10, 400, 300)
    with pytest.raises(NotFound):
        parse(sign_url(CROP, KEY), sign=sign)


@pytest.mark.parametrize("sign", ["crop", "all"])
def test_a_signature_for_one_path_does_not_validate_another(sign: str) -> None:
    sig = sign_url(CROP, KEY)[:17]
    for other in [
        "/220x220/10x10/400x301/photos/a.jpg",
        "/220x220/10x10/400x300/photos/b.jpg",
        "/800x800/10x10/400x300/photos/a.jpg",
        "/220x220/10x10/400x300/photos/a.jpg.webp",
    ]:
        with pytest.raises(BadSignature):
            parse(sig + other, key=KEY, sign=sign)


def test_a_tampered_or_foreign_signature_is_refused() -> None:
    signed = sign_url(CROP, KEY)
    flipped = "A" if signed[1] != "A" else "B"
    with pytest.raises(BadSignature):
        parse("/" + flipped + signed[2:], key=KEY)
    with pytest.raises(BadSignature):
        parse(sign_url(CROP, "another key"), key=KEY)
    with pytest.raises(BadSignature):
        parse(sign_url(PLAIN, KEY)[:17], key=KEY)  # a signature with nothing after it


def test_sign_url_refuses_what_serve_would_refuse() -> None:
    with pytest.raises(BadRequest):
        sign_url("/220x220/../a.jpg", KEY)
    with pytest.raises(NotFound):
        sign_url(sign_url(PLAIN, KEY), KEY)  # already signed
    with pytest.raises(ConfigError):
        sign_url(PLAIN, "")


def test_an_unknown_sign_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse(PLAIN, key=KEY, sign="some")


# --- properties ------------------------------------------------------------------------

SEGMENT_CHARS = st.characters(
    codec="utf-8",
    categories=("L", "N", "Zs"),
    include_characters="-_@~+=,;!'()%:.x",
    exclude_characters="\u2028\u2029\ufffd",
)
segments = st.text(SEGMENT_CHARS, min_size=1, max_size=12)


@st.composite
def render_urls(draw: st.DrawFn) -> RenderURL:
    dirs = draw(st.lists(segments, max_size=3))
    stem = draw(segments)
    ext = draw(st.sampled_from(INPUT_EXTENSIONS))
    ext = ext.upper() if draw(st.booleans()) else ext
    path = "/".join([*dirs, f"{stem}.{ext}"])
    crop = None
    if draw(st.booleans()):
        x1, y1 = draw(st.integers(0, 99998)), draw(st.integers(0, 99998))
        crop = CropBox(x1, y1, draw(st.integers(x1 + 1, 99999)), draw(st.integers(y1 + 1, 99999)))
    variant = draw(st.sampled_from([None, "webp", "avif", "jpg", "png"]))
    # An original in a format renders are not written in (HEIC) is always asked for as a
    # variant: its plain URL is a 404 (see test_a_heic_original_is_asked_for_as_a_variant).
    assume(variant is not None or writes(ext.lower()))
    size = st.integers(1, 99999)
    try:
        return RenderURL(draw(size), draw(size), path, crop, variant)
    except BadRequest:
        assume(False)  # e.g. a segment starting with "." or a "%41": rare by construction
        raise


@SLOW
@given(render_urls())
def test_format_then_parse_is_the_identity(url: RenderURL) -> None:
    assert parse(format_url(url)) == url
    assert check_original_path(url.path, EXTS) == url.path


@settings(max_examples=150, deadline=None)
@given(render_urls(), render_urls())
def test_signatures_are_bound_to_their_path(url: RenderURL, other: RenderURL) -> None:
    assume(url != other)
    signed = sign_url(format_url(url), KEY)
    assert parse(signed, key=KEY, sign="all") == url
    with pytest.raises(BadSignature):
        parse(signed[:17] + format_url(other), key=KEY, sign="all")


PREFIXES = st.sampled_from(["", "/", "/220x220/", "/220x220/10x10/400x300/", "/1x1/a/"])
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)
LATIN1 = st.binary(max_size=60).map(lambda b: b.decode("latin-1"))
NEAR_VALID = st.text(st.sampled_from("0123456789x/.%2eE\\:@ajpgwb\x00\u00e9"), max_size=40)


def check_parse_is_total_and_canonical(url: str) -> None:
    """Anything either parses to something that formats back to exactly `url` and whose path
    is a safe original, or raises a phizer error — never another exception."""
    try:
        parsed = parse(url)
    except PhizerError:
        return
    assert format_url(parsed) == url
    assert not {".", ".."} & set(parsed.path.split("/"))
    assert check_original_path(parsed.path, EXTS) == parsed.path


@SLOW
@given(PREFIXES, st.one_of(ANY_TEXT, LATIN1, NEAR_VALID))
def test_parse_raises_only_phizer_errors_and_accepts_only_canonical_urls(
    prefix: str, tail: str
) -> None:
    check_parse_is_total_and_canonical(prefix + tail)


@SLOW
@given(st.one_of(ANY_TEXT, LATIN1, NEAR_VALID), st.sampled_from(["none", "crop", "all"]))
def test_signed_parsing_raises_only_phizer_errors(tail: str, sign: str) -> None:
    for url in ("/" + tail, "/" + signature(tail, KEY) + "/" + tail):
        try:
            parse(url, key=KEY, sign=sign)
        except PhizerError:
            pass


def test_a_heic_original_is_asked_for_as_a_variant() -> None:
    """Browsers cannot show HEIC: its renders are variants (`a.heic.jpg`), and the plain URL
    is a 404 whose message names the form to ask for."""
    exts = ("jpg", "heic")
    with pytest.raises(NotFound, match=r"ask for /220x220/photos/a\.heic\.jpg"):
        parse_url("/220x220/photos/a.heic", extensions=exts)
    url = parse_url("/220x220/photos/a.heic.jpg", extensions=exts)
    assert (url.path, url.variant, url.key) == ("photos/a.heic", "jpg", "220x220/photos/a.heic.jpg")
    assert format_of_key(url.key) == "JPEG"
    assert parse_url("/220x220/photos/a.heic.webp", extensions=exts).variant == "webp"
