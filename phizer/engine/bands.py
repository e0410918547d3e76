"""A picture made in horizontal bands, one thread each, pasted together.

A serve miss is one client waiting on one worker while, on an idle machine, the other cores
sit unused. Pillow releases the GIL while LittleCMS converts colours, and LittleCMS converts
each pixel on its own, so an embedded profile can be applied on several cores at once, each
thread on its own rows (`phizer.engine.colour`; the resample that follows has a thread pool of its
own, `phizer.engine.resample`). The threads are started per call: starting one costs little
against the work of a band.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PIL import Image

# A band is at least this many rows: below it a thread costs more than it saves.
MIN_BAND_ROWS = 64
# Nor is a picture smaller than this worth splitting: its work is over before threads pay.
MIN_SPLIT_PIXELS = 512 * 512


def band_count(rows: int, pixels: int, threads: int) -> int:
    """How many bands to make `rows` rows (`pixels` pixels of work) in on `threads` threads."""
    if threads < 2 or pixels < MIN_SPLIT_PIXELS:
        return 1
    return max(1, min(threads, rows // MIN_BAND_ROWS))


def in_bands(rows: int, bands: int, band: Callable[[int, int], Image.Image]) -> Image.Image:
    """`band(top, bottom)` for `bands` consecutive ranges of the `rows` rows, on as many
    threads (this one included), pasted together top to bottom. An exception in any band is
    raised here, after every thread has finished."""
    edges = [rows * i // bands for i in range(bands + 1)]
    strips: dict[int, Image.Image] = {}
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            strips[i] = band(edges[i], edges[i + 1])
        except BaseException as exc:  # re-raised in the caller's thread below
            failures.append(exc)

    helpers = [threading.Thread(target=run, args=(i,)) for i in range(1, bands)]
    for helper in helpers:
        helper.start()
    run(0)
    for helper in helpers:
        helper.join()
    if failures:
        raise failures[0]
    out = Image.new(strips[0].mode, (strips[0].width, rows))
    for i, strip in strips.items():
        out.paste(strip, (0, edges[i]))
    return out
