"""Change points of a row's history, found with Apache Otava's detector (E-divisive means over
sliding windows, then the merge step that keeps the points whose two-sided t-test p-value is
below ``max_pvalue`` and whose relative change is above ``magnitude``: Fleming et al., "Hunter",
ICPE 2023). The detector is ``otava.analysis.compute_change_points``, the same function the
``otava`` CLI runs; this module only feeds it a row's per-run values and reads its points.

A run's value is the mean of its trials (see `values_of`). Two things are added on top of Otava's points, both
because one run is one sample:

- an **outlier**: a run far from the runs on both sides of it (more than 4 noise scales from
  the median of the two before and from that of the two after; the noise scale is the MAD of
  run-to-run differences) is taken out before the detector runs. A step is not an outlier (the
  runs after it are like it); the newest run never is (nothing after it yet). Outliers are
  shown as such, never as changes.
- an **unconfirmed** change: a change point at the newest run, with that run alone after it, or
  (Otava seldom splits off a last point alone) the newest run more than 4 noise scales from the
  mean of the segment it would belong to. One run cannot tell a step from an outlier; `history
  check` says so (exit 3) and the next run decides.

``history check``'s verdict for a row: ``regressed`` when the newest run lies in a segment that
starts with a regression beyond ``max_regression`` (rps down, latency up) and is itself worse than
the mean before that change by at least half the limit (so that a segment [outlier, normal run]
does not read as a regression: the newest run is back); ``too short`` below
``min_runs`` runs; ``unconfirmed`` as above; ``busy`` when the newest run's machine was busy;
``ok`` otherwise.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from loadtnt.history.store import LOWER_IS_BETTER, Point, Row

MAX_PVALUE = 0.001  # Otava's default
WINDOW = 50  # Otava's default
MIN_RUNS = 8
OUTLIER_K = 4.0
MAX_BUSY_CORES = 0.2

EXTRA_MISSING = ("needs Apache Otava, which is not installed: pip install 'loadtnt[history]'")


class MissingExtra(Exception):
    """The `history` extra is not installed (exit 2, one line)."""


def require_otava():
    """otava.analysis.compute_change_points, or MissingExtra."""
    try:
        from otava.analysis import compute_change_points  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtra(EXTRA_MISSING) from None
    return compute_change_points


@dataclass
class Change:
    """A change point: the segment after it starts at ``index`` (a position in the values)."""

    index: int
    mean_before: float
    std_before: float
    mean_after: float
    std_after: float
    pvalue: float

    @property
    def rel(self) -> float:
        """Relative change of the mean, after / before - 1."""
        return self.mean_after / self.mean_before - 1 if self.mean_before else math.nan

    def regression(self, metric: str) -> float:
        """How much worse after than before, as a share (negative: better)."""
        return self.rel if metric in LOWER_IS_BETTER else -self.rel


@dataclass
class Analysis:
    changes: list[Change]
    outliers: list[int] = field(default_factory=list)  # indexes of runs taken out as outliers
    unconfirmed: Change | None = None  # a change point at the newest run, alone after it


def _otava(values: Sequence[float], *, max_pvalue: float, magnitude: float,
           window: int) -> list[Change]:
    compute = require_otava()
    if len(values) < 3:
        return []
    points, _weak = compute(list(values), window_len=window, max_pvalue=max_pvalue,
                            min_magnitude=magnitude)
    return [Change(int(cp.index), float(cp.stats.mean_1), float(cp.stats.std_1),
                   float(cp.stats.mean_2), float(cp.stats.std_2), float(cp.stats.pvalue))
            for cp in points]


def noise_scale(values: Sequence[float]) -> float:
    """A run-to-run noise estimate that steps and outliers barely move: the median absolute
    deviation of consecutive differences, scaled to a standard deviation."""
    d = [b - a for a, b in itertools.pairwise(values)]
    if len(d) < 2:
        return 0.0
    m = statistics.median(d)
    return 1.4826 * statistics.median(abs(x - m) for x in d) / math.sqrt(2)


def outliers(values: Sequence[float], k: float = OUTLIER_K) -> list[int]:
    """Runs far (more than k noise scales) from the runs on both sides of them: up to two
    before and two after, at least one after (the newest run is never an outlier: nothing
    after it tells it from a step)."""
    sigma = noise_scale(values)
    if sigma <= 0:
        return []
    out = []
    for i in range(len(values) - 1):
        before, after = values[max(0, i - 2):i], values[i + 1:i + 3]
        far = [abs(values[i] - statistics.median(side)) > k * sigma
               for side in (before, after) if side]
        if all(far) and abs(values[i] - statistics.median([*before, *after])) > k * sigma:
            out.append(i)
    return out


def analyze(values: Sequence[float], *, max_pvalue: float = MAX_PVALUE, magnitude: float = 0.0,
            window: int = WINDOW) -> Analysis:
    """Otava's change points of ``values`` (one per run, oldest first), outliers taken out
    first. Each change's means and spreads are of the whole segments on either side of it (in
    the values kept); the p-value is Otava's."""
    out = outliers(values)
    keep = [i for i in range(len(values)) if i not in out]
    kept = [values[i] for i in keep]
    found = _otava(kept, max_pvalue=max_pvalue, magnitude=magnitude, window=window)
    bounds = [0, *(c.index for c in found), len(kept)]
    changes = []
    for k, c in enumerate(found):
        before, after = kept[bounds[k]:bounds[k + 1]], kept[bounds[k + 1]:bounds[k + 2]]
        changes.append(Change(keep[c.index], statistics.fmean(before), _std(before),
                              statistics.fmean(after), _std(after), c.pvalue))
    unconfirmed = None
    if changes and changes[-1].index == len(values) - 1:
        unconfirmed = changes.pop()
    elif len(values) >= 3:
        # Otava seldom splits off the last point alone: the newest run far (more than
        # OUTLIER_K noise scales) from the segment it would belong to departs unconfirmed
        start = changes[-1].index if changes else 0
        seg = [values[i] for i in range(start, len(values) - 1) if i not in out]
        sigma = noise_scale([values[i] for i in keep])
        if len(seg) >= 2 and sigma > 0 and abs(values[-1] - statistics.fmean(seg)) > \
                OUTLIER_K * sigma:
            unconfirmed = Change(len(values) - 1, statistics.fmean(seg), _std(seg),
                                 values[-1], 0.0, math.nan)
    return Analysis(changes, out, unconfirmed)


