"""`loadtnt check NEW.json --baseline BASE.json [--max-regression 10%]`: the CI gate.

Exit 1 only when some (server, driver, loop, op) is significantly slower than the baseline beyond the
allowed regression: the one-sided Mann-Whitney U test of NEW / (1 − max_regression) against BASE
over trials (see loadtnt.report.compare.judge). Noise between trials, a change within the threshold, or
too few trials to tell never fail the build; the table says which is which.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtnt.report.compare import (
    TOO_FEW,
    add_common_options,
    compare,
    parse_fraction,
    render,
    row_name,
)
from loadtnt.report.load import Result, ResultFileError, load_result


def check(new: Result | str | Path, baseline: Result | str | Path, max_regression: float = 0.10,
          relative: bool = False, *, reference: str = "asynctnt", alpha: float = 0.05,
          out=None) -> int:
    """Print the comparison table and return the exit code: 1 on a significant regression beyond
    `max_regression`, 0 otherwise (2 when the files cannot be compared)."""
    out = out or sys.stdout
    try:
        base_r = baseline if isinstance(baseline, Result) else load_result(baseline)
        new_r = new if isinstance(new, Result) else load_result(new)
        c = compare(base_r, new_r, relative=relative, reference=reference, alpha=alpha,
                    threshold=max_regression)
    except ResultFileError as e:
        print(f"loadtnt check: {e}", file=sys.stderr)
        return 2
    base_label, new_label = base_r.label, new_r.label
    if base_label == new_label:
        base_label, new_label = "baseline", "new"
    print(render(c, base_label, new_label), file=out)
    bad = c.regressions()
    if bad:
        names = ", ".join(f"{row_name(c, r)} ({r.ratio:.2f}×)" for r in bad)
        print(f"FAIL: significant regression beyond {max_regression:.0%}: {names}", file=out)
        return 1
    few = sum(r.verdict == TOO_FEW for r in c.rows)
    tail = f" ({few} rows had too few trials to tell; run more trials)" if few else ""
    print(f"OK: no significant regression beyond {max_regression:.0%}{tail}", file=out)
    return 0


def handle(args: argparse.Namespace) -> int:
    return check(args.new, args.baseline, args.max_regression, args.relative,
                 reference=args.reference, alpha=args.alpha)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check", help="CI gate: exit 1 on a significant regression against a baseline",
        description="Compare NEW with BASELINE per server, driver, loop and op; exit 1 only when one is "
                    "significantly slower than the baseline by more than --max-regression.",
        epilog="example (CI job):\n"
               "  loadtnt run scenarios/seed.yaml --trials 5 --out results/new.json\n"
               "  loadtnt check results/new.json --baseline results/baseline.json "
               "--max-regression 10% --relative",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("new", metavar="NEW.json")
    p.add_argument("--baseline", required=True, metavar="BASE.json")
    p.add_argument("--max-regression", type=parse_fraction, default=0.10, metavar="PCT",
                   help="allowed slow-down before failing, e.g. 10%% (default: 10%%)")
    add_common_options(p)
    p.set_defaults(func=handle)
    return p


def check_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtnt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["check", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(check_main())

