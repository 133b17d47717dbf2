"""Errors by kind, per driver and event loop, summed over trials and operations. Drawn only when a
run had errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from loadtnt.report import style
from loadtnt.report.load import Result

KIND_COLORS = {"timeout": "#d62728", "disconnect": "#9467bd", "other": "#7f7f7f"}
DB_COLORS = ["#e377c2", "#bcbd22", "#17becf", "#8c564b", "#ff9896"]


def tally(results: list[Result]) -> list[tuple[str, Counter[str], int]]:
    """(row label, errors by kind, requests) per (series, loop) that had errors."""
    rows = []
    for s in style.all_series(results):
        for loop in s.result.loops():
            runs = s.runs(loop=loop)
            kinds: Counter[str] = Counter()
            for r in runs:
                kinds.update(r.errors_by_kind)
                unexplained = r.errors - sum(r.errors_by_kind.values())
                if unexplained > 0:
                    kinds["other"] += unexplained
            if sum(kinds.values()):
                rows.append((f"{s.label} · {loop}", kinds, sum(r.requests for r in runs)))
    return rows


def fmt_share(share: float) -> str:
    """0.12 -> '12% of requests', 3e-6 -> '3 per million requests'."""
    if share >= 0.01:
        return f"{share * 100:.3g}% of requests"
    if share >= 1e-4:
        return f"{share * 100:.2g}% of requests"
    return f"{share * 1e6:.2g} per million requests"


def _kind_color(kind: str, db_kinds: list[str]) -> str:
    if kind in KIND_COLORS:
        return KIND_COLORS[kind]
    return DB_COLORS[db_kinds.index(kind) % len(DB_COLORS)]


def draw(results: list[Result], path: Path) -> Path | None:
    rows = tally(results)
    if not rows:
        return None
    found = {k for _, c, _ in rows for k in c}
    kinds: list[str] = [k for k in ("timeout", "disconnect") if k in found]
    kinds += sorted(found - {"timeout", "disconnect", "other"}) + (["other"] * ("other" in found))
    db_kinds = [k for k in kinds if k not in KIND_COLORS]
    fig = style.new_figure(10, 1.9 + 0.5 * len(rows))
    ax = fig.subplots()
    labels = [label for label, _, _ in reversed(rows)]
    lefts = [0.0] * len(rows)
    for kind in kinds:
        widths = [float(c.get(kind, 0)) for _, c, _ in reversed(rows)]
        ax.barh(labels, widths, left=lefts, color=_kind_color(kind, db_kinds), label=kind,
                height=0.6)
        lefts = [a + b for a, b in zip(lefts, widths)]
    for y, (total, (_, _, requests)) in enumerate(zip(lefts, reversed(rows))):
        share = f" ({fmt_share(total / requests)})" if requests else ""
        ax.annotate(f"{total:,.0f} errors{share}", (total, y), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("errors (all trials and operations)")
    ax.set_xlim(0, max(lefts) * 1.5)
    ax.legend(title="kind", fontsize=8, title_fontsize=8, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), alignment="left")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return style.finish(fig, "Errors by kind", results, path)
