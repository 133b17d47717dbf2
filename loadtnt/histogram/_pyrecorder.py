"""Pure-Python stand-in for :mod:`._recorder` (same API) when the extension is not built."""
from __future__ import annotations

import time

from loadtnt.histogram.layout import COUNTS_LEN, HIGHEST, index_for


class Recorder:
    def __init__(self) -> None:
        self._counts: list[int] = []
        self._icounts: list[int] = []
        self.total = self.itotal = self.max_value = self.clamped = 0
        self.min_value = HIGHEST
        self.reset()

    def record(self, us: int) -> None:
        if us > HIGHEST:
            self.clamped += 1
        us = min(max(us, 0), HIGHEST)
        i = index_for(us)
        self._counts[i] += 1
        self._icounts[i] += 1
        self.total += 1
        self.itotal += 1
        self.min_value = min(self.min_value, us)
        self.max_value = max(self.max_value, us)

    def record_ns(self, ns: int) -> None:
        self.record((ns + 500) // 1000)

    def record_since(self, start_ns: int) -> None:
        self.record_ns(time.perf_counter_ns() - start_ns)

    def nonzero(self) -> list[tuple[int, int]]:
        return [(i, c) for i, c in enumerate(self._counts) if c]

    def take_interval(self) -> list[tuple[int, int]]:
        out = [(i, c) for i, c in enumerate(self._icounts) if c]
        self._icounts = [0] * COUNTS_LEN
        self.itotal = 0
        return out

    def reset(self) -> None:
        self._counts = [0] * COUNTS_LEN
        self._icounts = [0] * COUNTS_LEN
        self.total = 0
        self.itotal = 0
        self.clamped = 0
        self.min_value = HIGHEST
        self.max_value = 0
