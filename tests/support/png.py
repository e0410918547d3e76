"""PNG chunks written by hand, for the files Pillow will not write: low bit depths with a
colour key, bad CRCs, oversized text."""

from __future__ import annotations

import struct
import zlib


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    """One chunk: length, type, body and its CRC (the right one unless `crc` is given)."""
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
