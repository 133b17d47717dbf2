"""The seed-style tables: one per event loop, a row per request type, a column per driver (per
file and driver when several files are reported), values the median over trials."""

from __future__ import annotations

from dataclasses import dataclass
from math import isnan

from loadtnt.report.load import Result, median
from loadtnt.report.texttable import fmt_rps


@dataclass(frozen=True)
class Column:
    result: Result
    driver: str
    multi: bool

    @property
    def title(self) -> str:
        return f"{self.driver} [{self.result.label}]" if self.multi else self.driver


@dataclass
class Table:
    loop: str
    what: str  # "median requests/s" or "median p99 latency, µs"
    columns: list[Column]
    rows: list[tuple[str, list[float]]]  # (op, a value per column; NaN where there is none)
    higher_is_better: bool

    def best(self, values: list[float]) -> int | None:
        present = [(v, i) for i, v in enumerate(values) if not isnan(v)]
        if len(present) < 2:
            return None
        return (max(present) if self.higher_is_better else min(present))[1]


def columns(results: list[Result]) -> list[Column]:
    multi = len(results) > 1
    return [Column(r, d, multi) for r in results for d in r.drivers()]


def _loops(results: list[Result]) -> list[str]:
    return list(dict.fromkeys(lp for r in results for lp in r.loops()))


def _ops(results: list[Result]) -> list[str]:
    return list(dict.fromkeys(o for r in results for o in r.ops()))


def throughput_tables(results: list[Result]) -> list[Table]:
    cols = columns(results)
    out = []
    for loop in _loops(results):
        rows = [(op, [median(c.result.rps_by_trial(c.driver, loop, op).values()) for c in cols])
                for op in _ops(results)]
        out.append(Table(loop, "median requests/s", cols, rows, higher_is_better=True))
    return out


def p99_tables(results: list[Result]) -> list[Table]:
    cols = columns(results)
    out = []
    for loop in _loops(results):
        rows = []
        for op in _ops(results):
            values = []
            for c in cols:
                runs = c.result.select(driver=c.driver, loop=loop, op=op)
                values.append(median(r.latency_us["p99"] for r in runs if "p99" in r.latency_us))
            rows.append((op, values))
        out.append(Table(loop, "median p99 latency, µs", cols, rows, higher_is_better=False))
    return out


def fmt_value(table: Table, value: float) -> str:
    return fmt_rps(value)


def render_text(table: Table) -> str:
    """Plain text, for the terminal."""
    from loadtnt.report.texttable import format_table

    headers = ["request"] + [c.title for c in table.columns]
    rows = [[op] + [fmt_value(table, v) for v in values] for op, values in table.rows]
    title = f"{table.loop}: {table.what}"
    return title + "\n" + format_table(headers, rows, right=[False] + [True] * len(table.columns))


def render_markdown(table: Table) -> str:
    headers = ["request"] + [c.title for c in table.columns]
    lines = ["| " + " | ".join(headers) + " |",
             "| --- |" + " ---: |" * len(table.columns)]
    for op, values in table.rows:
        best = table.best(values)
        cells = [f"**{fmt_value(table, v)}**" if i == best else fmt_value(table, v)
                 for i, v in enumerate(values)]
        lines.append("| " + " | ".join([op, *cells]) + " |")
    return "\n".join(lines)
