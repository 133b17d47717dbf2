"""Rate stages of an open loop: ``rate:`` as a list of ``{to: R, over: 30s}`` (a linear ramp from
the current rate), ``{hold: 60s}`` (the current rate, for that long) and ``{to: R}`` (a step: the
rate jumps to R, held by the stages after it).

A :class:`Profile` is the rate as a function of time since the start of the measured window,
piecewise linear.  Its schedule is exact: slot ``j`` of the run is due at the time ``t`` where the
intended count ``N(t) = ∫₀ᵗ r`` reaches ``j`` (for a constant rate ``j / rate``, as without
stages), so the sends in any second are the integral of the rate over that second.
Pure Python; no YAML (that side is :mod:`loadtnt.scenario.parse`).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stage:
    """One stage: ``to`` (None for a hold) and ``over`` (seconds; 0 for a step)."""

    to: float | None
    over: float
    line: int | None = None

    @property
    def kind(self) -> str:
        return "hold" if self.to is None else "ramp" if self.over > 0 else "step"

    def normalized(self) -> dict[str, Any]:
        if self.to is None:
            return {"hold": self.over}
        return {"to": self.to, "over": self.over} if self.over > 0 else {"to": self.to}


@dataclass(frozen=True)
class Segment:
    """A stretch of the profile: from ``t0`` for ``length`` seconds, the rate going linearly
    from ``r0`` to ``r1``; ``n0`` slots are due before it."""

    stage: int
    t0: float
    length: float
    r0: float
    r1: float
    n0: float

    @property
    def count(self) -> float:
        return (self.r0 + self.r1) / 2 * self.length

    def n_at(self, tau: float) -> float:
        """Slots due in the first ``tau`` seconds of the segment."""
        k = (self.r1 - self.r0) / self.length
        return self.r0 * tau + k * tau * tau / 2

    def tau_of(self, n: float) -> float:
        """The inverse of :meth:`n_at` (``0 <= n <= count``), in a form stable when the slope is
        0 or negative: τ = 2n / (r0 + √(r0² + 2kn))."""
        k = (self.r1 - self.r0) / self.length
        root = math.sqrt(max(self.r0 * self.r0 + 2 * k * n, 0.0))
        denom = self.r0 + root
        return 2 * n / denom if denom > 0 else 0.0


class Profile:
    """The rate over the measured window, from ``stages``."""

    def __init__(self, stages: tuple[Stage, ...] | list[Stage]) -> None:
        self.stages = tuple(stages)
        segs: list[Segment] = []
        t = n = rate = 0.0
        for i, st in enumerate(self.stages):
            if st.to is None or st.over > 0:
                to = rate if st.to is None else st.to
                seg = Segment(i, t, st.over, rate, to, n)
                segs.append(seg)
                t += st.over
                n += seg.count
                rate = to
            else:
                rate = st.to
        self.segments = segs
        self.duration = t
        self.total = n  # N(duration), slots (not rounded)
        self._starts = [s.n0 for s in segs]
        self._times = [s.t0 for s in segs]

    @classmethod
    def from_normalized(cls, items: list[dict[str, Any]]) -> Profile:
        return cls([Stage(to=None, over=float(x["hold"])) if "hold" in x
                    else Stage(to=float(x["to"]), over=float(x.get("over") or 0.0))
                    for x in items])

    def normalized(self) -> list[dict[str, Any]]:
        return [st.normalized() for st in self.stages]

    @property
    def slots(self) -> int:
        """Slots in the window: those due before its end (``j < N(duration)``)."""
        return max(math.ceil(self.total - 1e-9), 0)

    @property
    def mean_rate(self) -> float:
        return self.total / self.duration if self.duration else 0.0

    @property
    def first_rate(self) -> float:
        """The warm-up's rate: the first non-zero rate the stages reach."""
        for seg in self.segments:
            for r in (seg.r0, seg.r1):
                if r > 0:
                    return r
        return 0.0

    def time_of(self, j: float) -> float:
        """Seconds from the start at which slot ``j`` is due."""
        i = bisect.bisect_right(self._starts, j) - 1
        # a segment of rate 0 adds no slots: skip to the last segment starting at this count
        i = max(i, 0)
        seg = self.segments[i]
        return seg.t0 + seg.tau_of(min(j - seg.n0, seg.count))

    def count_at(self, t: float) -> float:
        """N(t): the slots intended in the first ``t`` seconds."""
        if not self.segments or t <= 0:
            return 0.0
        if t >= self.duration:
            return self.total
        i = max(bisect.bisect_right(self._times, t) - 1, 0)
        seg = self.segments[i]
        return seg.n0 + seg.n_at(t - seg.t0)

    def rate_at(self, t: float) -> float:
        i = max(bisect.bisect_right(self._times, t) - 1, 0)
        if not self.segments or t < 0 or t >= self.duration:
            return 0.0
        seg = self.segments[i]
        return seg.r0 + (seg.r1 - seg.r0) * (t - seg.t0) / seg.length

    def spans(self) -> list[tuple[int, Stage, float, float]]:
        """Each stage with its window ``(index, stage, start_s, end_s)`` (a step has none)."""
        return [(s.stage, self.stages[s.stage], s.t0, s.t0 + s.length) for s in self.segments]


def check_stages(stages: tuple[Stage, ...]) -> str | None:
    """Why these stages make no schedule (None: they do)."""
    if not stages:
        return "expected a rate or a non-empty list of stages"
    for st in stages:
        if st.to is not None and st.to < 0:
            return f"a stage's rate cannot be negative, got {st.to}"
    prof = Profile(stages)
    if prof.duration <= 0:
        return "the stages last no time: give a ramp ({to: R, over: 30s}) or a hold ({hold: 60s})"
    if prof.total < 1:
        return "the stages schedule no request (every rate is 0)"
    return None
