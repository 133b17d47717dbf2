"""Requests/s and p99 over time from each run's per-second `timeline`, so warm-up, stalls and
reconnects show. One chart per event loop; a line per driver and trial (all operations summed for
requests/s; for p99 the slowest operation in that second)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator, NullFormatter

from loadtnt.report import style
from loadtnt.report.load import Result, Run

TRIAL_ALPHA = [1.0, 0.65, 0.45, 0.35]


def per_second(runs: list[Run]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t_s, requests, errors, p99_us) for one (driver, loop, trial), ops combined; seconds that
    no op reported are NaN (a gap)."""
    req: dict[int, float] = defaultdict(float)
    err: dict[int, float] = defaultdict(float)
    p99: dict[int, float] = {}
    for run in runs:
        for point in run.timeline:
            try:
                t = int(point["t_s"])
            except (KeyError, TypeError, ValueError):
                continue
            req[t] += float(point.get("requests") or 0)
            err[t] += float(point.get("errors") or 0)
            v = point.get("p99_us")
            if v is not None:
                p99[t] = max(p99.get(t, 0.0), float(v))
    if not req:
        empty = np.array([])
        return empty, empty, empty, empty
    ts = np.arange(min(req), max(req) + 1)
    r = np.array([req.get(t, np.nan) for t in ts])
    e = np.array([err.get(t, 0.0) for t in ts])
    p = np.array([p99.get(t, np.nan) for t in ts])
    return ts, r, e, p


def draw(results: list[Result], loop: str, path: Path) -> Path | None:
    series = style.all_series(results)
    if not any(r.timeline for res in results for r in res.select(loop=loop)):
        return None
    fig = style.new_figure(11, 7.2)
    ax_rps, ax_p99 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.15, 1]})
    t_min, t_max = 0, 0
    error_label_done = False
    multi_op = len(style.ops_of(results)) > 1
    for s in series:
        trials = sorted({r.trial for r in s.result.select(driver=s.driver, loop=loop)})
        for j, trial in enumerate(trials):
            runs = [r for r in s.result.select(driver=s.driver, loop=loop) if r.trial == trial]
            ts, req, err, p99 = per_second(runs)
            if not len(ts):
                continue
            t_min, t_max = min(t_min, int(ts[0])), max(t_max, int(ts[-1]) + 1)
            x = ts + 0.5  # the middle of each one-second bucket
            alpha = TRIAL_ALPHA[min(j, len(TRIAL_ALPHA) - 1)]
            label = s.label if j == 0 else None
            ax_rps.plot(x, req, color=s.color, linestyle=s.linestyle, alpha=alpha,
                        linewidth=1.5, marker="o", markersize=2.5, label=label)
            ax_p99.plot(x, p99, color=s.color, linestyle=s.linestyle, alpha=alpha,
                        linewidth=1.5, marker="o", markersize=2.5)
            bad = err > 0
            if bad.any():
                ax_rps.scatter(x[bad], req[bad], marker="X", s=60, color="#d62728",
                               zorder=5, label=None if error_label_done else
                               "second with errors")
                error_label_done = True
    for ax in (ax_rps, ax_p99):
        if t_min < 0:
            ax.axvspan(t_min, 0, color="#eeeeee", zorder=0)
        ax.grid(color="#dddddd")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for rate in sorted({float(r.scenario["rate"]) for r in results
                        if r.scenario.get("rate") is not None}):
        ax_rps.axhline(rate, color="#555555", linestyle=":", linewidth=1.2,
                       label=f"target rate {rate:,.0f} req/s")
    ax_rps.set_ylim(bottom=0)
    ax_rps.yaxis.set_major_formatter(style.COUNT_FORMATTER)
    ax_rps.set_ylabel("requests/s" + (" (all operations)" if multi_op else ""))
    ax_rps.set_title("Throughput per second", fontsize=10.5, loc="left")
    ax_p99.set_yscale("log")
    ax_p99.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax_p99.yaxis.set_major_formatter(style.US_FORMATTER)
    ax_p99.yaxis.set_minor_formatter(NullFormatter())
    ax_p99.set_ylabel("p99 latency (log scale)")
    ax_p99.set_title("p99 latency per second" + (" (slowest operation)" if multi_op else ""),
                     fontsize=10.5, loc="left")
    ax_p99.set_xlabel("time since the start of the measured window (s)")
    ax_p99.set_xlim(t_min, t_max)
    pairs = sorted(zip(*ax_rps.get_legend_handles_labels()),
                   key=lambda hl: hl[1] == "second with errors"
                   or hl[1].startswith("target rate"))  # drivers first
    handles, labels = [h for h, _ in pairs], [lbl for _, lbl in pairs]
    if t_min < 0:
        handles.append(Patch(color="#eeeeee"))
        labels.append("warm-up (not recorded)")
    ax_rps.legend(handles, labels, fontsize=8, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), title="driver\n(faded: later trials)",
                  title_fontsize=8, alignment="left")
    return style.finish(fig, f"Requests/s and p99 over time, event loop {loop}", results, path)
