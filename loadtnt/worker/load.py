"""One phase of load in one worker: coroutines sending requests and recording their latency.

Closed loop: each coroutine sends, awaits, records, repeats.  Open loop: the worker's share of
the target rate is a schedule of intended send times; an idle coroutine takes the next slot,
waits for its time (or not, if it is late) and sends.  The latency is measured from the
intended time (``histogram``, so a stall shows, including the wait for a free coroutine) and
from the actual send (``service_histogram``).  A send that went out early (timers can wake a
little before their time) is measured from the send, never from the later intended time, so the
corrected latency of every request is at least its service time.
"""
from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtnt import histogram
from loadtnt.drivers.base import RequestFn

try:
    from loadtnt.worker._hotloop import Budget, closed_mix, closed_one
except ImportError:  # not built: the same loops in Python
    from loadtnt.worker._pyhotloop import Budget, closed_mix, closed_one  # type: ignore[assignment]

NEVER = 1 << 62


@dataclass
class OpState:
    """Per operation: its recorders and error counts for the current phase."""

    name: str
    rec: Any = field(default_factory=histogram.Recorder)
    service: Any = None  # open loop only
    errors: dict[str, int] = field(default_factory=dict)
    nerrors: int = 0
    ierrors: int = 0  # errors since the last tick

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.nerrors += 1
        self.ierrors += 1

    @property
    def requests(self) -> int:
        return self.rec.total + self.nerrors


class Phase:
    """Run ``coroutines`` over ``fns[conn][op]`` until the time or request budget is spent."""

    def __init__(self, *, fns: Sequence[Sequence[RequestFn]], names: Sequence[str],
                 weights: Sequence[float], coroutines: int, classify: Callable[[BaseException], str],
                 seconds: float | None, requests: int | None, rate: float | None,
                 offset: float = 0.0) -> None:
        """``offset``: open loop only, this worker's schedule starts ``offset`` of an interval
        late (worker i of n: i/n), so the workers' sends interleave instead of coinciding."""
        self.fns = fns
        self.ops = [OpState(n) for n in names]
        self.coroutines = coroutines
        self.classify = classify
        self.seconds = seconds
        self.budget = Budget(requests if requests is not None else NEVER)
        self.rate = rate
        self.offset = offset
        cum = list(itertools.accumulate(weights))
        self._cum, self._total = cum, cum[-1]
        if rate is not None:
            for op in self.ops:
                op.service = histogram.Recorder()
            slots = requests if requests is not None else int(rate * (seconds or 0))
            self.budget.left = max(slots, 0)
        self.duration_s = 0.0
        self.started_at = 0.0  # wall-clock start of the window (time.time())
        self.cpu_s = 0.0
        self.late_sends = 0
        self.stopped = False

    def stop(self) -> None:
        """End early: every coroutine finishes its request in flight and quits."""
        self.stopped = True
        self.budget.stop()

    def _picker(self) -> Callable[[], int] | None:
        if len(self.ops) == 1:
            return None
        rand, cum, total, find = random.random, self._cum, self._total, bisect.bisect_right
        last = len(cum) - 1
        return lambda: min(find(cum, rand() * total), last)

    async def run(self, t0: float | None = None) -> None:
        """``t0``: the start of the window (a ``time.perf_counter()`` value, by default now), so
        that the caller's per-second ticks and ``duration_s`` count from the same instant."""
        loop = asyncio.get_running_loop()
        cpu0 = time.process_time()
        if t0 is None:
            t0 = time.perf_counter()
        self.started_at = time.time() - (time.perf_counter() - t0)
        timer = None
        if self.seconds is not None:
            # open loop: the schedule ends on time; the timer only cuts a client that fell behind
            limit = self.seconds if self.rate is None else self.seconds * 1.5 + 1.0
            timer = loop.call_later(max(0.0, t0 + limit - time.perf_counter()), self._time_up)
        n_conn = len(self.fns)
        if self.rate is None:
            coros = [self._closed(self.fns[i % n_conn]) for i in range(self.coroutines)]
        else:
            self._interval_ns = 1e9 / self.rate
            self._start_ns = time.perf_counter_ns() + int(self.offset * self._interval_ns)
            self._slot = 0
            coros = [self._open(self.fns[i % n_conn]) for i in range(self.coroutines)]
        try:
            await asyncio.gather(*coros)
        finally:
            if timer is not None:
                timer.cancel()
            self.duration_s = time.perf_counter() - t0
            self.cpu_s = time.process_time() - cpu0

    def _time_up(self) -> None:
        self.budget.stop()

    async def _on_error(self, k: int, exc: BaseException) -> None:
        self.ops[k].error(self.classify(exc))
        await asyncio.sleep(0)  # a request failing synchronously must not starve the loop

    def _closed(self, fns: Sequence[RequestFn]) -> Any:
        if len(self.ops) == 1:
            return closed_one(self.budget, fns[0], self.ops[0].rec, self._on_error)
        return closed_mix(self.budget, list(fns), [s.rec for s in self.ops], self._picker(),
                          self._on_error)

    async def _open(self, fns: Sequence[RequestFn]) -> None:
        pc = time.perf_counter_ns
        pick = self._picker() or (lambda: 0)
        ops = self.ops
        classify = self.classify
        sleep = asyncio.sleep
        start, interval = self._start_ns, self._interval_ns
        budget = self.budget
        while budget.left > 0:
            budget.left -= 1
            intended = start + int(self._slot * interval)
            self._slot += 1
            now = pc()
            if intended > now:
                await sleep((intended - now) / 1e9)
            elif now - intended > 1_000_000:
                self.late_sends += 1
            k = pick()
            state = ops[k]
            sent = pc()
            try:
                await fns[k]()
            except Exception as e:  # noqa: BLE001 - every failure is counted by kind
                state.error(classify(e))
                await sleep(0)
            else:
                done = pc()
                # from the intended time when the send was late; from the send when it was early
                # (a timer can wake a little before its time: uvloop rounds to milliseconds), so
                # that corrected >= service for every request
                state.rec.record_ns(done - min(intended, sent))
                state.service.record_ns(done - sent)

    def tick(self) -> dict[str, Any]:
        """Counts since the previous tick, per op (the live progress line and the timeline)."""
        out = {}
        for s in self.ops:
            done = s.rec.itotal
            hist = s.rec.take_interval()
            out[s.name] = {"requests": done + s.ierrors, "errors": s.ierrors, "hist": hist}
            s.ierrors = 0
        return out

    def result(self) -> dict[str, Any]:
        ops = {}
        for s in self.ops:
            entry: dict[str, Any] = {
                "requests": s.requests, "errors": s.nerrors, "errors_by_kind": dict(s.errors),
                "histogram": histogram.encode(s.rec),
            }
            if s.service is not None:
                entry["service_histogram"] = histogram.encode(s.service)
            ops[s.name] = entry
        return {"duration_s": self.duration_s, "started_at": self.started_at,
                "cpu_s": self.cpu_s, "ops": ops,
                "late_sends": self.late_sends, "stopped": self.stopped}
