"""`loadtnt history add|list|show|changes|check|export`: the subcommand, for loadtnt/cli.py to
register with add_parser(subparsers); history_main(argv) runs it on its own.

Exit codes: 0 done (``check``: no regression in the newest run); 1 ``check`` found the newest run
in a regression change point beyond ``--max-regression``; 2 bad input (an unreadable or foreign
history file, a result already added, an unknown row) or the ``history`` extra missing for a
command that needs it; 3 ``check`` cannot decide (a row with fewer than ``--min-runs`` runs, the
newest run alone departing from the runs before it, or a busy machine during the newest run).
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadtnt.history import detect, export
from loadtnt.history.store import (
    DEFAULT_DB,
    METRICS,
    DuplicateRun,
    HistoryError,
    Row,
    add_result,
    find_rows,
    newest_run,
    open_db,
    rows,
)
from loadtnt.report.compare import parse_fraction
from loadtnt.report.texttable import format_table

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT, EXIT_UNDECIDED = 0, 1, 2, 3


def _err(msg: str) -> int:
    print(f"loadtnt history: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _fmt(value: float, metric: str) -> str:
    if metric == "rps":
        return f"{value:,.0f}"
    return f"{value:,.0f} us" if value >= 100 else f"{value:.1f} us"


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The history's own errors as one line and exit 2 (an unusable file, the extra missing)."""
    def run(args: argparse.Namespace) -> int:
        try:
            return int(command(args))
        except (detect.MissingExtra, HistoryError) as e:
            return _err(str(e))
    return run


def _open(args: argparse.Namespace, create: bool = False) -> sqlite3.Connection:
    return open_db(args.db, create=create)


# --- add, list, show -------------------------------------------------------------------------

def cmd_add(args: argparse.Namespace) -> int:
    db = _open(args, create=True)
    code = EXIT_OK
    for path in args.results:
        try:
            added = add_result(db, path, commit=args.commit, label=args.label)
        except DuplicateRun as e:
            print(f"loadtnt history: {e}", file=sys.stderr)
            code = EXIT_BAD_INPUT
            continue
        except HistoryError as e:
            print(f"loadtnt history: {e}", file=sys.stderr)
            code = EXIT_BAD_INPUT
            continue
        print(f"run #{added.run_id}: {path}, {added.rows} rows, machine {added.machine}")
    return code


def cmd_list(args: argparse.Namespace) -> int:
    db = _open(args)
    got = rows(db, args.metric, any_machine=args.any_machine)
    if args.format == "json":
        print(json.dumps([{"row": r.key, "name": r.name, "machine": r.machine or None,
                           "runs": len(r.points), "first_run": r.points[0].run.id,
                           "newest_run": r.points[-1].run.id,
                           "newest": r.points[-1].mean} for r in got], indent=2))
        return EXIT_OK
    if not got:
        print("no runs yet (loadtnt history add RESULT.json)")
        return EXIT_OK
    print(format_table(["row", "scenario: server/driver/loop/op", "runs", "runs #",
                        f"newest {args.metric} (mean)"],
                       [[r.key, r.name, str(len(r.points)),
                         f"{r.points[0].run.id}..{r.points[-1].run.id}",
                         _fmt(r.points[-1].mean, args.metric)] for r in got],
                       [False, False, True, False, True]))
    machines = {r.machine for r in got if r.machine}
    if machines:
        print(f"\n{len(machines)} machines, each row's history kept apart (row@machine); "
              f"--any-machine merges them")
    return EXIT_OK


def _pick(args: argparse.Namespace, all_rows: list[Row]) -> Row | None:
    found = find_rows(all_rows, args.row)
    if len(found) != 1:
        what = "no row" if not found else f"{len(found)} rows ({', '.join(r.key for r in found)})"
        _err(f"{what} matches {args.row!r}; `loadtnt history list` shows them")
        return None
    return found[0]


