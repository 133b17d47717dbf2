"""`loadtnt report RESULT.json … [--out DIR]`: the subcommand, for loadtnt/cli.py to register with
add_parser(subparsers), and report_main(argv) to run it on its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtnt.report.load import ResultFileError


def default_out_dir(first: str | Path) -> Path:
    """results/2026-11-25T0030.json -> results/2026-11-25T0030-report/"""
    p = Path(first)
    return p.with_name(p.stem + "-report")


REPORT_EXTRA = ("needs matplotlib (the `report` extra), which is not installed: "
                "pip install 'loadtnt[report]'")


def handle(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401 - the charts; nothing else of the report needs an extra
    except ImportError:
        print(f"loadtnt: error: loadtnt report {REPORT_EXTRA}", file=sys.stderr)
        return 2
    from loadtnt.report import build_report

    history = getattr(args, "history", None)
    if not args.results and history is None:
        print("loadtnt report: error: give result files, --history DB, or both", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else (default_out_dir(args.results[0]) if args.results
                                           else Path(str(history)).with_name("history-report"))
    try:
        paths = build_report(args.results, out) if args.results else []
        if history is not None:  # issue 24: trend charts of the history
            paths = _add_history(paths, out, history, bool(args.results))
    except ResultFileError as e:
        print(f"loadtnt report: {e}", file=sys.stderr)
        return 2
    except _history_error() as e:
        print(f"loadtnt report: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        for p in paths:
            print(p)
        if args.tables:
            from loadtnt.report import tables
            from loadtnt.report.load import load_results

            for t in tables.throughput_tables(load_results(args.results)):
                print()
                print(tables.render_text(t))
    return 0


# --- issue 24: `loadtnt report --history DB` (trend charts of the performance history) ---------

def _history_error() -> type[Exception]:
    from loadtnt.history.store import HistoryError

    return HistoryError


def _add_history(paths: list[Path], out: Path, db: str, with_results: bool) -> list[Path]:
    from loadtnt.history import trend

    made = trend.charts(db, out, note=lambda s: print(s, file=sys.stderr))
    report = out / "report.html"
    if with_results:
        trend.add_to_report(report, made, db)
        return [p for _, p in made] + paths
    trend.standalone(report, made, db)
    return [p for _, p in made] + [report]

# --- end of issue 24 ------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="charts (PNG), a self-contained HTML report and a Markdown summary",
        description="Draw throughput, latency-percentile, over-time and error charts from one or "
                    "more result files and write report.html (charts embedded) and summary.md. "
                    "Several files are compared side by side, labelled by file name.",
        epilog="example:\n  loadtnt report results/2026-11-25T0030.json --out results/report\n"
               "  loadtnt report results/before.json results/after.json --out /tmp/cmp",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="*", metavar="RESULT.json")
    p.add_argument("--history", metavar="DB", help="also a trend chart per row of this history "
                   "(loadtnt history), change points marked (issue 24)")
    p.add_argument("--out", metavar="DIR",
                   help="output directory (default: <first result>-report next to it)")
    p.add_argument("--tables", action="store_true",
                   help="also print the seed-style throughput tables")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=handle)
    return p


def report_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtnt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(report_main())
