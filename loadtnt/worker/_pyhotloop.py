"""Pure-Python closed-loop coroutines, the fallback of :mod:`._hotloop` (same behaviour)."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

OnError = Callable[[int, BaseException, int], Awaitable[None]]


class Budget:
    """Requests left to send, shared by a phase's coroutines (set to 0 to stop them)."""

    def __init__(self, left: int) -> None:
        self.left = left

    def stop(self) -> None:
        self.left = 0


async def closed_one(budget: Budget, fn: Callable[[], Awaitable[Any]], rec: Any,
                     on_error: OnError) -> None:
    pc = time.perf_counter_ns
    record_since = rec.record_since
    fails = 0  # consecutive failures of this coroutine: on_error backs off on them
    while budget.left > 0:
        budget.left -= 1
        t0 = pc()
        try:
            await fn()
        except Exception as e:  # noqa: BLE001 - every failure is counted by kind
            fails += 1
            await on_error(0, e, fails)
        else:
            fails = 0
            record_since(t0)


async def closed_mix(budget: Budget, fns: Sequence[Callable[[], Awaitable[Any]]],
                     recs: Sequence[Any], pick: Callable[[], int], on_error: OnError) -> None:
    pc = time.perf_counter_ns
    records = [r.record_since for r in recs]
    fails = 0
    while budget.left > 0:
        budget.left -= 1
        k = pick()
        t0 = pc()
        try:
            await fns[k]()
        except Exception as e:  # noqa: BLE001
            fails += 1
            await on_error(k, e, fails)
        else:
            fails = 0
            records[k](t0)