def cmd_show(args: argparse.Namespace) -> int:
    db = _open(args)
    row = _pick(args, rows(db, args.metric, any_machine=args.any_machine))
    if row is None:
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps({"row": row.key, "name": row.name, "metric": args.metric, "points": [
            {"run": p.run.id, "commit": p.run.commit, "added_at": p.run.added_at,
             "started_at": p.run.started_at, "machine": p.run.machine,
             "busy_cores": p.run.busy_cores, "trials": p.values, "mean": p.mean, "median": p.median,
             "min": p.low, "max": p.high} for p in row.points]}, indent=2))
        return EXIT_OK
    print(f"{row.name} ({args.metric}), row {row.key}")
    print(format_table(
        ["run", "commit", "started", "trials", "mean", "median", "min..max", "spread", "busy"],
        [[f"#{p.run.id}", (p.run.commit or "-")[:12], (p.run.started_at or p.run.added_at),
          str(len(p.values)), _fmt(p.mean, args.metric), _fmt(p.median, args.metric),
          f"{_fmt(p.low, args.metric)}..{_fmt(p.high, args.metric)}",
          f"±{(p.high - p.low) / 2 / p.mean:.1%}" if p.mean else "-",
          "-" if p.run.busy_cores is None else f"{p.run.busy_cores:.2f}"]
         for p in row.points], [False, False, False, True, True, True, True, True, True]))
    return EXIT_OK


# --- changes, check --------------------------------------------------------------------------

def _change_json(row: Row, c: detect.Change, metric: str) -> dict[str, Any]:
    run = row.points[c.index].run
    return {"row": row.key, "name": row.name, "metric": metric, "run": run.id,
            "commit": run.commit, "index": c.index, "mean_before": c.mean_before,
            "std_before": c.std_before, "mean_after": c.mean_after, "std_after": c.std_after,
            "change": c.rel, "regression": c.regression(metric) > 0,
            "pvalue": None if math.isnan(c.pvalue) else c.pvalue}


