"""Latency percentile spectrum, HdrHistogram style: x = 1/(1−p) on a log axis with p50 … p99.99
marked, y = latency. One chart per event loop, a panel per operation, a line per driver (trials
merged losslessly). In open loop the corrected latency is solid and the service time dashed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import LogLocator, NullFormatter

from loadtnt.report import hist, style
from loadtnt.report.load import Result

TICKS = [(2, "p50"), (10, "p90"), (100, "p99"), (1_000, "p99.9"),
         (10_000, "p99.99"), (100_000, "p99.999")]


def _floor(current: float, x: np.ndarray, y: np.ndarray) -> float:
    """A fifth of the lowest median: where the y axis starts, so near-zero values at the lowest
    percentiles (see RESULT_FORMAT.md, open loop) do not squash the interesting part."""
    upper = y[(x >= 2) & (y > 0)]
    return min(current, float(upper.min()) / 5) if len(upper) else current


def draw(results: list[Result], loop: str, path: Path) -> Path | None:
    ops = [op for op in style.ops_of(results)
           if any(r.histogram for res in results for r in res.select(loop=loop, op=op))]
    series = style.all_series(results)
    if not ops:
        return None
    ncols = min(3, len(ops))
    nrows = math.ceil(len(ops) / ncols)
    fig = style.new_figure(4.6 * ncols + 0.6, 3.5 * nrows + 1.3)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=False)
    any_service = False
    max_x = 10.0
    for k, op in enumerate(ops):
        ax = axes[k // ncols][k % ncols]
        floor = float("inf")
        for s in series:
            runs = s.runs(loop=loop, op=op)
            main = hist.merge(r.histogram for r in runs)
            if main is None:
                continue
            x, y = hist.spectrum(main)
            max_x = max(max_x, float(x[-1]))
            floor = _floor(floor, x, y)
            # the label without its parenthesised detail (the throughput chart has it): a long
            # one would run across the neighbouring panel
            short = s.label.split(" (")[0]
            ax.plot(x, y, color=s.color, linestyle=s.linestyle, linewidth=1.6,
                    label=f"{short} (n={main.get_total_count():,})")
            service = hist.merge(r.service_histogram for r in runs)
            if service is not None:
                any_service = True
                xs, ys = hist.spectrum(service)
                floor = _floor(floor, xs, ys)
                ax.plot(xs, ys, color=s.color, linestyle=(0, (2, 2)), linewidth=1.1,
                        alpha=0.85)
        if floor < float("inf"):  # zeros and the lowest tenth need not stretch the log axis
            ax.set_ylim(bottom=max(1.0, floor))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(op, fontsize=11)
        visible = [(t, lbl) for t, lbl in TICKS if t <= max_x * 1.01]
        ax.set_xticks([t for t, _ in visible], [lbl for _, lbl in visible], fontsize=8,
                      rotation=30, ha="right", rotation_mode="anchor")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(1, max_x * 1.1)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(style.US_FORMATTER)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(which="major", color="#dddddd")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if k % ncols == 0:
            ax.set_ylabel("latency (log scale)")
        if k // ncols == nrows - 1:
            ax.set_xlabel("percentile")
        ax.legend(fontsize=7, frameon=False, loc="upper left",
                  title="n = requests, trials merged", title_fontsize=7, alignment="left")
    for k in range(len(ops), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    title = f"Latency by percentile, event loop {loop} (lower is better)"
    if any_service:
        title += "\nsolid: from the intended send time (corrected); dashed: service time"
    return style.finish(fig, title, results, path)
