"""Requests/s per request type: bars grouped by driver, one panel per event loop; the bar is the
median over trials, the whisker spans min–max."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loadtnt.report import style
from loadtnt.report.load import Result, median


def draw(results: list[Result], path: Path) -> Path | None:
    loops = style.loops_of(results)
    ops = style.ops_of(results)
    series = style.all_series(results)
    if not loops or not ops or not series:
        return None
    width_per_panel = max(5.0, 0.42 * len(ops) * max(1, len(series)) ** 0.6 + 1.5)
    fig = style.new_figure(max(10.0, min(9.5 * len(loops), width_per_panel * len(loops))), 5.6)
    axes = fig.subplots(1, len(loops), sharey=True, squeeze=False)[0]
    group_w = min(0.8, 0.22 * len(series))  # a few drivers: narrower bars, not slabs
    bar_w = group_w / len(series)
    x = np.arange(len(ops))
    trials = sorted({len(s.rps_by_trial(lp, op))
                     for s in series for lp in loops for op in ops} - {0})
    labels: list = []  # the value above each bar
    for ax, loop in zip(axes, loops):
        for i, s in enumerate(series):
            med, lo, hi = [], [], []
            for op in ops:
                vals = list(s.rps_by_trial(loop, op).values())
                m = median(vals)
                med.append(m)
                lo.append(m - min(vals) if vals else 0)
                hi.append(max(vals) - m if vals else 0)
            pos = x - group_w / 2 + bar_w * (i + 0.5)
            ax.bar(pos, np.nan_to_num(med), bar_w * 0.92, color=s.color, hatch=s.hatch,
                   edgecolor="white" if not s.hatch else "#333333", linewidth=0.5,
                   label=s.label, zorder=2)
            ax.errorbar(pos, np.nan_to_num(med), yerr=[lo, hi], fmt="none", ecolor="#222222",
                        elinewidth=1, capsize=2.5, zorder=3)
            for p, m, h in zip(pos, med, hi):
                if m > 0:  # the label sits above the whisker
                    labels.append(ax.annotate(
                        style.fmt_count(float(f"{m:.3g}")), (p, m + h), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom",
                        fontsize=6.5 if len(series) > 2 else 7.5, color="#333333",
                        rotation=90 if len(series) > 3 else 0))
        _draw_targets(ax, results, loop, ops, group_w)
        ax.set_title(f"event loop: {loop}", fontsize=11)
        ax.set_xticks(x, ops)
        ax.set_xlabel("request type")
        ax.yaxis.set_major_formatter(style.COUNT_FORMATTER)
        ax.grid(axis="y", color="#dddddd", zorder=0)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.margins(y=0.12)
    if trials == [1]:
        axes[0].set_ylabel("requests/s (one trial)")
    else:
        n = "/".join(str(t) for t in trials) or "?"
        axes[0].set_ylabel(f"requests/s (bar: median of {n} trials; whisker: min–max)")
    title = "driver @ server" if any(s.multi_server for s in series) else "driver"
    axes[-1].legend(loc="upper right", fontsize=8.5, frameon=False, title=title,
                    title_fontsize=8.5)
    upright_unless_they_overlap(fig, labels)
    return style.finish(fig, "Throughput by request type (higher is better)", results, path)


def overlapping(fig, texts: list) -> bool:
    """Whether any two of ``texts`` overlap as drawn (the figure laid out as it will be saved)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def upright_unless_they_overlap(fig, labels: list) -> None:
    """The bars' value labels stay horizontal when they fit side by side; else all of them turn
    upright (narrow bars: many drivers, or many ops in a narrow panel)."""
    if labels and all(t.get_rotation() == 0 for t in labels) and overlapping(fig, labels):
        for t in labels:
            t.set_rotation(90)


def _draw_targets(ax, results: list[Result], loop: str, ops: list[str], group_w: float) -> None:
    """Open loop: each op's target rate as a dotted line across its group of bars."""
    labelled = False
    for k, op in enumerate(ops):
        targets = {r.target_rps for res in results for r in res.select(loop=loop, op=op)
                   if r.target_rps}
        for t in targets:
            ax.hlines(t, k - group_w / 2 - 0.05, k + group_w / 2 + 0.05, colors="#333333",
                      linestyles=":", linewidth=1.3, zorder=4,
                      label=None if labelled else "target rate")
            labelled = True
