"""`loadtnt compare BASE.json NEW.json`: per server set-up, driver, loop and op, the ratio of median
requests/s over trials, with a one-sided Mann-Whitney U test (loadtnt.report.significance) deciding whether the
change is real.

Verdicts: `improved` / `regressed` when the test says so at `alpha` (and, with a threshold, the
change is beyond it), `unchanged` otherwise, `too few trials` when no outcome of this many trials
could reach `alpha` (e.g. 2 vs 2: the smallest p is 1/6).

Relative mode divides each trial's requests/s by the reference driver's (asynctnt by default) in
the same file, server, loop, op and trial, and compares those ratios: a uniformly slower machine
cancels.

Server set-ups match by name; when each file has just one, they match whatever their names, so
that a run on Tarantool 2.6 compares with a run on 3.8 (the row's server reads `2.6 → 3.8`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from math import isnan

from loadtnt.report import significance
from loadtnt.report.load import Result, ResultFileError, load_result, median
from loadtnt.report.texttable import fmt_rps, format_table

IMPROVED = "improved"
REGRESSED = "regressed"
UNCHANGED = "unchanged"
TOO_FEW = "too few trials to tell"
MISSING = "missing"


@dataclass
class Row:
    driver: str
    loop: str
    op: str
    base: list[float]
    new: list[float]
    p_regressed: float
    p_improved: float
    verdict: str
    note: str = ""
    server: str = ""  # the set-up's name, or 'base → new' when two differently named ones match

    @property
    def base_median(self) -> float:
        return median(self.base)

    @property
    def new_median(self) -> float:
        return median(self.new)

    @property
    def ratio(self) -> float:
        b, n = self.base_median, self.new_median
        return n / b if b and not (isnan(b) or isnan(n)) else float("nan")


@dataclass
class Comparison:
    rows: list[Row]
    relative: bool
    reference: str
    alpha: float
    threshold: float

    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == REGRESSED]


def _samples(result: Result, server: str | None, driver: str, loop: str, op: str,
             relative: bool, reference: str) -> list[float]:
    mine = result.rps_by_trial(driver, loop, op, server)
    if not relative:
        return [mine[t] for t in sorted(mine)]
    ref = result.rps_by_trial(reference, loop, op, server)
    return [mine[t] / ref[t] for t in sorted(mine) if ref.get(t)]


def server_pairs(base: Result, new: Result) -> list[tuple[str, str | None, str | None]]:
    """``(label, base's set-up, new's set-up)`` to compare: by name, or the only one of each."""
    bs, ns = base.servers(), new.servers()
    if len(bs) == 1 and len(ns) == 1:
        label = ns[0] if bs[0] == ns[0] else f"{bs[0]} → {ns[0]}"
        return [(label, bs[0], ns[0])]
    return [(s, s if s in bs else None, s if s in ns else None) for s in _union(ns, bs)]


def judge(base: Sequence[float], new: Sequence[float], alpha: float,
          threshold: float = 0.0) -> tuple[str, float, float]:
    """Verdict and the one-sided p-values (regressed, improved).

    With a threshold t, "regressed" means NEW is significantly below BASE × (1 − t): the test runs
    on NEW / (1 − t) against BASE. "improved" likewise against BASE × (1 + t).
    """
    if not base or not new:
        return MISSING, float("nan"), float("nan")
    p_reg = significance.p_less([v / (1 - threshold) for v in new], base)
    p_imp = significance.p_greater([v / (1 + threshold) for v in new], base)
    if significance.min_p_value(len(base), len(new)) > alpha:
        return TOO_FEW, p_reg, p_imp
    if p_reg <= alpha:
        return REGRESSED, p_reg, p_imp
    if p_imp <= alpha:
        return IMPROVED, p_reg, p_imp
    return UNCHANGED, p_reg, p_imp


def compare(base: Result, new: Result, *, relative: bool = False, reference: str = "asynctnt",
            alpha: float = 0.05, threshold: float = 0.0) -> Comparison:
    """Match runs by (server, driver, loop, op) and judge each; rows in the new file's order."""
    if relative:
        for res in (base, new):
            if reference not in res.drivers():
                raise ResultFileError(
                    f"{res.path}: relative mode needs the reference driver {reference!r}, "
                    f"the file has {', '.join(res.drivers()) or 'no runs'}")
    rows: list[Row] = []
    keys = [(srv, d, lp, o) for srv in server_pairs(base, new)
            for lp in _union(new.loops(), base.loops())
            for o in _union(new.ops(), base.ops())
            for d in _union(new.drivers(), base.drivers())
            if not (relative and d == reference)]
    for (server, base_server, new_server), driver, loop, op in keys:
        b = (_samples(base, base_server, driver, loop, op, relative, reference)
             if base_server is not None else [])
        n = (_samples(new, new_server, driver, loop, op, relative, reference)
             if new_server is not None else [])
        if not b and not n:
            continue
        verdict, p_reg, p_imp = judge(b, n, alpha, threshold)
        note = ""
        if verdict == MISSING:
            note = "only in new" if n else "only in baseline"
        elif verdict == TOO_FEW:
            note = (f"{len(b)} vs {len(n)} trials: smallest possible p is "
                    f"{significance.min_p_value(len(b), len(n)):.3g} > {alpha:g}")
        rows.append(Row(driver, loop, op, b, n, p_reg, p_imp, verdict, note, server))
    if not any(r.verdict != MISSING for r in rows):
        raise ResultFileError(f"{base.path} and {new.path} have no (server, driver, loop, op) "
                              "in common")
    return Comparison(rows, relative, reference, alpha, threshold)


