"""`loadtnt compare BASE.json NEW.json`: per server set-up, driver, loop and op, the ratio of the
medians over trials of a metric — successful requests/s, or a latency percentile (`--metric`;
by default rps in closed loop, the corrected p99 in open loop) — with a one-sided Mann-Whitney U
test (loadtnt.report.significance) deciding whether the change is real, and the ratio's 95 %
bootstrap interval as the effect size.

Verdicts: `improved` / `regressed` when the test says so at `alpha` (and, with a threshold, the
change is beyond it), `unchanged` otherwise, `too few trials` when no outcome of this many trials
could reach the level the row is tested at (e.g. 2 vs 2: the smallest p is 1/6). The rows are a
family: by default the level is Holm-corrected across them (the smallest p is tested at
alpha/m, the next at alpha/(m-1), …), so a suite of 36 unchanged rows does not fail one time in
ten. A rise in the error share beyond `max_error_rise` is a regression too, whatever the metric.

Relative mode divides each trial's requests/s by the reference driver's (asynctnt by default) in
the same file, server, loop, op and trial, and compares those ratios: a uniformly slower machine
cancels.

Server set-ups match by name; when each file has just one, they match whatever their names, so
that a run on Tarantool 2.6 compares with a run on 3.8 (the row's server reads `2.6 → 3.8`).
"""

from __future__ import annotations

import argparse
import random
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

METRICS = {"rps": None, "p50": "p50", "p99": "p99", "p99.9": "p999"}  # → latency_us key
BOOTSTRAP = 2000


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
    ci: tuple[float, float] = (float("nan"), float("nan"))  # 95 % bootstrap interval of ratio
    base_errors: float = 0.0  # median error share over trials
    new_errors: float = 0.0

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
    metric: str = "rps"
    correction: str = "holm"

    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == REGRESSED]


def _values(result: Result, server: str | None, driver: str, loop: str, op: str,
            metric: str) -> dict[int, float]:
    """The metric per trial (trials without it, e.g. no successful request, left out)."""
    key = METRICS[metric]
    out = {}
    for r in result.select(driver=driver, loop=loop, op=op, server=server):
        v = r.rps if key is None else r.latency_us.get(key)
        if v is not None:
            out[r.trial] = float(v)
    return out


def _samples(result: Result, server: str | None, driver: str, loop: str, op: str,
             relative: bool, reference: str, metric: str = "rps") -> list[float]:
    mine = _values(result, server, driver, loop, op, metric)
    if not relative:
        return [mine[t] for t in sorted(mine)]
    ref = _values(result, server, reference, loop, op, metric)
    return [mine[t] / ref[t] for t in sorted(mine) if ref.get(t)]


def _error_share(result: Result, server: str | None, driver: str, loop: str, op: str) -> float:
    runs = result.select(driver=driver, loop=loop, op=op, server=server)
    return median(r.error_share for r in runs) if runs else 0.0


