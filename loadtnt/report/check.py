"""`loadtnt check NEW.json --baseline BASE.json [--max-regression 10%]`: the CI gate.

Exit codes: 1 when some (server, driver, loop, op) is significantly worse than the baseline beyond
the allowed regression — the one-sided Mann-Whitney U test of NEW / (1 − max_regression) against
BASE over trials, Holm-corrected across the rows (see loadtnt.report.compare) — or its error share
rose; 3 when the gate cannot decide: too few trials for the level a row is tested at, an op of the
baseline missing from the new file, a partial file, or a machine that was busy during a window
(other processes used more than ``--max-busy`` cores); 0 only when every row could have failed
and none did; 2 when the files cannot be compared. A regression found wins over the other
"cannot decide" reasons, but not over a busy machine (the other processes may have caused it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtnt.report.compare import (
    MISSING,
    TOO_FEW,
    add_common_options,
    compare,
    parse_fraction,
    render,
    row_name,
)
from loadtnt.report.load import Result, ResultFileError, load_result

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT, EXIT_UNDECIDED = 0, 1, 2, 3
MAX_BUSY_CORES = 0.2


def check(new: Result | str | Path, baseline: Result | str | Path, max_regression: float = 0.10,
          relative: bool = False, *, reference: str = "asynctnt", alpha: float = 0.05,
          metric: str | None = None, correction: str = "holm", max_error_rise: float = 0.01,
          max_busy: float = MAX_BUSY_CORES, out=None) -> int:
    """Print the comparison table and return the exit code (see the module's docstring)."""
    out = out or sys.stdout
    try:
        base_r = baseline if isinstance(baseline, Result) else load_result(baseline)
        new_r = new if isinstance(new, Result) else load_result(new)
        c = compare(base_r, new_r, relative=relative, reference=reference, alpha=alpha,
                    threshold=max_regression, metric=metric, correction=correction,
                    max_error_rise=max_error_rise)
    except ResultFileError as e:
        print(f"loadtnt check: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    base_label, new_label = base_r.label, new_r.label
    if base_label == new_label:
        base_label, new_label = "baseline", "new"
    print(render(c, base_label, new_label), file=out)
    bad = c.regressions()
    busy = busy_reasons(base_r, new_r, max_busy)
    if busy:  # a regression or its absence may be the other processes' doing
        print("CANNOT DECIDE: " + "; ".join(busy)
              + (f" ({len(bad)} rows read as regressed)" if bad else ""), file=out)
        return EXIT_UNDECIDED
    if bad:
        names = ", ".join(f"{row_name(c, r)} ({r.ratio:.2f}×"
                          + (f", {r.note.split(';')[0]}" if r.note.startswith("errors") else "")
                          + ")" for r in bad)
        print(f"FAIL: significant regression beyond {max_regression:.0%} ({c.metric}): {names}",
              file=out)
        return EXIT_REGRESSION
    reasons = undecided(c, base_r, new_r, max_busy)
    if reasons:
        print("CANNOT DECIDE: " + "; ".join(reasons), file=out)
        return EXIT_UNDECIDED
    print(f"OK: no significant regression beyond {max_regression:.0%} ({c.metric})", file=out)
    return EXIT_OK


def undecided(c, base: Result, new: Result, max_busy: float) -> list[str]:
    """Why the gate could not have failed (empty: it could have)."""
    reasons = []
    few = [r for r in c.rows if r.verdict == TOO_FEW]
    if few:
        reasons.append(f"{len(few)} of {len(c.rows)} rows had too few trials to tell "
                       f"({few[0].note}); run more trials")
    gone = [r for r in c.rows if r.verdict == MISSING and r.note == "only in baseline"]
    if gone:
        reasons.append("missing from the new file: " + ", ".join(row_name(c, r) for r in gone))
    for res, what in ((base, "baseline"), (new, "new")):
        if res.partial:
            reasons.append(f"the {what} file is partial (the run was interrupted)")
    return reasons + busy_reasons(base, new, max_busy)


def busy_reasons(base: Result, new: Result, max_busy: float) -> list[str]:
    reasons = []
    for res, what in ((base, "baseline"), (new, "new")):
        busy = [r.other_cpu_cores for r in res.runs
                if r.other_cpu_cores is not None and r.other_cpu_cores > max_busy]
        if busy:
            reasons.append(f"the machine was busy during the {what} run (other processes used "
                           f"up to {max(busy):.2f} cores, more than {max_busy:g})")
    return reasons


# `--bisect` (issue 24): the gate's exit codes as `git bisect run` reads them: 0 good, 1 bad,
# 125 skip this commit (the gate cannot decide, or the files could not be compared: a commit
# that does not build writes no result). 2 and 3 would read as "bad" to git bisect.
BISECT_EXITS = {EXIT_OK: 0, EXIT_REGRESSION: 1, EXIT_BAD_INPUT: 125, EXIT_UNDECIDED: 125}


def handle(args: argparse.Namespace) -> int:
    code = check(args.new, args.baseline, args.max_regression, args.relative,
                 reference=args.reference, alpha=args.alpha, metric=args.metric,
                 correction=args.correction, max_error_rise=args.max_error_rise,
                 max_busy=args.max_busy)
    return BISECT_EXITS[code] if getattr(args, "bisect", False) else code


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check", help="CI gate: exit 1 on a significant regression against a baseline, "
                      "3 when it cannot decide",
        description="Compare NEW with BASELINE per server, driver, loop and op; exit 1 when one is "
                    "significantly worse than the baseline by more than --max-regression (or its "
                    "errors rose), 3 when the gate cannot decide (too few trials, a missing op, "
                    "a partial file, a busy machine), 0 when it could have failed and did not.",
        epilog="example (CI job):\n"
               "  loadtnt run scenarios/seed.yaml --trials 5 --out results/new.json\n"
               "  loadtnt check results/new.json --baseline results/baseline.json "
               "--max-regression 10% --relative",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("new", metavar="NEW.json")
    p.add_argument("--baseline", required=True, metavar="BASE.json")
    p.add_argument("--max-regression", type=parse_fraction, default=0.10, metavar="PCT",
                   help="allowed slow-down before failing, e.g. 10%% (default: 10%%)")
    p.add_argument("--max-busy", type=float, default=MAX_BUSY_CORES, metavar="CORES",
                   help="cannot decide when other processes used more CPU than this during a "
                        "window (default: %(default)s cores)")
    add_common_options(p)
    p.add_argument("--bisect", action="store_true",
                   help="exit as `git bisect run` expects: 0 good, 1 bad (a regression), 125 "
                        "cannot decide (skip the commit)")
    p.set_defaults(func=handle)
    return p


def check_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtnt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["check", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(check_main())

