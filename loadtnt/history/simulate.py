"""How well `loadtnt history check` finds a regression, measured on simulated histories, beside
what the pairwise gate (`loadtnt check` of each run against the previous one) says of the same
runs.

``python -m loadtnt.history.simulate [--sims N]`` prints the table that README's history section
holds. Each history has 40 runs of one row, each run ``trials`` trials whose rps is the run's true
rps × a uniform noise of ±``noise``; the cases change the true rps: none, a 10 % step down from
run 25 on, a drift of 0.5 % per run from run 1 (−18 % by run 40), one outlier run (run 20 at
0.7×). The gates are run as CI runs them: after every run from run ``min_runs`` (8) on, on the
history so far. Seeded: the same arguments print the same table. Needs the history extra.

Per case and gate: **detected** — the share of histories where the gate failed (exit 1) within 3
runs of the step (at runs 25..28; for the drift: at any run); **delay** — the median number of
runs after run 25 before it failed (for the drift: the median run at which it first failed, and
the drift so far); **false alarms / run** — exits 1 where nothing had changed (every run of "no
change" and "outlier", the runs before the step), per run checked; **cannot decide / run** —
exits 3 among those; for "outlier" also how often `history changes` on the whole 40 runs reported
a change point at the outlier (runs 20 or 21).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loadtnt.history import detect

RUNS = 40
STEP_AT = 25
OUTLIER_AT = 20
TRIALS = 5


@dataclass(frozen=True)
class Case:
    name: str
    factor: Callable[[int], float]  # true rps factor of run k (1-based)
    has_change: bool


CASES = [
    Case("no change", lambda k: 1.0, False),
    Case(f"10% step at run {STEP_AT}", lambda k: 0.9 if k >= STEP_AT else 1.0, True),
    Case("drift 0.5%/run", lambda k: 0.995 ** (k - 1), True),
    Case(f"one outlier (run {OUTLIER_AT} at 0.7x)",
         lambda k: 0.7 if k == OUTLIER_AT else 1.0, False),
]


def history(case: Case, rng: random.Random, *, trials: int = TRIALS,
            noise: float = 0.10) -> list[list[float]]:
    true = rng.uniform(20_000, 100_000)
    return [[true * case.factor(k) * rng.uniform(1 - noise, 1 + noise) for _ in range(trials)]
            for k in range(1, RUNS + 1)]


# --- the two gates ------------------------------------------------------------------------

def history_gate(max_regression: float) -> Callable[[list[list[float]]], str]:
    def gate(runs: list[list[float]]) -> str:
        status, _c, _a = detect.decide([statistics.fmean(t) for t in runs], "rps",
                                       max_regression=max_regression)
        return {"regressed": "fail", "ok": "pass"}.get(status, "undecided")
    return gate


def pairwise_gate(max_regression: float) -> Callable[[list[list[float]]], str]:
    from loadtnt.report.load import Result, Run
    from loadtnt.report.simulate import Gate, outcome

    gate5 = Gate("pairwise", TRIALS, "holm", False)

    def result(label: str, trials: Sequence[float]) -> Result:
        runs = [Run(driver="d", loop="uvloop", trial=t, op="op", requests=int(v), errors=0,
                    errors_by_kind={}, duration_s=1.0, rps=v, latency_us={}, histogram=None,
                    service_histogram=None, timeline=[], warnings=[])
                for t, v in enumerate(trials, 1)]
        return Result(path=Path(f"{label}.json"), label=label, scenario={}, environment={},
                      runs=runs)

    def gate(runs: list[list[float]]) -> str:
        return outcome(gate5, result("base", runs[-2]), result("new", runs[-1]), max_regression)
    return gate


@dataclass
class Tally:
    histories: int = 0
    detected: int = 0
    delays: list[int] = field(default_factory=list)
    drift_at: list[int] = field(default_factory=list)
    checked: int = 0  # runs checked where nothing had changed
    false_alarms: int = 0
    undecided: int = 0
    outlier_as_change: int = 0


def measure(case: Case, gate: Callable[[list[list[float]]], str], *, sims: int,
            seed: int = 24, noise: float = 0.10, min_runs: int = detect.MIN_RUNS,
            changes_on_outlier: bool = False) -> Tally:
    rng = random.Random(seed)
    t = Tally()
    for _ in range(sims):
        h = history(case, rng, noise=noise)
        t.histories += 1
        first_fail = None
        for k in range(min_runs, RUNS + 1):
            changed = case.has_change and (case.name.startswith("drift") or k >= STEP_AT)
            if case.name.startswith("10%") and k > STEP_AT + 3:
                break
            got = gate(h[:k])
            if changed:
                if got == "fail" and first_fail is None:
                    first_fail = k
                continue
            t.checked += 1
            t.false_alarms += got == "fail"
            t.undecided += got == "undecided"
        if first_fail is not None:
            t.detected += 1
            if case.name.startswith("drift"):
                t.drift_at.append(first_fail)
            else:
                t.delays.append(first_fail - STEP_AT)
        if changes_on_outlier:
            a = detect.analyze([statistics.fmean(x) for x in h])
            t.outlier_as_change += any(c.index + 1 in (OUTLIER_AT, OUTLIER_AT + 1)
                                       for c in a.changes)
    return t


def _cell(case: Case, t: Tally) -> str:
    parts = []
    if case.name.startswith("10%"):
        parts.append(f"detected {t.detected / t.histories:.1%}")
        if t.delays:
            parts.append(f"delay {statistics.median(t.delays):g} "
                         f"(max {max(t.delays)})")
    elif case.name.startswith("drift"):
        parts.append(f"detected {t.detected / t.histories:.1%}")
        if t.drift_at:
            at = statistics.median(t.drift_at)
            parts.append(f"at run {at:g} (−{1 - 0.995 ** (at - 1):.0%} so far)")
    if t.checked:
        parts.append(f"false alarms {t.false_alarms / t.checked:.2%}/run")
        if t.undecided:
            parts.append(f"cannot decide {t.undecided / t.checked:.1%}/run")
    if case.name.startswith("one outlier") and t.outlier_as_change is not None \
            and t.histories and t.outlier_as_change >= 0:
        parts.append(f"outlier as a change {t.outlier_as_change / t.histories:.1%}")
    return ", ".join(parts)


def table(sims: int, noise: float = 0.10) -> str:
    detect.require_otava()
    gates = []
    for limit in (0.05, 0.10):
        gates.append((f"history check, --max-regression {limit:.0%}", history_gate(limit), True))
        gates.append((f"pairwise check vs the previous run, --max-regression {limit:.0%}",
                      pairwise_gate(limit), False))
    lines = [f"| gate ({RUNS} runs of {TRIALS} trials, ±{noise:.0%} trial noise, {sims} "
             "histories) | " + " | ".join(c.name for c in CASES) + " |",
             "| --- |" + " --- |" * len(CASES)]
    for name, gate, is_history in gates:
        cells = []
        for case in CASES:
            t = measure(case, gate, sims=sims, noise=noise,
                        changes_on_outlier=is_history and case.name.startswith("one outlier"))
            if not is_history:
                t.outlier_as_change = -1
            cells.append(_cell(case, t))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtnt.history.simulate",
                                description="detection and false-alarm rates of "
                                            "loadtnt history check beside the pairwise check")
    p.add_argument("--sims", type=int, default=500)
    p.add_argument("--noise", type=float, default=0.10)
    args = p.parse_args(argv)
    try:
        print(table(args.sims, args.noise))
    except detect.MissingExtra as e:
        print(f"loadtnt: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