def _union(first: list[str], second: list[str]) -> list[str]:
    return list(dict.fromkeys(first + second))


def _fmt_value(v: float, relative: bool) -> str:
    if isnan(v):
        return "-"
    return f"{v:.3f}×" if relative else fmt_rps(v)


def _fmt_p(p: float) -> str:
    return "-" if isnan(p) else f"{p:.3f}"


def shows_server(c: Comparison) -> bool:
    """The server column is shown when set-ups differ between rows or between the files."""
    servers = {r.server for r in c.rows}
    return len(servers) > 1 or any("→" in s for s in servers)


def row_name(c: Comparison, r: Row) -> str:
    """``driver/loop/op``, led by the server set-up when the comparison has several."""
    return (f"{r.server}/" if shows_server(c) else "") + f"{r.driver}/{r.loop}/{r.op}"


def render(c: Comparison, base_label: str = "base", new_label: str = "new") -> str:
    unit = f"rps / {c.reference} rps" if c.relative else "median rps"
    lead = ["server"] if shows_server(c) else []
    headers = [*lead, "driver", "loop", "op", f"{base_label} ({unit})", f"{new_label}",
               "new/base", "trials", "p", "verdict"]
    rows = []
    for r in c.rows:
        p = r.p_regressed if r.new_median < r.base_median else r.p_improved
        verdict = r.verdict + (f" ({r.note})" if r.note else "")
        mark = {REGRESSED: "▼ ", IMPROVED: "▲ "}.get(r.verdict, "  ")
        rows.append([*([r.server] if lead else []), r.driver, r.loop, r.op,
                     _fmt_value(r.base_median, c.relative),
                     _fmt_value(r.new_median, c.relative),
                     "-" if isnan(r.ratio) else f"{r.ratio:.3f}",
                     f"{len(r.base)}/{len(r.new)}", _fmt_p(p), mark + verdict])
    table = format_table(headers, rows, right=[False] * len(lead) + [False, False, False, True,
                                                                    True, True, True, True, False])
    how = (f"one-sided Mann-Whitney U over trials, alpha={c.alpha:g}"
           + (f", threshold {c.threshold:.0%}" if c.threshold else ""))
    if c.relative:
        how += f"; relative to {c.reference} within each file"
    return f"{table}\n({how})"


def load_pair(base_path: str, new_path: str) -> tuple[Result, Result]:
    base = load_result(base_path)
    new = load_result(new_path)
    if base.label == new.label:
        base.label, new.label = "base", "new"
    return base, new


def parse_fraction(text: str) -> float:
    """'10%', '0.1' and '10' all mean 0.10."""
    s = text.strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if value >= 1 and not s.endswith("%"):
        value /= 100
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0% and 100%: {text!r}")
    return value


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--relative", action="store_true",
                   help="compare each driver's rps divided by the reference driver's rps in the "
                        "same file, so a slower machine does not read as a regression")
    p.add_argument("--reference", default="asynctnt", metavar="DRIVER",
                   help="reference driver for --relative (default: %(default)s)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="significance level of the one-sided test (default: %(default)s)")


def handle(args: argparse.Namespace) -> int:
    try:
        base, new = load_pair(args.base, args.new)
        c = compare(base, new, relative=args.relative, reference=args.reference,
                    alpha=args.alpha, threshold=args.threshold)
    except ResultFileError as e:
        print(f"loadtnt compare: {e}", file=sys.stderr)
        return 2
    print(render(c, base.label, new.label))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare", help="compare two result files: ratios and significance",
        description="Per server set-up, driver, loop and op: the ratio of median requests/s over trials "
                    "(NEW / BASE) and a one-sided Mann-Whitney U test over trials.",
        epilog="example:\n  loadtnt compare results/before.json results/after.json\n"
               "  loadtnt compare before.json after.json --relative --reference asynctnt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE.json")
    p.add_argument("new", metavar="NEW.json")
    add_common_options(p)
    p.add_argument("--threshold", type=parse_fraction, default=0.0, metavar="PCT",
                   help="only call a change beyond this size (e.g. 5%%) improved/regressed")
    p.set_defaults(func=handle)
    return p


def compare_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtnt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["compare", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(compare_main())
