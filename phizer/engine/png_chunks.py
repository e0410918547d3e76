"""A PNG without the chunks a browser would skip, for the originals Pillow refuses over them.

libpng, behind most browsers, drops an ancillary chunk (one whose type starts with a lowercase
letter: text, profiles, gamma and the like) that fails its CRC, and skips a compressed text or
profile chunk that inflates past its limit; the picture still shows. Pillow refuses the whole
file in both cases unless its global `LOAD_TRUNCATED_IMAGES` is set, and phizer leaves
Pillow's globals alone. So when a PNG fails to open, `without_skippable_chunks` gives a copy
without such chunks, and phizer opens that instead.

Text chunks (tEXt, zTXt, iTXt) go too: nothing in them changes the picture a browser shows,
and Pillow also refuses a file whose text adds up to more than it allows. Before the pixel
data, which Pillow reads on opening, every such chunk is judged; after it, where Pillow reads
the chunks at the end of the decode (without checking their CRCs), only text chunks go.
Everything else, the pixel data and an animation's frames included, is copied as it is.
"""

from __future__ import annotations

import zlib

from PIL import PngImagePlugin

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT = (b"tEXt", b"zTXt", b"iTXt")


def without_skippable_chunks(data: bytes) -> bytes | None:
    """`data` without its text chunks, and before the pixel data also without its ancillary
    chunks with a bad CRC, an ICC profile that inflates past Pillow's limit and any profile
    after the first; None when it is not a PNG or has none of those."""
    if not data.startswith(SIGNATURE):
        return None
    kept = [SIGNATURE]
    dropped = False
    profiles = 0
    pixels = False  # past the first IDAT
    at = len(SIGNATURE)
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if kind == b"IEND" or end > len(data):
            break
        pixels = pixels or kind == b"IDAT"
        body = data[at + 8 : end - 4]
        if kind == b"iCCP" and not pixels:
            profiles += 1
        if pixels:
            skip = kind in _TEXT
        else:
            skip = _skippable(kind, body, int.from_bytes(data[end - 4 : end], "big"), profiles)
        if skip:
            dropped = True
        else:
            kept.append(data[at:end])
        at = end
    kept.append(data[at:])
    return b"".join(kept) if dropped else None


def _skippable(kind: bytes, body: bytes, crc: int, profiles: int) -> bool:
    """Whether a chunk before the pixel data can go; `profiles` counts the iCCP chunks so
    far, this one included. A PNG has one profile at most, so only the first is inflated:
    a file of many small profiles must not cost a megabyte of inflating each."""
    if not kind[:1].islower():
        return False  # critical: the picture needs it, and Pillow judges it
    if kind in _TEXT or zlib.crc32(kind + body) != crc:
        return True
    if kind != b"iCCP":
        return False
    return profiles > 1 or _inflates_past(body.partition(b"\x00")[2][1:])


def _inflates_past(compressed: bytes) -> bool:
    """Whether `compressed` inflates past what Pillow accepts in one chunk (or is no zlib
    stream at all, which Pillow drops by itself)."""
    limit = PngImagePlugin.MAX_TEXT_CHUNK
    try:
        return len(zlib.decompressobj().decompress(compressed, limit + 1)) > limit
    except zlib.error:
        return False
