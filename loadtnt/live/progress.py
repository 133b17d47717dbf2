"""Live progress: on a terminal one line per second, rewritten in place; without one (a CI
log) the same line as a plain line every :data:`PLAIN_EVERY_S` seconds, so a long run is seen
to be alive.

Warnings (a dead worker, an unheld rate) always go to stderr; ``verbose`` adds lifecycle lines
(server started, worker pids) even when stderr is not a terminal.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

PLAIN_EVERY_S = 5.0  # without a terminal: a progress line at most this often


class Progress:
    def __init__(self, *, live: bool | None = None, verbose: bool = False,
                 stream: TextIO | None = None, plain_every: float = PLAIN_EVERY_S) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.verbose = verbose
        self._open_line = False
        self.plain_every = plain_every
        self._last_plain = time.monotonic()

    def _end_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False

    def status(self, text: str) -> None:
        """The per-second line: rewritten in place on a terminal, else a plain line every
        :attr:`plain_every` seconds (0 or less: never)."""
        if self.live:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self._open_line = True
        elif self.plain_every > 0 and time.monotonic() - self._last_plain >= self.plain_every:
            self._last_plain = time.monotonic()
            self.stream.write(text + "\n")
            self.stream.flush()

    def info(self, text: str) -> None:
        if self.live or self.verbose:
            self._end_line()
            self.stream.write(text + "\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        """A line worth showing even without a terminal (where the result went)."""
        self._end_line()
        self.stream.write(text + "\n")
        self.stream.flush()

    def warn(self, text: str) -> None:
        self._end_line()
        self.stream.write(f"loadtnt: warning: {text}\n")
        self.stream.flush()

    def done(self) -> None:
        self._end_line()


def fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    if us >= 1_000_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"
