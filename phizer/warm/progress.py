"""How a warm run shows that it is moving: tqdm on a terminal, a plain line every ~10 s when
stderr is a file or a pipe (cron, CI logs), so logs stay readable and grep-able."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

LOG_INTERVAL = 10.0


def originals(count: int) -> str:
    """Says "1 original" but "2 originals": warm's lines are read by people (a cron mail)."""
    return f"{count} original" if count == 1 else f"{count} originals"


@dataclass(frozen=True)
class Counts:
    originals: int = 0  # originals finished (rendered, skipped or failed)
    rendered: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0


class Progress:
    """Fed the running totals after every finished original; draws at its own pace.

    `total` (originals to do, when known) gives tqdm its ETA."""

    def __init__(
        self, stream: TextIO, *, tty: bool, enabled: bool = True, interval: float = LOG_INTERVAL
    ) -> None:
        self._stream = stream
        self._enabled = enabled
        self._interval = interval
        self._started = time.monotonic()
        self._last_line = self._started
        self._lock = threading.Lock()
        self._bar: tqdm[Any] | None = None
        if enabled and tty:
            from tqdm import tqdm  # slow to import: only for a terminal

            self._bar = tqdm(
                file=stream, unit=" originals", dynamic_ncols=True, mininterval=0.5, smoothing=0.1
            )

    def set_total(self, total: int) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.total = total
                self._bar.refresh()

    def update(self, counts: Counts) -> None:
        if not self._enabled:
            return
        with self._lock:
            if self._bar is not None:
                self._bar.update(counts.originals - self._bar.n)
                self._bar.set_postfix_str(self._postfix(counts), refresh=False)
            elif time.monotonic() - self._last_line >= self._interval:
                self._last_line = time.monotonic()
                self._line(counts)

    def close(self, counts: Counts) -> None:
        """The bar completes (a log reader gets the run's summary line instead)."""
        with self._lock:
            if self._bar is not None:
                self._bar.update(counts.originals - self._bar.n)
                self._bar.set_postfix_str(self._postfix(counts), refresh=False)
                self._bar.close()

    def _postfix(self, counts: Counts) -> str:
        rate = counts.rendered / max(time.monotonic() - self._started, 1e-9)
        return (
            f"{counts.rendered} rendered ({rate:.1f}/s), {counts.skipped} skipped, "
            f"{counts.failed} failed"
        )

    def _line(self, counts: Counts) -> None:
        self._stream.write(status_line(counts, time.monotonic() - self._started) + "\n")
        self._stream.flush()


def status_line(counts: Counts, seconds: float, *, rates: bool = True) -> str:
    """The one line that accounts for a run: the periodic progress line, and (without rates)
    the summary at its end."""
    seconds = max(seconds, 1e-9)

    def per_second(n: int) -> str:
        return f" ({n / seconds:.1f}/s)" if rates else ""

    return (
        f"phizer warm: {originals(counts.originals)}{per_second(counts.originals)}, "
        f"{counts.rendered} rendered{per_second(counts.rendered)}, "
        f"{counts.skipped} skipped, {counts.failed} failed, "
        f"{counts.bytes / 1e6:.1f} MB in {seconds:.1f} s"
    )