def cmd_changes(args: argparse.Namespace) -> int:
    db = _open(args)
    detect.require_otava()
    all_rows = rows(db, args.metric, any_machine=args.any_machine)
    if args.row:
        all_rows = find_rows(all_rows, args.row)
    found: list[tuple[Row, detect.Change]] = []
    extra: list[dict[str, Any]] = []
    for row in all_rows:
        a = detect.analyze(detect.values_of(row.points), max_pvalue=args.max_pvalue,
                           magnitude=args.magnitude, window=args.window)
        found += [(row, c) for c in a.changes]
        for i in a.outliers:
            extra.append({"row": row.key, "name": row.name, "outlier_run": row.points[i].run.id})
        if a.unconfirmed is not None:
            extra.append({"row": row.key, "name": row.name,
                          "unconfirmed_run": row.points[a.unconfirmed.index].run.id,
                          "change": a.unconfirmed.rel})
    if args.format == "json":
        print(json.dumps({"metric": args.metric, "max_pvalue": args.max_pvalue,
                          "magnitude": args.magnitude,
                          "changes": [_change_json(r, c, args.metric) for r, c in found],
                          "outliers": [e for e in extra if "outlier_run" in e],
                          "unconfirmed": [e for e in extra if "unconfirmed_run" in e]},
                         indent=2))
        return EXIT_OK
    if not found:
        print(f"no change points ({args.metric}, p < {args.max_pvalue:g}) in {len(all_rows)} rows")
    else:
        print(format_table(
            ["row", "name", "from run", "commit", "before (mean ± sd)", "after (mean ± sd)",
             "change", "p-value"],
            [[r.key, r.name, f"#{r.points[c.index].run.id}",
              (r.points[c.index].run.commit or "-")[:12],
              f"{_fmt(c.mean_before, args.metric)} ± {c.std_before / c.mean_before:.1%}",
              f"{_fmt(c.mean_after, args.metric)} ± {c.std_after / c.mean_after:.1%}",
              f"{c.rel:+.1%}" + (" worse" if c.regression(args.metric) > 0 else " better"),
              f"{c.pvalue:.2g}"] for r, c in found],
            [False, False, True, False, True, True, True, True]))
    for e in extra:
        if "outlier_run" in e:
            print(f"{e['row']} {e['name']}: run #{e['outlier_run']} is an outlier "
                  f"(not a change)")
        else:
            print(f"{e['row']} {e['name']}: run #{e['unconfirmed_run']}, the newest, departs "
                  f"{e['change']:+.1%} alone (unconfirmed until the next run)")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    db = _open(args)
    detect.require_otava()
    newest = newest_run(db)
    if newest is None:
        print("CANNOT DECIDE: the history is empty")
        return EXIT_UNDECIDED
    all_rows = [r for r in rows(db, args.metric, machine=None if args.any_machine
                                else newest.machine, any_machine=args.any_machine)
                if r.points and r.points[-1].run.id == newest.id]
    if args.row:
        all_rows = find_rows(all_rows, args.row)
    verdicts = [detect.judge(r, args.metric, max_regression=args.max_regression,
                             min_runs=args.min_runs, max_pvalue=args.max_pvalue,
                             window=args.window, max_busy=args.max_busy) for r in all_rows]
    bad = [v for v in verdicts if v.status == "regressed"]
    busy = [v for v in verdicts if v.status == "busy"]
    undecided = [v for v in verdicts if v.exit_code == EXIT_UNDECIDED]
    code = (EXIT_UNDECIDED if busy or not verdicts else EXIT_REGRESSION if bad
            else EXIT_UNDECIDED if undecided else EXIT_OK)
    if args.format == "json":
        print(json.dumps({"exit": code, "newest_run": newest.id, "commit": newest.commit,
                          "machine": newest.machine, "metric": args.metric,
                          "max_regression": args.max_regression, "rows": [
                              {"row": v.row.key, "name": v.row.name, "status": v.status,
                               "runs": len(v.row.points), "newest": v.row.points[-1].mean,
                               "note": v.note,
                               "change": _change_json(v.row, v.change, args.metric)
                               if v.change is not None else None} for v in verdicts]},
                         indent=2))
        return code
    print(f"newest run #{newest.id} (commit {newest.commit or '-'}, machine {newest.machine}), "
          f"{args.metric}, --max-regression {args.max_regression:.0%}")
    print(format_table(
        ["row", "name", "runs", "newest", "verdict", "why"],
        [[v.row.key, v.row.name, str(len(v.row.points)),
          _fmt(v.row.points[-1].mean, args.metric), v.status, v.note] for v in verdicts],
        [False, False, True, True, False, False]))
    if busy:
        print("CANNOT DECIDE: " + busy[0].note
              + (f" ({len(bad)} rows read as regressed)" if bad else ""))
    elif not verdicts:
        print("CANNOT DECIDE: no row of the newest run has a history on this machine")
    elif bad:
        print(f"FAIL: the newest run is in a regression beyond {args.max_regression:.0%} "
              f"({args.metric}): " + ", ".join(f"{v.row.key} {v.row.name}" for v in bad))
    elif undecided:
        print(f"CANNOT DECIDE: {len(undecided)} of {len(verdicts)} rows: "
              + "; ".join(sorted({v.status for v in undecided}))
              + f" (fewer than {args.min_runs} runs: --min-runs)" * any(
                  v.status == "too short" for v in undecided))
    else:
        print(f"OK: no regression beyond {args.max_regression:.0%} in the newest run")
    return code


# --- export ---------------------------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    db = _open(args)
    if args.format == "gbench":
        try:
            text = export.gbench(db, args.run)
        except KeyError:
            return _err(f"no run #{args.run} in {args.db}")
    elif args.format == "otava-csv":
        text, config = export.otava_csv(db, tuple(args.metrics or ["rps"]),
                                        any_machine=args.any_machine)
        if any(",," in line or line.endswith(",") for line in text.splitlines()[1:]):
            print("loadtnt history: some runs lack some rows: their cells are empty, which "
                  "otava refuses; export fewer rows' runs or add the same scenario each time",
                  file=sys.stderr)
        if args.otava_config:
            config["tests"]["loadtnt"]["file"] = str(Path(args.out).resolve()) if args.out \
                else "history.csv"
            Path(args.otava_config).write_text(json.dumps(config, indent=2) + "\n",
                                               encoding="utf-8")
    else:
        text = export.influx(db, any_machine=args.any_machine)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


# --- the parser ----------------------------------------------------------------------------

EPILOG = """examples (a CI job):
  loadtnt run seed --trials 5 --out results/new.json
  loadtnt history add results/new.json --commit "$GIT_SHA"
  loadtnt history check --max-regression 5%        (0 ok, 1 regression, 3 cannot decide)
  loadtnt history changes --format json
  loadtnt history export --format otava-csv --out history.csv --otava-config otava.yaml

change points need the history extra: pip install 'loadtnt[history]'
"""