def bootstrap_ratio(base: Sequence[float], new: Sequence[float], n: int = BOOTSTRAP,
                    seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of median(new) / median(base), resampling the trials
    of each side (seeded: the same files give the same interval)."""
    if not base or not new:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    ratios = []
    for _ in range(n):
        b = median(rng.choices(base, k=len(base)))
        if b:
            ratios.append(median(rng.choices(new, k=len(new))) / b)
    if not ratios:
        return float("nan"), float("nan")
    ratios.sort()
    return ratios[int(0.025 * (len(ratios) - 1))], ratios[int(0.975 * (len(ratios) - 1))]


def server_pairs(base: Result, new: Result) -> list[tuple[str, str | None, str | None]]:
    """``(label, base's set-up, new's set-up)`` to compare: by name, or the only one of each."""
    bs, ns = base.servers(), new.servers()
    if len(bs) == 1 and len(ns) == 1:
        label = ns[0] if bs[0] == ns[0] else f"{bs[0]} → {ns[0]}"
        return [(label, bs[0], ns[0])]
    return [(s, s if s in bs else None, s if s in ns else None) for s in _union(ns, bs)]


def judge(base: Sequence[float], new: Sequence[float], alpha: float,
          threshold: float = 0.0, higher_is_better: bool = True) -> tuple[str, float, float]:
    """Verdict and the one-sided p-values (regressed, improved), for one row tested alone.

    With a threshold t, "regressed" means NEW is significantly below BASE × (1 − t): the test runs
    on NEW / (1 − t) against BASE. "improved" likewise against BASE × (1 + t). For a latency
    (lower is better) the directions swap: regressed is NEW above BASE × (1 + t).
    """
    if not base or not new:
        return MISSING, float("nan"), float("nan")
    if higher_is_better:
        p_reg = significance.p_less([v / (1 - threshold) for v in new], base)
        p_imp = significance.p_greater([v / (1 + threshold) for v in new], base)
    else:
        p_reg = significance.p_greater([v / (1 + threshold) for v in new], base)
        p_imp = significance.p_less([v / (1 - threshold) for v in new], base)
    if significance.min_p_value(len(base), len(new)) > alpha:
        return TOO_FEW, p_reg, p_imp
    if p_reg <= alpha:
        return REGRESSED, p_reg, p_imp
    if p_imp <= alpha:
        return IMPROVED, p_reg, p_imp
    return UNCHANGED, p_reg, p_imp


def holm(pvalues: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected, family-wise error at most ``alpha``."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    m = len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] <= alpha / (m - rank):
            rejected[i] = True
        else:
            break
    return rejected


def default_metric(result: Result) -> str:
    return "p99" if result.open_loop else "rps"


def compare(base: Result, new: Result, *, relative: bool = False, reference: str = "asynctnt",
            alpha: float = 0.05, threshold: float = 0.0, metric: str | None = None,
            correction: str = "holm", max_error_rise: float = 0.01,
            intervals: bool = True) -> Comparison:
    """Match runs by (server, driver, loop, op) and judge each; rows in the new file's order.

    ``correction``: "holm" (family-wise over the rows) or "none" (each row at ``alpha``).
    """
    metric = metric or default_metric(new)
    if metric not in METRICS:
        raise ResultFileError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
    higher = METRICS[metric] is None
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
        b = (_samples(base, base_server, driver, loop, op, relative, reference, metric)
             if base_server is not None else [])
        n = (_samples(new, new_server, driver, loop, op, relative, reference, metric)
             if new_server is not None else [])
        in_base = base_server is not None and bool(base.select(
            driver=driver, loop=loop, op=op, server=base_server))
        in_new = new_server is not None and bool(new.select(
            driver=driver, loop=loop, op=op, server=new_server))
        if not in_base and not in_new:
            continue
        verdict, p_reg, p_imp = judge(b, n, alpha, threshold, higher)
        note = ""
        if not in_new:
            verdict, note = MISSING, "only in baseline"
        elif not in_base:
            verdict, note = MISSING, "only in new"
        row = Row(driver, loop, op, b, n, p_reg, p_imp, verdict, note, server,
                  bootstrap_ratio(b, n) if intervals else (float("nan"), float("nan")),
                  _error_share(base, base_server, driver, loop, op) if in_base else 0.0,
                  _error_share(new, new_server, driver, loop, op) if in_new else 0.0)
        rows.append(row)
    judged = [r for r in rows if r.verdict != MISSING and r.base and r.new]
    if not judged and not any(r.verdict != MISSING for r in rows):
        raise ResultFileError(f"{base.path} and {new.path} have no (server, driver, loop, op) "
                              "in common")
    # the family: a row is decidable when its best possible p passes the first Holm step
    level = alpha / len(judged) if correction == "holm" and judged else alpha
    for r in rows:
        if r.verdict == MISSING:
            continue
        if not r.base or not r.new:  # the metric is missing on a side (no successful request)
            r.verdict, r.note = TOO_FEW, "no value on one side"
            continue
        best = significance.min_p_value(len(r.base), len(r.new))
        if best > level:
            r.verdict = TOO_FEW
            r.note = (f"{len(r.base)} vs {len(r.new)} trials: smallest possible p is "
                      f"{best:.3g} > {level:.3g}"
                      + (f" (alpha {alpha:g} / {len(judged)} rows, Holm)" if level != alpha
                         else ""))
        else:
            r.verdict = UNCHANGED
    decidable = [r for r in judged if r.verdict == UNCHANGED]
    if correction == "holm":
        reg = holm([r.p_regressed for r in judged], alpha)
        imp = holm([r.p_improved for r in judged], alpha)
    else:
        reg = [r.p_regressed <= alpha for r in judged]
        imp = [r.p_improved <= alpha for r in judged]
    for r, is_reg, is_imp in zip(judged, reg, imp, strict=True):
        if r not in decidable:
            continue
        if is_reg:
            r.verdict = REGRESSED
        elif is_imp:
            r.verdict = IMPROVED
    for r in rows:  # more errors is worse, whatever the metric and the trials
        if r.verdict != MISSING and r.new_errors > r.base_errors + max_error_rise:
            r.verdict = REGRESSED
            r.note = (f"errors {r.base_errors:.1%} → {r.new_errors:.1%}"
                      + (f"; {r.note}" if r.note else ""))
    return Comparison(rows, relative, reference, alpha, threshold, metric, correction)


def _union(first: list[str], second: list[str]) -> list[str]:
    return list(dict.fromkeys(first + second))


def _fmt_value(v: float, relative: bool, metric: str = "rps") -> str:
    if isnan(v):
        return "-"
    if relative:
        return f"{v:.3f}×"
    return fmt_rps(v) if METRICS.get(metric) is None else f"{v:,.0f} µs"


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
    what = "rps" if METRICS.get(c.metric) is None else f"{c.metric} latency"
    unit = f"{what} / {c.reference} {what}" if c.relative else f"median {what}"
    lead = ["server"] if shows_server(c) else []
    headers = [*lead, "driver", "loop", "op", f"{base_label} ({unit})", f"{new_label}",
               "new/base [95% CI]", "errors", "trials", "p", "verdict"]
    rows = []
    for r in c.rows:
        worse = (r.new_median < r.base_median) == (METRICS.get(c.metric) is None)
        p = r.p_regressed if worse else r.p_improved
        verdict = r.verdict + (f" ({r.note})" if r.note else "")
        mark = {REGRESSED: "▼ ", IMPROVED: "▲ "}.get(r.verdict, "  ")
        ratio = "-" if isnan(r.ratio) else f"{r.ratio:.3f}"
        if not isnan(r.ci[0]):
            ratio += f" [{r.ci[0]:.2f}, {r.ci[1]:.2f}]"
        errors = ("-" if not (r.base_errors or r.new_errors)
                  else f"{r.base_errors:.1%} → {r.new_errors:.1%}")
        rows.append([*([r.server] if lead else []), r.driver, r.loop, r.op,
                     _fmt_value(r.base_median, c.relative, c.metric),
                     _fmt_value(r.new_median, c.relative, c.metric),
                     ratio, errors, f"{len(r.base)}/{len(r.new)}", _fmt_p(p), mark + verdict])
    table = format_table(headers, rows, right=[False] * len(lead) + [
        False, False, False, True, True, True, True, True, True, False])
    how = (f"one-sided Mann-Whitney U over trials, alpha={c.alpha:g}"
           + (" family-wise (Holm over the rows)" if c.correction == "holm" else " per row")
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
                   help="significance level of the one-sided test, family-wise over all rows "
                        "with the default Holm correction (default: %(default)s)")
    p.add_argument("--metric", choices=list(METRICS), default=None,
                   help="what to compare: successful requests/s or a latency percentile "
                        "(default: rps in closed loop, the corrected p99 in open loop)")
    p.add_argument("--correction", choices=["holm", "none"], default="holm",
                   help="correction for testing many rows at once (default: %(default)s)")
    p.add_argument("--max-error-rise", type=parse_fraction, default=0.01, metavar="PCT",
                   help="a rise of the error share beyond this is a regression "
                        "(default: 1%%)")


def handle(args: argparse.Namespace) -> int:
    try:
        base, new = load_pair(args.base, args.new)
        c = compare(base, new, relative=args.relative, reference=args.reference,
                    alpha=args.alpha, threshold=args.threshold, metric=args.metric,
                    correction=args.correction, max_error_rise=args.max_error_rise)
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
