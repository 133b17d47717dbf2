"""One phase of load in one worker: coroutines sending requests and recording their latency.

Closed loop: each coroutine sends, awaits, records, repeats; a coroutine whose requests keep
failing backs off (1 ms, doubling, up to 100 ms) instead of spinning on a dead connection.

Open loop: one schedule for all workers — slot ``j`` of the run is due ``j / rate`` after the
shared start (the barrier), and worker ``i`` of ``n`` owns the slots ``j ≡ i (mod n)``, so no
slot is lost to rounding and the workers' sends interleave.  A scheduler coroutine waits for each
slot precisely (the loop's timer to shortly before it, then a blocking sleep when nothing is in
flight, or polling the loop when replies are due) and hands every due slot to an idle sender at
once; a slot with no idle sender waits in a backlog.  The latency is measured from the intended
time (``histogram``, so a stall shows, including the wait for a free sender) and from the actual
send (``service_histogram``); how late each send went out is a histogram of its own
(``lateness_histogram``).  A send that went out early is measured from the send, never from the
later intended time, so the corrected latency of every request is at least its service time.
A slot still waiting when the window is cut is *dropped*: counted, and recorded in the corrected
histogram with the time it had waited by then (a lower bound of its latency).

With ``drivers: [loadtnt-c]`` the request functions are the C load loop's ops
(:class:`loadtnt.worker._cloop.COp`) and the coroutines are its slots: one
:class:`~loadtnt.worker._cloop.CLoop` per connection sends and completes them from C, recording
into the same recorders by the same definitions; the open loop's scheduler below submits each
due slot to it instead of handing it to a sender coroutine.

A transaction's steps have states of their own (:attr:`Phase.steps`, entries
``<transaction>.<step>``), which the mix never picks: the transaction's function records into
them through its :class:`~loadtnt.drivers.base.Steps`, which :meth:`Phase.run` points at this
phase's states when it starts (so a warm-up phase's steps land in the warm-up's discarded states).
"""
from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtnt import histogram
from loadtnt.drivers.base import RequestFn, error_message
from loadtnt.scenario.stages import Profile

try:
    from loadtnt.worker._hotloop import Budget, closed_mix, closed_one
except ImportError:  # not built: the same loops in Python
    from loadtnt.worker._pyhotloop import Budget, closed_mix, closed_one  # type: ignore[assignment]

NEVER = 1 << 62
BACKOFF_MIN_S = 0.001  # closed loop: the wait after the second failure in a row, doubling ...
BACKOFF_MAX_S = 0.1    # ... up to this
LATE_NS = 1_000_000    # a send this late counts in ``late_sends``
COARSE_NS = 2_500_000  # open loop: the loop's timer (up to ~1 ms late) is used until this long before a slot
SPIN_NS = 100_000      # ... then a blocking sleep up to this long before, then a busy wait
# An empty turn of the loop (``sleep(0)`` with nothing ready) takes 1.5 µs on uvloop and 3 µs
# on asyncio here (p99 1.8 µs / 3.8 µs). A polling turn counts as idle CPU for at most this
# long: a longer one ran callbacks (replies decoded, sends written: work) or was descheduled
# (no CPU at all), and neither is polling.
POLL_TURN_NS = 10_000


@dataclass
class OpState:
    """Per operation: its recorders and counts for the current phase."""

    name: str
    rec: Any = field(default_factory=histogram.Recorder)
    service: Any = None  # open loop only
    lateness: Any = None  # open loop only: send time - intended time
    errors: dict[str, int] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # each kind's first message
    nerrors: int = 0
    ierrors: int = 0  # errors since the last tick
    scheduled: int = 0  # open loop: slots of this op that came due
    sent: int = 0
    dropped: int = 0
    late_sends: int = 0
    isent: int = 0  # open loop: sends since the last tick
    dropped_rec: Any = None  # open loop: the dropped slots' waits (joined to ``rec`` in results)

    def error(self, kind: str, exc: BaseException | None = None) -> None:
        n = self.errors.get(kind, 0)
        if not n and exc is not None:
            self.messages[kind] = error_message(exc)
        self.errors[kind] = n + 1
        self.nerrors += 1
        self.ierrors += 1

    @property
    def ok(self) -> int:
        """Requests that succeeded (each has a latency in ``rec``)."""
        return int(self.rec.total)

    @property
    def requests(self) -> int:
        """Requests that completed, successfully or not."""
        return self.ok + self.nerrors