def _std(xs: Sequence[float]) -> float:
    return statistics.pstdev(xs) if len(xs) > 1 else 0.0


@dataclass
class Verdict:
    row: Row
    status: str  # regressed | ok | too short | unconfirmed | busy
    change: Change | None  # the change point whose segment holds the newest run
    note: str = ""
    analysis: Analysis | None = None

    @property
    def exit_code(self) -> int:
        return {"regressed": 1, "ok": 0}.get(self.status, 3)


def values_of(points: Sequence[Point]) -> list[float]:
    """A run's value is the mean of its trials: with trial noise of a few percent it is a much
    better estimate than the median (the simulation: a 10 % step found within 3 runs in 100 %
    of histories with the mean, 94 % with the median, at a tenth of the false alarms); a run
    spoilt as a whole is an outlier and taken out, see `outliers`."""
    return [statistics.fmean(p.values) for p in points]


def decide(values: Sequence[float], metric: str = "rps", *, max_regression: float = 0.10,
           min_runs: int = MIN_RUNS, max_pvalue: float = MAX_PVALUE,
           window: int = WINDOW) -> tuple[str, Change | None, Analysis | None]:
    """(status, change, analysis) for per-run values, oldest first: the part of `judge` that
    sees only numbers (the simulation calls it)."""
    if len(values) < min_runs:
        return "too short", None, None
    a = analyze(values, max_pvalue=max_pvalue, magnitude=max_regression, window=window)
    if a.unconfirmed is not None and a.unconfirmed.regression(metric) >= max_regression:
        return "unconfirmed", a.unconfirmed, a
    last = a.changes[-1] if a.changes else None
    if (last is not None and last.regression(metric) >= max_regression
            and _worse(values[-1], last.mean_before, metric) >= max_regression / 2):
        return "regressed", last, a
    return "ok", last, a


def _worse(value: float, before: float, metric: str) -> float:
    rel = value / before - 1 if before else 0.0
    return rel if metric in LOWER_IS_BETTER else -rel


def judge(row: Row, metric: str = "rps", *, max_regression: float = 0.10,
          min_runs: int = MIN_RUNS, max_pvalue: float = MAX_PVALUE, window: int = WINDOW,
          max_busy: float = MAX_BUSY_CORES) -> Verdict:
    """The CI verdict on a row's newest run (see the module's docstring)."""
    pts = row.points
    if len(pts) < min_runs:
        return Verdict(row, "too short", None, f"{len(pts)} runs, fewer than {min_runs}")
    newest = pts[-1]
    if newest.run.busy_cores is not None and newest.run.busy_cores > max_busy:
        return Verdict(row, "busy", None, f"the machine was busy during run #{newest.run.id} "
                       f"(other processes used {newest.run.busy_cores:.2f} cores, more than "
                       f"{max_busy:g})")
    status, change, a = decide(values_of(pts), metric, max_regression=max_regression,
                               min_runs=min_runs, max_pvalue=max_pvalue, window=window)
    if status == "unconfirmed":
        assert change is not None
        note = (f"the newest run alone is {change.regression(metric):.1%} worse than the runs "
                f"before it: one run cannot tell a step from an outlier; the next run decides")
    elif status == "regressed":
        assert change is not None
        note = (f"{change.regression(metric):.1%} worse since run #{pts[change.index].run.id}"
                f" (p = {change.pvalue:.1g})")
    elif change is not None:
        note = f"last change at run #{pts[change.index].run.id}: {change.rel:+.1%}"
    else:
        note = "no change point"
    if a is not None and len(pts) - 1 in a.outliers:
        note = "the newest run is an outlier: " + note
    return Verdict(row, status, change, note, a)
