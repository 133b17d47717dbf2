"""The seed-style tables: one per event loop, a row per request type, a column per driver (per
driver and server set-up when several ran, and per file when several are reported), values the
median over trials."""

from __future__ import annotations

from dataclasses import dataclass
from math import isnan

from loadtnt.report.load import Result, Run, median, series_keys, several_servers
from loadtnt.report.texttable import fmt_rps


@dataclass(frozen=True)
class Column:
    result: Result
    driver: str
    multi: bool
    server: str | None = None  # None: the file's only server set-up

    @property
    def title(self) -> str:
        name = self.driver if self.server is None else f"{self.driver} @ {self.server}"
        return f"{name} [{self.result.label}]" if self.multi else name

    def runs(self, loop: str, op: str) -> list[Run]:
        return self.result.select(driver=self.driver, loop=loop, op=op, server=self.server)


@dataclass
class Table:
    loop: str
    what: str  # "median requests/s" or "median p99 latency, µs"
    columns: list[Column]
    rows: list[tuple[str, list[float]]]  # (op, a value per column; NaN where there is none)
    higher_is_better: bool
    ratio_title: str = ""  # e.g. "loadtnt / asynctnt": an extra column, the design's targets
    ratios: list[float] | None = None

    def best(self, values: list[float]) -> int | None:
        present = [(v, i) for i, v in enumerate(values) if not isnan(v)]
        if len(present) < 2:
            return None
        return (max(present) if self.higher_is_better else min(present))[1]


def columns(results: list[Result]) -> list[Column]:
    multi = len(results) > 1
    if several_servers(results):
        return [Column(r, d, multi, srv) for r, srv, d in series_keys(results)]
    drivers = list(dict.fromkeys(d for r in results for d in r.drivers()))
    return [Column(r, d, multi) for d in drivers for r in results if d in r.drivers()]


def _loops(results: list[Result]) -> list[str]:
    return list(dict.fromkeys(lp for r in results for lp in r.loops()))


def _ops(results: list[Result]) -> list[str]:
    return list(dict.fromkeys(o for r in results for o in r.ops()))


RATIO = ("loadtnt", "asynctnt")  # the pair design.md's performance targets are stated for


def throughput_tables(results: list[Result]) -> list[Table]:
    cols = columns(results)
    titles = [c.title for c in cols]
    with_ratio = len(results) == 1 and all(d in titles for d in RATIO)
    out = []
    for loop in _loops(results):
        rows = [(op, [median(r.rps for r in c.runs(loop, op)) for c in cols])
                for op in _ops(results)]
        table = Table(loop, "median requests/s", cols, rows, higher_is_better=True)
        if with_ratio:
            a, b = (titles.index(d) for d in RATIO)
            table.ratio_title = " / ".join(RATIO)
            table.ratios = [v[a] / v[b] if v[b] else float("nan") for _, v in rows]
        out.append(table)
    return out


def p99_tables(results: list[Result]) -> list[Table]:
    cols = columns(results)
    out = []
    for loop in _loops(results):
        rows = []
        for op in _ops(results):
            values = []
            for c in cols:
                runs = c.runs(loop, op)
                values.append(median(r.latency_us["p99"] for r in runs if "p99" in r.latency_us))
            rows.append((op, values))
        out.append(Table(loop, "median p99 latency, µs", cols, rows, higher_is_better=False))
    return out


def fmt_value(table: Table, value: float) -> str:
    return fmt_rps(value)


def fmt_ratio(value: float) -> str:
    return "-" if isnan(value) else f"{value:.2f}×"


def _extra(table: Table) -> tuple[list[str], list[list[str]]]:
    """The ratio column's header and cells ([] when the table has none)."""
    if table.ratios is None:
        return [], [[] for _ in table.rows]
    return [table.ratio_title], [[fmt_ratio(r)] for r in table.ratios]


def render_text(table: Table) -> str:
    """Plain text, for the terminal."""
    from loadtnt.report.texttable import format_table

    extra_head, extra = _extra(table)
    headers = ["request"] + [c.title for c in table.columns] + extra_head
    rows = [[op] + [fmt_value(table, v) for v in values] + x
            for (op, values), x in zip(table.rows, extra)]
    title = f"{table.loop}: {table.what}"
    return title + "\n" + format_table(headers, rows, right=[False] + [True] * (len(headers) - 1))


def render_markdown(table: Table) -> str:
    extra_head, extra = _extra(table)
    headers = ["request"] + [c.title for c in table.columns] + extra_head
    lines = ["| " + " | ".join(headers) + " |",
             "| --- |" + " ---: |" * (len(headers) - 1)]
    for (op, values), x in zip(table.rows, extra):
        best = table.best(values)
        cells = [f"**{fmt_value(table, v)}**" if i == best else fmt_value(table, v)
                 for i, v in enumerate(values)]
        lines.append("| " + " | ".join([op, *cells, *x]) + " |")
    return "\n".join(lines)