class Phase:
    """Run ``coroutines`` over ``fns[conn][op]`` until the time or request budget is spent."""

    def __init__(self, *, fns: Sequence[Sequence[RequestFn]], names: Sequence[str],
                 weights: Sequence[float], coroutines: int, classify: Callable[[BaseException], str],
                 seconds: float | None, requests: int | None, rate: float | None,
                 share: tuple[int, int] = (0, 1), profile: Profile | None = None,
                 timeout: float | None = None) -> None:
        """``rate``: open loop, the total rate of all workers; ``share``: ``(i, n)``, this worker
        is the i-th of n and sends the slots ``i, i + n, i + 2n, …`` of the run's schedule
        (``requests``, when given, is this worker's number of slots). ``profile``: rate stages
        instead of a constant rate (slot ``j`` is due at ``profile.time_of(j)``). ``timeout``:
        the scenario's per-request timeout (the C load loop's to enforce; a driver's own)."""
        if profile is not None:
            rate = profile.mean_rate
            seconds = profile.duration
        self.profile = profile
        self.fns = fns
        self.ops = [OpState(n) for n in names]
        # the steps of the mix's transactions: recorded by their transaction, never picked
        self.steps: dict[str, OpState] = {}
        for conn_fns in fns:
            for fn in conn_fns:
                for step in getattr(getattr(fn, "steps", None), "names", ()):
                    self.steps.setdefault(step, OpState(step))
        self.coroutines = coroutines
        self.classify = classify
        self.seconds = seconds
        self.budget = Budget(requests if requests is not None else NEVER)
        self.rate = rate
        self.share = share
        self.weights = list(weights)
        self.timeout = timeout
        # the C load loop's ops (drivers: [loadtnt-c]) instead of request functions
        self.c_loop = bool(fns and fns[0] and getattr(fns[0][0], "is_c_op", False))
        self._cloops: list[Any] = []
        self._rr = 0
        cum = list(itertools.accumulate(weights))
        self._cum, self._total = cum, cum[-1]
        self.slots = 0
        if rate is not None:
            for op in self.ops:
                op.service = histogram.Recorder()
                op.lateness = histogram.Recorder()
                op.dropped_rec = histogram.Recorder()
            i, n = share
            if profile is not None:
                self.slots = len(range(i, profile.slots, n))
            elif requests is not None:
                self.slots = max(requests, 0)
            else:
                total = round(rate * (seconds or 0))
                self.slots = len(range(i, total, n))
        self.duration_s = 0.0
        self.started_at = 0.0  # wall-clock start of the window (time.time())
        self.cpu_s = 0.0
        self.spin_s = 0.0  # open loop: CPU spent polling the loop for a slot's exact time
        self.stopped = False
        self._cut = False
        self._idle: deque[asyncio.Future[Any]] = deque()
        self._backlog: deque[tuple[int, int]] = deque()
        self._inflight = 0
        self._scheduled_all = False

    @property
    def late_sends(self) -> int:
        return sum(op.late_sends for op in self.ops)

    def stop(self) -> None:
        """End early: every coroutine finishes its request in flight and quits."""
        self.stopped = True
        self._cut_now()

    def _cut_now(self) -> None:
        self.budget.stop()
        self._cut = True
        for cl in self._cloops:
            cl.cut()
        while self._idle:
            fut = self._idle.popleft()
            if not fut.done():
                fut.set_result(None)

    def _picker(self) -> Callable[[], int] | None:
        if len(self.ops) == 1:
            return None
        rand, cum, total, find = random.random, self._cum, self._total, bisect.bisect_right
        last = len(cum) - 1
        return lambda: min(find(cum, rand() * total), last)

    async def run(self, t0: float | None = None) -> None:
        """``t0``: the start of the window (a ``time.perf_counter()`` value, by default now; the
        shared start of all workers), so that the caller's per-second ticks, ``duration_s`` and
        the open-loop schedule count from the same instant."""
        loop = asyncio.get_running_loop()
        for conn_fns in self.fns:  # transactions: their steps record into this phase's states
            for fn in conn_fns:
                sink = getattr(fn, "steps", None)
                if sink is not None:
                    sink.states = [self.steps[name] for name in sink.names]
        cpu0 = time.process_time()
        if t0 is None:
            t0 = time.perf_counter()
        self.started_at = time.time() - (time.perf_counter() - t0)
        timer = None
        if self.seconds is not None:
            # open loop: the schedule ends on time; the timer only cuts a client that fell behind
            limit = self.seconds if self.rate is None else self.seconds * 1.5 + 1.0
            timer = loop.call_later(max(0.0, t0 + limit - time.perf_counter()), self._cut_now)
        n_conn = len(self.fns)
        if self.rate is not None:
            self._start_ns = int(t0 * 1e9)  # perf_counter_ns and perf_counter share a clock
        try:
            if self.c_loop:
                await self._run_c()
            elif self.rate is None:
                await asyncio.gather(*(self._closed(self.fns[i % n_conn])
                                       for i in range(self.coroutines)))
            else:
                await asyncio.gather(self._schedule(), *(self._sender(self.fns[i % n_conn])
                                                         for i in range(self.coroutines)))
        finally:
            if timer is not None:
                timer.cancel()
            if self.rate is not None:
                self._drop_waiting()
            self.duration_s = time.perf_counter() - t0
            self.cpu_s = time.process_time() - cpu0

    async def _on_error(self, k: int, exc: BaseException, fails: int = 1) -> None:
        self.ops[k].error(self.classify(exc), exc)
        if fails < 2:
            await asyncio.sleep(0)  # a request failing synchronously must not starve the loop
        else:  # failing again and again (a dead connection): back off, do not spin
            await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** min(fails - 2, 20)))

    async def _run_c(self) -> None:
        """The C load loop: one CLoop per connection, with its share of the coroutines as its
        slots (coroutine i on connection i mod n, as on the coroutine path)."""
        from loadtnt.worker._cloop import CLoop

        n_conn = len(self.fns)
        for i in range(n_conn):
            slots = len(range(i, self.coroutines, n_conn))
            if slots:
                self._cloops.append(CLoop(
                    list(self.fns[i]), self.ops, self.weights, slots, self.budget,
                    self._on_c_error, timeout=self.timeout or 0.0,
                    open_loop=self.rate is not None, seed=random.getrandbits(64)))
        try:
            if self.rate is None:
                for cl in self._cloops:
                    cl.start()
            else:
                for cl in self._cloops:
                    cl.begin_open()
                await self._schedule()
                for cl in self._cloops:
                    cl.finish()
            await asyncio.gather(*(cl.wait() for cl in self._cloops))
        finally:
            for cl in self._cloops:
                cl.detach()

    def _on_c_error(self, k: int, exc: BaseException) -> None:
        self.ops[k].error(self.classify(exc), exc)

    def _busy(self) -> bool:
        """Open loop: a send or a reply is due (slots handed over, in flight or waiting)."""
        if self._cloops:
            return any(cl.inflight or cl.backlog_len for cl in self._cloops)
        return self._inflight > 0

    def _closed(self, fns: Sequence[RequestFn]) -> Any:
        if len(self.ops) == 1:
            return closed_one(self.budget, fns[0], self.ops[0].rec, self._on_error)
        return closed_mix(self.budget, list(fns), [s.rec for s in self.ops], self._picker(),
                          self._on_error)

    # --- open loop ------------------------------------------------------------------------

    def _due(self, slot: int) -> int:
        """The intended send time (perf_counter_ns) of this worker's ``slot``-th slot."""
        i, n = self.share
        if self.profile is not None:
            return self._start_ns + int(self.profile.time_of(i + slot * n) * 1e9)
        assert self.rate is not None
        return self._start_ns + int((i + slot * n) * 1e9 / self.rate)

    async def _wait_until(self, t: int) -> None:
        pc = time.perf_counter_ns
        while not self._cut:
            gap = t - pc()
            if gap <= 0:
                return
            if gap > COARSE_NS:  # the loop's timer (it wakes up to a millisecond off)
                await asyncio.sleep(min(gap - COARSE_NS, 100_000_000) / 1e9)
            elif not self._busy():
                # nothing handed over or in flight, only the clock to wait for: a blocking sleep is precise and costs no CPU
                if gap > SPIN_NS:
                    time.sleep((gap - SPIN_NS) / 1e9)  # noqa: ASYNC251 - on purpose, see above
                s0 = pc()
                while pc() < t:
                    pass
                self.spin_s += min(pc() - s0, SPIN_NS) / 1e9  # burnt on purpose, not work
                return
            else:  # a send or a reply is due: poll the loop until the slot's time
                s0 = pc()
                await asyncio.sleep(0)
                self.spin_s += min(pc() - s0, POLL_TURN_NS) / 1e9

    async def _schedule(self) -> None:
        pc = time.perf_counter_ns
        pick = self._picker() or (lambda: 0)
        ops, idle, backlog, cloops = self.ops, self._idle, self._backlog, self._cloops
        slot, slots = 0, self.slots
        try:
            while slot < slots and not self._cut:
                await self._wait_until(self._due(slot))
                if self._cut:
                    break
                now = pc()
                while slot < slots:  # every slot that is due, in this loop turn
                    t = self._due(slot)
                    if t > now:
                        break
                    slot += 1
                    k = pick()
                    ops[k].scheduled += 1
                    if cloops:
                        self._submit_c(t, k)
                        continue
                    self._inflight += 1  # handed over: the sender has yet to send it
                    if idle:
                        idle.popleft().set_result((t, k))
                    else:
                        backlog.append((t, k))
        finally:
            self._next_slot = slot
            self._scheduled_all = True
            while idle:
                idle.popleft().set_result(None)

    def _submit_c(self, t: int, k: int) -> None:
        """A due slot to the C loops: the next one (round robin) with an idle slot, else the
        next one's backlog."""
        loops = self._cloops
        n = len(loops)
        for j in range(n):
            cl = loops[(self._rr + j) % n]
            if cl.idle_slots:
                self._rr = (self._rr + j + 1) % n
                cl.submit(t, k)
                return
        cl = loops[self._rr]
        self._rr = (self._rr + 1) % n
        cl.submit(t, k)

    async def _sender(self, fns: Sequence[RequestFn]) -> None:
        pc = time.perf_counter_ns
        loop = asyncio.get_running_loop()
        ops, classify, idle, backlog = self.ops, self.classify, self._idle, self._backlog
        while not self._cut:
            if backlog:
                t, k = backlog.popleft()
            elif self._scheduled_all:
                return
            else:
                fut = loop.create_future()
                idle.append(fut)
                item = await fut
                if item is None:
                    return
                t, k = item
            state = ops[k]
            sent = pc()
            state.sent += 1
            state.isent += 1
            state.lateness.record_ns(max(sent - t, 0))
            if sent - t > LATE_NS:
                state.late_sends += 1
            try:
                await fns[k]()
            except Exception as e:  # noqa: BLE001 - every failure is counted by kind
                state.error(classify(e), e)
                await asyncio.sleep(0)
            else:
                done = pc()
                # from the intended time when the send was late; from the send when it was early
                # (a timer can wake a little before its time), so that corrected >= service
                state.rec.record_ns(done - min(t, sent))
                state.service.record_ns(done - sent)
            finally:
                self._inflight -= 1

    def _drop_waiting(self) -> None:
        """The window was cut: slots that were due and never sent are dropped, each recorded in
        the corrected histogram with the time it had waited (a lower bound of its latency)."""
        now = time.perf_counter_ns()
        pick = self._picker() or (lambda: 0)
        waiting = list(self._backlog)
        self._inflight -= len(waiting)
        self._backlog.clear()
        for cl in self._cloops:
            waiting += cl.take_backlog()
        slot = getattr(self, "_next_slot", 0)
        while slot < self.slots and self._due(slot) <= now and not self.stopped:
            waiting.append((self._due(slot), k := pick()))
            self.ops[k].scheduled += 1
            slot += 1
        for t, k in waiting:
            state = self.ops[k]
            state.dropped += 1
            state.dropped_rec.record_ns(now - t)

    def tick(self) -> dict[str, Any]:
        """Counts since the previous tick, per op (the live progress line and the timeline)."""
        out = {}
        for s in (*self.ops, *self.steps.values()):
            done = s.rec.itotal
            hist = s.rec.take_interval()
            out[s.name] = {"requests": done + s.ierrors, "errors": s.ierrors, "hist": hist}
            if s.service is not None:
                out[s.name]["sent"] = s.isent
                s.isent = 0
            s.ierrors = 0
        return out

    def result(self) -> dict[str, Any]:
        ops = {}
        for s in (*self.ops, *self.steps.values()):
            recs = [r for r in (s.rec, s.dropped_rec) if r is not None and r.total]
            entry: dict[str, Any] = {
                "requests": s.requests, "ok": s.ok, "errors": s.nerrors,
                "errors_by_kind": dict(s.errors),
                "error_messages": dict(s.messages),
                "histogram": histogram.encode_all(recs),
                # the recorded maximum (a histogram's max is only the top of its bucket)
                "max_us": max((int(r.max_value) for r in recs), default=None),
                "clamped": sum(int(r.clamped) for r in recs),
            }
            if s.service is not None:
                entry["service_histogram"] = histogram.encode(s.service)
                entry["service_max_us"] = int(s.service.max_value) if s.service.total else None
                entry["lateness_histogram"] = histogram.encode(s.lateness)
                entry.update(scheduled=s.scheduled, sent=s.sent, dropped=s.dropped,
                             late_sends=s.late_sends)
            ops[s.name] = entry
        return {"duration_s": self.duration_s, "started_at": self.started_at,
                "cpu_s": self.cpu_s, "spin_s": round(self.spin_s, 6), "ops": ops,
                "late_sends": self.late_sends, "stopped": self.stopped}
