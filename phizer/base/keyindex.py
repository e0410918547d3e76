"""A compact index of store keys to numbers (a time, a byte count): two parallel arrays
sorted by a 64-bit digest of the key, so a listing of a million renders costs 16 bytes a
render in memory instead of a dict's hundreds. A binary search finds a key without
holding the key itself. Two keys with the same digest would share a value: for a million
keys the odds are about one in 10^7.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable


class KeyIndex:
    def __init__(self, items: Iterable[tuple[str, float]]) -> None:
        listed = array("d")
        # Each digest carries its position in the listing in 32 low bits, so sorting one list
        # of ints puts the values in digest order too (no second list of sort keys). 32 bits
        # is four billion keys in one index: far past any listing.
        packed = []
        for key, value in items:
            packed.append(digest(key) << 32 | len(listed))
            listed.append(value)
        packed.sort()
        self._digests = array("q", (p >> 32 for p in packed))
        self._values = array("d", (listed[p & 0xFFFFFFFF] for p in packed))

    def __len__(self) -> int:
        return len(self._digests)

    def get(self, key: str) -> float | None:
        wanted = digest(key)
        i = bisect_left(self._digests, wanted)
        if i < len(self._digests) and self._digests[i] == wanted:
            return self._values[i]
        return None


def digest(key: str) -> int:
    """64 bits of BLAKE2b: the same in every process (unlike `hash()`)."""
    raw = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(raw, "little", signed=True)
