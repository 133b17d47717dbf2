"""Thresholds (k6's idea, loadtnt's statistics): ``'p99 < 2ms'``, ``'rps > 1e5'``,
``'errors < 0.1%'`` per op, or for ``'*'`` (all the mix's ops together).

Parsed once, when the scenario is validated, into :class:`Threshold` objects; evaluated from the
result's own ``runs`` entries — the same merged histograms (corrected in an open loop) and counts
the report uses — over the measured window: per (server, driver, loop) the median over its trials,
or with ``all_trials`` every trial (the worst one is the value).  :func:`breached_live` checks the
``abort_on_fail`` ones once a second on what the window holds so far.
"""
from __future__ import annotations

import math
import operator
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from loadtnt import histogram

EXIT_BREACHED = 99

_CMP: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_US = {"us": 1.0, "µs": 1.0, "ms": 1000.0, "s": 1e6}
_RE = re.compile(r"\s*(?P<metric>[a-z_][a-z0-9_.]*)\s*(?P<cmp><=|>=|<|>)\s*"
                 r"(?P<num>[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(?P<unit>[a-zµ%/]*)\s*",
                 re.IGNORECASE)
METRICS = ("p<N> (p50, p90, p99, p99.9, p999, ...)", "max", "mean", "rps", "errors")


class ThresholdError(ValueError):
    pass


