"""Live progress on a terminal: one line per second, rewritten in place; silent otherwise.

Warnings (a dead worker, an unheld rate) always go to stderr; ``verbose`` adds lifecycle lines
(server started, worker pids) even when stderr is not a terminal.
"""
from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    def __init__(self, *, live: bool | None = None, verbose: bool = False,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.verbose = verbose
        self._open_line = False

    def _end_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False

    def status(self, text: str) -> None:
        """The per-second line (rewritten in place on a terminal)."""
        if self.live:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self._open_line = True

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
