"""Plain-text tables for the terminal (compare, check, the report's summary)."""

from __future__ import annotations

from collections.abc import Sequence
from math import isnan


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 right: Sequence[bool] | None = None) -> str:
    """Columns padded to their widest cell; `right[i]` right-aligns column i (numbers)."""
    right = list(right) if right is not None else [False] * len(headers)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def fmt_rps(value: float) -> str:
    if isnan(value):
        return "-"
    return f"{value:,.0f}"