def _common(p: argparse.ArgumentParser, *, metric: bool = True, machine: bool = True) -> None:
    p.add_argument("--db", type=Path, default=DEFAULT_DB,
                   help=f"the history file (default: {DEFAULT_DB})")
    if metric:
        p.add_argument("--metric", choices=list(METRICS), default="rps",
                       help="successful requests/s or a latency percentile (default: rps)")
    if machine:
        p.add_argument("--any-machine", action="store_true",
                       help="merge the runs of every machine into one history per row (by "
                            "default a row's history is per machine: CPU model and cores)")


def _detector(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-pvalue", type=float, default=detect.MAX_PVALUE,
                   help="Otava's significance level for a change point (default: %(default)s)")
    p.add_argument("--window", type=int, default=detect.WINDOW,
                   help="Otava's window, runs (default: %(default)s)")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "history", help="a performance history of results with change points (CI)",
        description="Store results run after run (SQLite), find change points per row with "
                    "Apache Otava, gate CI on the newest run, export the history.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="history_command", required=True)

    a = sub.add_parser("add", help="store result files as the newest runs (in order)")
    a.add_argument("results", nargs="+", metavar="RESULT.json")
    _common(a, metric=False, machine=False)
    a.add_argument("--commit", metavar="SHA", help="the commit measured (default: the "
                   "result's environment.commit)")
    a.add_argument("--label", metavar="TEXT", help="a note kept with the run")
    a.set_defaults(func=_guarded(cmd_add))

    ls = sub.add_parser("list", help="the rows and how many runs each has")
    _common(ls)
    ls.add_argument("--format", choices=["text", "json"], default="text")
    ls.set_defaults(func=_guarded(cmd_list))

    sh = sub.add_parser("show", help="one row's values over the runs, with the trials' spread")
    sh.add_argument("row", metavar="ROW", help="the row's id as `list` prints it, or a part "
                    "of its name")
    _common(sh)
    sh.add_argument("--format", choices=["text", "json"], default="text")
    sh.set_defaults(func=_guarded(cmd_show))

    ch = sub.add_parser("changes", help="change points per row (Apache Otava)")
    _common(ch)
    _detector(ch)
    ch.add_argument("--magnitude", type=parse_fraction, default=0.0, metavar="PCT",
                    help="drop change points smaller than this (Otava's --magnitude; "
                         "default 0)")
    ch.add_argument("--row", help="only this row (id or part of the name)")
    ch.add_argument("--format", choices=["text", "json"], default="text")
    ch.set_defaults(func=_guarded(cmd_changes))

    ck = sub.add_parser("check", help="CI gate on the newest run: 1 regression, 3 cannot "
                        "decide, 0 ok")
    _common(ck)
    _detector(ck)
    ck.add_argument("--max-regression", type=parse_fraction, default=0.10, metavar="PCT",
                    help="a change point worse than this fails (default: 10%%)")
    ck.add_argument("--min-runs", type=int, default=detect.MIN_RUNS,
                    help="fewer runs of a row than this cannot decide (default: %(default)s)")
    ck.add_argument("--max-busy", type=float, default=detect.MAX_BUSY_CORES, metavar="CORES",
                    help="cannot decide when other processes used more CPU than this during "
                         "the newest run (default: %(default)s cores)")
    ck.add_argument("--row", help="only this row (id or part of the name)")
    ck.add_argument("--format", choices=["text", "json"], default="text")
    ck.set_defaults(func=_guarded(cmd_check))

    ex = sub.add_parser("export", help="the history as Google Benchmark JSON, Otava CSV or "
                        "InfluxDB line protocol")
    ex.add_argument("--format", choices=["gbench", "otava-csv", "influx"], required=True)
    _common(ex, metric=False)
    ex.add_argument("--out", metavar="FILE", help="default: standard output")
    ex.add_argument("--run", type=int, help="gbench: this run (default: the newest)")
    ex.add_argument("--metrics", type=lambda s: [x.strip() for x in s.split(",")],
                    help="otava-csv: comma-separated, of rps,p50,p99,p99.9 (default: rps)")
    ex.add_argument("--otava-config", metavar="YAML",
                    help="otava-csv: also write Otava's configuration for the CSV here")
    ex.set_defaults(func=_guarded(cmd_export))

    return p


def history_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtnt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["history", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(history_main())
