"""How often the gate fails when it should not, and passes when it should not: `check`'s own
decision (loadtnt.report.compare, then loadtnt.report.check's exit codes) on simulated suites.

``python -m loadtnt.report.simulate [--sims N]`` prints the table that README's CI section holds.
Each simulated suite has ``rows`` (driver, op) rows, each trial's rps the row's true rps × a
uniform noise of ±``noise``; a scenario changes the new file's true rps (a slower machine, one
row halved, one slow baseline trial). Seeded: the same arguments print the same table.
"""
from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtnt.report.check import undecided
from loadtnt.report.compare import compare
from loadtnt.report.load import Result, Run


@dataclass(frozen=True)
class Gate:
    name: str
    trials: int
    correction: str  # "holm" or "none"
    undecided_passes: bool  # the old gate: exit 0 when it could not decide


BEFORE = Gate("before: 3 trials, alpha 0.05 per row, 'too few' passes", 3, "none", True)
AFTER = [Gate(f"after: {t} trials, Holm", t, "holm", False) for t in (3, 6, 12)]

# scenario: (name, new/base factor of row i, slow baseline trial?)
Factor = Callable[[int], float]
SCENARIOS: list[tuple[str, Factor, bool, bool]] = [
    # name, factor(row), one slow baseline trial in row 0, a failure is right
    ("no change", lambda i: 1.0, False, False),
    ("machine 8% slower (within the 10% allowed)", lambda i: 0.92, False, False),
    ("one row 2x slower", lambda i: 0.5 if i == 0 else 1.0, False, True),
    ("one row 2x slower, one slow baseline trial", lambda i: 0.5 if i == 0 else 1.0, True, True),
]


def _result(label: str, rows: int, trials: int, rps: Sequence[float], noise: float,
            rng: random.Random, slow_trial: bool = False) -> Result:
    runs = []
    for i in range(rows):
        for t in range(1, trials + 1):
            v = rps[i] * rng.uniform(1 - noise, 1 + noise)
            if slow_trial and i == 0 and t == 1:
                v *= 0.4  # one trial that met a busy machine
            runs.append(Run(driver="d", loop="uvloop", trial=t, op=f"op{i}", requests=int(v),
                            errors=0, errors_by_kind={}, duration_s=1.0, rps=v, latency_us={},
                            histogram=None, service_histogram=None, timeline=[], warnings=[]))
    return Result(path=Path(f"{label}.json"), label=label, scenario={}, environment={},
                  runs=runs)


def outcome(gate: Gate, base: Result, new: Result, threshold: float) -> str:
    """'fail', 'pass' or 'undecided', as check's exit code would say."""
    c = compare(base, new, threshold=threshold, correction=gate.correction, intervals=False)
    if c.regressions():
        return "fail"
    if undecided(c, base, new, max_busy=float("inf")) and not gate.undecided_passes:
        return "undecided"
    return "pass"


def simulate(gate: Gate, factor: Factor, slow_trial: bool, *, rows: int = 36,
             noise: float = 0.10, threshold: float = 0.10, sims: int = 1000,
             seed: int = 14) -> dict[str, float]:
    rng = random.Random(seed)
    counts = {"fail": 0, "pass": 0, "undecided": 0}
    for _ in range(sims):
        true = [rng.uniform(20_000, 100_000) for _ in range(rows)]
        base = _result("base", rows, gate.trials, true, noise, rng, slow_trial)
        new = _result("new", rows, gate.trials, [v * factor(i) for i, v in enumerate(true)],
                      noise, rng)
        counts[outcome(gate, base, new, threshold)] += 1
    return {k: v / sims for k, v in counts.items()}


def table(sims: int, rows: int = 36, noise: float = 0.10) -> str:
    lines = [f"| gate ({rows} rows, ±{noise:.0%} trial noise, --max-regression 10%) | "
             + " | ".join(name for name, *_ in SCENARIOS) + " |",
             "| --- |" + " --- |" * len(SCENARIOS)]
    for gate in [BEFORE, *AFTER]:
        cells = []
        for _name, factor, slow, should_fail in SCENARIOS:
            r = simulate(gate, factor, slow, rows=rows, noise=noise, sims=sims)
            wrong = r["pass"] if should_fail else r["fail"]
            cell = f"{'miss' if should_fail else 'false alarm'} {wrong:.1%}"
            if r["undecided"]:
                cell += f", cannot decide {r['undecided']:.0%}"
            cells.append(cell)
        lines.append(f"| {gate.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtnt.report.simulate",
                                description="false-alarm and miss rates of loadtnt check")
    p.add_argument("--sims", type=int, default=1000)
    p.add_argument("--rows", type=int, default=36)
    p.add_argument("--noise", type=float, default=0.10)
    args = p.parse_args(argv)
    print(table(args.sims, args.rows, args.noise))
    return 0


if __name__ == "__main__":
    sys.exit(main())