@dataclass(frozen=True)
class Threshold:
    op: str            # an op's name, or '*': all ops of the mix together
    metric: str        # 'p99', 'p99.9', 'max', 'mean', 'rps', 'errors'
    cmp: str           # '<', '<=', '>', '>='
    limit: float       # µs (latency), req/s (rps), a share 0..1 (errors with %) or a count
    text: str
    percentile: float | None = None
    share: bool = False  # errors as a share of requests (the limit had %)
    line: int | None = None
    abort_on_fail: bool = False
    all_trials: bool = False

    @property
    def latency(self) -> bool:
        return self.percentile is not None or self.metric in ("max", "mean")

    def holds(self, value: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False  # nothing measured (no successful request): a latency cannot pass
        return _CMP[self.cmp](value, self.limit)

    def format(self, value: float | None) -> str:
        if value is None:
            return "—"
        if self.latency:
            return _fmt_us(value)
        if self.metric == "rps":
            return f"{value:,.0f} req/s"
        return f"{value:.3%}" if self.share else f"{value:,.0f}"

    def normalized(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "threshold": self.text}
        if self.abort_on_fail:
            out["abort_on_fail"] = True
        if self.all_trials:
            out["all_trials"] = True
        return out

    # --- values ---------------------------------------------------------------------------

    def value(self, entries: list[dict[str, Any]]) -> float | None:
        """The metric over ``entries`` (one trial's runs entries of this op; several for '*')."""
        if self.metric == "rps":
            return sum(float(e.get("rps") or 0.0) for e in entries)
        if self.metric == "errors":
            errors = sum(int(e.get("errors") or 0) for e in entries)
            requests = sum(int(e.get("requests") or 0) for e in entries)
            if self.share:
                return errors / requests if requests else 0.0
            return float(errors)
        h = histogram.merge(e["histogram"] for e in entries if e.get("histogram"))
        if h.get_total_count() == 0:
            return None
        if self.metric == "max":
            known = [e["latency_us"]["max"] for e in entries
                     if (e.get("latency_us") or {}).get("max") is not None]
            return float(max(known)) if known else float(h.get_max_value())
        if self.metric == "mean":
            return float(h.get_mean_value())
        assert self.percentile is not None
        return float(h.get_value_at_percentile(self.percentile))

    def live_value(self, requests: int, errors: int, pairs: Iterable[tuple[int, int]]
                   ) -> float | None:
        """The metric over the window so far, from the per-second ticks (``pairs``: the
        recorders' ``(index, count)``). ``rps`` is not judged before the end (None)."""
        if self.metric == "rps":
            return None
        if self.metric == "errors":
            if self.share:
                return errors / requests if requests else None
            return float(errors)
        if self.metric in ("max", "mean"):
            merged = list(pairs)
            if not merged:
                return None
            if self.metric == "max":
                return float(histogram.layout.highest_equivalent(max(i for i, _ in merged)))
            h = histogram.from_counts(merged)
            return float(h.get_mean_value())
        assert self.percentile is not None
        v = histogram.sparse_percentile(pairs, self.percentile)
        return None if v is None else float(v)


def _fmt_us(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3g} s"
    if us >= 1000:
        return f"{us / 1000:.3g} ms"
    return f"{us:.0f} µs"


def parse_threshold(text: str, *, op: str = "*", line: int | None = None,
                    abort_on_fail: bool = False, all_trials: bool = False) -> Threshold:
    """``'p99 < 2ms'`` → a :class:`Threshold`; :class:`ThresholdError` says what is wrong."""
    m = _RE.fullmatch(text)
    if not m:
        raise ThresholdError(f"expected METRIC OP VALUE, e.g. 'p99 < 2ms', 'rps > 1e5', "
                             f"'errors < 0.1%'; got {text!r}")
    metric, cmp, num, unit = (m["metric"].lower(), m["cmp"], float(m["num"]), m["unit"].lower())
    kw: dict[str, Any] = {"op": op, "cmp": cmp, "text": " ".join(text.split()), "line": line,
                          "abort_on_fail": abort_on_fail, "all_trials": all_trials}
    pm = re.fullmatch(r"p(\d+(?:\.\d+)?)", metric)
    if pm or metric in ("max", "mean"):
        if unit not in _US:
            raise ThresholdError(f"{metric} needs a time unit (us, ms, s), e.g. "
                                 f"'{metric} < 2ms'; got {text!r}")
        q = None
        if pm:
            digits = pm.group(1)
            # p999 is 99.9 (as latency_us names it), p9999 99.99; p99.9 as written
            q = float(digits) if "." in digits or len(digits) <= 2 else float(
                digits[:2] + "." + digits[2:])
            if not 0 < q <= 100:
                raise ThresholdError(f"percentile out of range in {text!r}")
            metric = f"p{q:g}"
        return Threshold(metric=metric, limit=num * _US[unit], percentile=q, **kw)
    if metric in ("rps", "rate", "throughput"):
        scale = {"": 1.0, "k": 1e3, "m": 1e6, "req/s": 1.0, "rps": 1.0}.get(unit)
        if scale is None:
            raise ThresholdError(f"rps takes a number of requests/s (1e5, 100000, 100k); "
                                 f"got {text!r}")
        return Threshold(metric="rps", limit=num * scale, **kw)
    if metric in ("errors", "error_rate", "errors_share"):
        if unit == "%":
            return Threshold(metric="errors", limit=num / 100.0, share=True, **kw)
        if unit:
            raise ThresholdError(f"errors takes a share (0.1%) or a count (10); got {text!r}")
        return Threshold(metric="errors", limit=num, **kw)
    raise ThresholdError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")


def parse_slo(text: str) -> list[Threshold]:
    """``--slo 'p99<2ms'`` or ``'p99<2ms,errors<0.1%'``: thresholds for all ops together."""
    parts = [p for p in re.split(r"[,;]|\band\b", text) if p.strip()]
    if not parts:
        raise ThresholdError(f"expected e.g. 'p99<2ms' or 'p99<2ms,errors<0.1%', got {text!r}")
    out = [parse_threshold(p, op="*") for p in parts]
    if not any(t.latency for t in out):
        raise ThresholdError(f"an SLO needs a latency (e.g. 'p99<2ms'), got {text!r}")
    if any(t.metric == "rps" for t in out):
        raise ThresholdError("an SLO has no rps: capacity searches the rate itself")
    return out


# --- evaluation over a result -----------------------------------------------------------------


def entries_for(th: Threshold, runs: list[dict[str, Any]], *, mix: bool = True
                ) -> dict[tuple[Any, ...], dict[int, list[dict]]]:
    """``{(server, driver, loop, op): {trial: [entries]}}`` that ``th`` looks at.

    ``op`` is the threshold's own, except for ``'*'`` over a run with ``mix: false``: there
    each op was measured in a window of its own, so summing their rates (or pooling their
    latencies) would describe no window that ran; ``'*'`` then means every op, each judged
    alone (one row per op)."""
    out: dict[tuple[Any, ...], dict[int, list[dict]]] = {}
    for e in runs:
        if th.op == "*":
            if e.get("step_of") is not None:
                continue
        elif e.get("op") != th.op:
            continue
        op = th.op if mix or th.op != "*" else e.get("op")
        key = (e.get("server"), e.get("driver"), e.get("loop"), op)
        out.setdefault(key, {}).setdefault(int(e.get("trial") or 1), []).append(e)
    return out


def evaluate(thresholds: Iterable[Threshold], runs: list[dict[str, Any]], *,
             mix: bool = True) -> list[dict[str, Any]]:
    """One row per threshold and (server, driver, loop): its value, per trial, and pass/fail
    (``mix``: the scenario's; with ``mix: false`` a ``'*'`` threshold gets a row per op)."""
    rows: list[dict[str, Any]] = []
    for th in thresholds:
        groups = entries_for(th, runs, mix=mix)
        if not groups:
            rows.append({"op": th.op, "threshold": th.text, "line": th.line, "value": None,
                         "trials": [], "pass": False, "why": "no such runs measured"})
            continue
        for (server, driver, loop, op), trials in groups.items():
            values = [th.value(es) for _, es in sorted(trials.items())]
            present = [v for v in values if v is not None]
            if th.all_trials:
                worst = _worst(th, values)
                ok = all(th.holds(v) for v in values)
                value = worst
            else:
                value = statistics.median(present) if present else None
                ok = th.holds(value)
            row = {"op": th.op, "threshold": th.text, "line": th.line, "server": server,
                   "driver": driver, "loop": loop, "value": value,
                   "trials": values, "all_trials": th.all_trials, "pass": ok}
            if op != th.op:
                row["of"] = op  # '*' over mix: false, judged for this op alone
            rows.append(row)
    return rows


def _worst(th: Threshold, values: list[float | None]) -> float | None:
    if any(v is None for v in values) or not values:
        return None
    return max(values) if th.cmp in ("<", "<=") else min(values)  # type: ignore[type-var]


def render(thresholds: list[Threshold], rows: list[dict[str, Any]]) -> str:
    """The table of every threshold with its value."""
    from loadtnt.report.texttable import format_table

    by_text = {(t.op, t.text): t for t in thresholds}
    several = len({(r.get("server"), r.get("driver"), r.get("loop")) for r in rows}) > 1
    body = []
    for r in rows:
        th = by_text[(r["op"], r["threshold"])]
        value = th.format(r["value"])
        if len(r.get("trials") or []) > 1:
            value += (" (worst of " if r.get("all_trials") else " (median of ") + \
                f"{len(r['trials'])} trials)"
        what = f"* ({r['of']})" if r.get("of") else r["op"]
        row = [what, r["threshold"], value, "ok" if r["pass"] else "BREACHED"]
        if several:
            row.insert(0, f"{r.get('driver')}/{r.get('loop')}"
                       + (f" @ {r.get('server')}" if r.get("server") else ""))
        body.append(row)
    head = ["op", "threshold", "value", "result"]
    if several:
        head.insert(0, "run")
    return format_table(head, body)


def breached_live(thresholds: Iterable[Threshold], acc: dict[str, dict[str, Any]]
                  ) -> Threshold | None:
    """The first ``abort_on_fail`` threshold the window so far breaches (None: none does).
    ``acc``: per op, ``{"requests", "errors", "hist": {index: count}}`` since the window began."""
    for th in thresholds:
        if not th.abort_on_fail:
            continue
        names = [n for n in acc if not n.startswith("\0")] if th.op == "*" else [th.op]
        parts = [acc[n] for n in names if n in acc]
        if not parts:
            continue
        pairs = [p for a in parts for p in a["hist"].items()]
        value = th.live_value(sum(a["requests"] for a in parts),
                              sum(a["errors"] for a in parts), pairs)
        if value is not None and not th.holds(value):
            return th
    return None
