"""Requests/s and p99 over time from each run's per-second `timeline`, so warm-up, stalls and
reconnects show. One chart per event loop; a line per driver and trial.

Two layouts, after how the scenario ran its operations:
- a mix (all operations at once): per second, requests/s summed over the operations and the p99 of
  the slowest one;
- one at a time (`mix: false`, the seed suite): each operation's window laid end to end, in the
  scenario's order, separated and labelled, so every request type gets its own stretch of x axis.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

from loadtnt.report import style
from loadtnt.report.load import Result, Run

TRIAL_ALPHA = [1.0, 0.65, 0.45, 0.35]
GAP_S = 1  # empty seconds between two operations' windows (breaks the line)


def _points(run: Run) -> list[tuple[int, dict]]:
    out = []
    for point in run.timeline:
        try:
            out.append((int(point["t_s"]), point))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _length(point: dict) -> float:
    """The bucket's length in seconds: `len_s` when given (a window's last, partial second)."""
    try:
        length = float(point.get("len_s") or 1.0)
    except (TypeError, ValueError):
        return 1.0
    return length if length > 0 else 1.0


def layout(results: list[Result], loop: str
           ) -> tuple[dict[str, int], list[tuple[str, float, float]]]:
    """(shift per op, [(op, start, end)]) on the chart's time axis.

    For a mix every shift is 0 and there is one window; for ops run in turn each op's window
    (over all drivers and trials, warm-up included) follows the previous one."""
    ops = style.ops_of(results)
    spans: dict[str, tuple[float, float]] = {}
    for res in results:
        for run in res.select(loop=loop):
            for t, point in _points(run):
                lo, hi = spans.get(run.op, (0, 0))
                spans[run.op] = (min(lo, t), max(hi, t + _length(point)))
    if not sequential(results):
        lo = min((a for a, _ in spans.values()), default=0)
        hi = max((b for _, b in spans.values()), default=0)
        return {op: 0 for op in ops}, [("", lo, hi)]
    shifts: dict[str, int] = {}
    windows: list[tuple[str, float, float]] = []
    cursor = 0
    for op in ops:
        if op not in spans:
            continue
        lo, hi = spans[op]
        shifts[op] = int(cursor - lo)
        windows.append((op, cursor, cursor + hi - lo))
        cursor += math.ceil(hi - lo) + GAP_S
    return shifts, windows


def sequential(results: list[Result]) -> bool:
    """Operations measured one at a time (`mix: false`), not as a mix."""
    return any(r.scenario.get("mix") is False for r in results)


def per_second(runs: list[Run], shifts: dict[str, int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t, requests/s, errors, p99_us) for one (driver, loop, trial): ops at the same t summed
    (p99: the slowest op); seconds that no op reported are NaN (a gap in the line). A partial
    bucket's rate is its requests over its real length (`len_s`)."""
    t, rate, err, p99, _length = per_bucket(runs, shifts)
    return t, rate, err, p99


def per_bucket(runs: list[Run], shifts: dict[str, int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`per_second` and each bucket's length in seconds (1, or less for a partial one).
    A transaction's steps are inside it: not summed with the ops (unless only steps are given)."""
    runs = [r for r in runs if r.step_of is None] or runs
    req: dict[int, float] = defaultdict(float)
    err: dict[int, float] = defaultdict(float)
    p99: dict[int, float] = {}
    length: dict[int, float] = {}
    for run in runs:
        shift = (shifts or {}).get(run.op, 0)
        for t0, point in _points(run):
            t = t0 + shift
            n = _length(point)
            req[t] += float(point.get("requests") or 0) / n
            err[t] += float(point.get("errors") or 0)
            length[t] = max(length.get(t, 0.0), n)
            v = point.get("p99_us")
            if v is not None:
                p99[t] = max(p99.get(t, 0.0), float(v))
    if not req:
        empty = np.array([])
        return empty, empty, empty, empty, empty
    seconds = range(min(req), max(req) + 1)
    r = np.array([req.get(t, np.nan) for t in seconds])
    e = np.array([err.get(t, 0.0) for t in seconds])
    p = np.array([p99.get(t, np.nan) for t in seconds])
    lengths = np.array([length.get(t, 1.0) for t in seconds])
    return np.array(seconds), r, e, p, lengths


def target_series(results: list[Result], loop: str, shifts: dict[str, int]
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """(bucket starts, target req/s) from the timeline's `target_rps` (summed over the ops of
    the first run that has it, its last bucket extended to its end), or None when no run
    recorded one (a closed loop, or a file from before `target_rps`)."""
    for res in results:
        runs = [r for r in res.select(loop=loop) if r.step_of is None]
        if not runs or not any("target_rps" in p for r in runs for p in r.timeline):
            continue
        first = runs[0]
        same = [r for r in runs if (r.driver, r.trial, r.server) ==
                (first.driver, first.trial, first.server)]
        total: dict[float, float] = defaultdict(float)
        end = 0.0
        for run in same:
            shift = shifts.get(run.op, 0)
            for t, point in _points(run):
                if "target_rps" in point:
                    total[t + shift] += float(point["target_rps"])
                    end = max(end, t + shift + _length(point))
        if total:
            ts = sorted(total)
            return np.array([*ts, end]), np.array([*(total[t] for t in ts), total[ts[-1]]])
    return None


def draw(results: list[Result], loop: str, path: Path) -> Path | None:
    series = style.all_series(results)
    if not any(r.timeline for res in results for r in res.select(loop=loop)):
        return None
    in_turn = sequential(results)
    shifts, windows = layout(results, loop)
    fig = style.new_figure(12 if in_turn else 11, 7.2)
    ax_rps, ax_p99 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.15, 1]})
    error_label_done = False
    multi_op = len(style.ops_of(results)) > 1
    several_trials = any(len({r.trial for r in s.runs(loop=loop)}) > 1 for s in series)
    for s in series:
        trials = sorted({r.trial for r in s.runs(loop=loop)})
        for j, trial in enumerate(trials):
            runs = [r for r in s.runs(loop=loop) if r.trial == trial]
            ts, req, err, p99, length = per_bucket(runs, shifts)
            if not len(ts):
                continue
            x = ts + length / 2  # the middle of each bucket (a last, partial one is shorter)
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
    t_min = min(a for _, a, _ in windows)
    t_max = max(b for _, _, b in windows)
    warm = False
    for ax in (ax_rps, ax_p99):
        for op, start, _end in windows:
            zero = shifts.get(op, 0)  # where t_s = 0 (the measured window) begins
            if zero > start:
                ax.axvspan(start, zero, color="#eeeeee", zorder=0)
                warm = True
            if in_turn and start > t_min:
                ax.axvline(start - GAP_S / 2, color="#999999", linewidth=0.8, linestyle="--")
        ax.grid(color="#dddddd")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if in_turn:
        for op, start, end in windows:
            ax_rps.text((start + end) / 2, 1.0, op, transform=ax_rps.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize=9, fontweight="bold")
    targets = target_series(results, loop, shifts)
    if targets is not None:  # the schedule's rate per second (stages: a ramp, holds, steps)
        tt, tr = targets
        ax_rps.step(tt, tr, where="post", color="#555555", linestyle=":", linewidth=1.4,
                    label="target rate (the schedule)")
    else:
        for rate in sorted({float(r.scenario["rate"]) for r in results
                            if isinstance(r.scenario.get("rate"), int | float)}):
            ax_rps.axhline(rate, color="#555555", linestyle=":", linewidth=1.2,
                           label=f"target rate {rate:,.0f} req/s")
    ax_rps.set_ylim(bottom=0)
    ax_rps.yaxis.set_major_formatter(style.COUNT_FORMATTER)
    ax_rps.set_ylabel("requests/s" + (" (all operations)" if multi_op and not in_turn else ""))
    ax_rps.set_title("Throughput per second" + (" (each request type in turn)" if in_turn else ""),
                     fontsize=10.5, loc="left", pad=18 if in_turn else 6)
    ax_p99.set_yscale("log")
    ax_p99.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax_p99.yaxis.set_major_formatter(style.US_FORMATTER)
    ax_p99.yaxis.set_minor_formatter(NullFormatter())
    ax_p99.set_ylabel("p99 latency (log scale)")
    ax_p99.set_title("p99 latency per second"
                     + (" (slowest operation)" if multi_op and not in_turn else ""),
                     fontsize=10.5, loc="left")
    ax_p99.set_xlabel("seconds into each request type's window" if in_turn
                      else "time since the start of the measured window (s)")
    if in_turn:  # ticks restart at 0 in every op's window
        longest = max(end - shifts.get(op, 0) for op, _, end in windows)
        step = 5 if longest >= 15 else 2 if longest >= 6 else 1
        ticks = [t for op, _, end in windows
                 for t in range(shifts.get(op, 0), math.ceil(end), step)]
        ax_p99.set_xticks(ticks)
        ax_p99.xaxis.set_major_formatter(_window_formatter(windows, shifts))
    else:
        ax_p99.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_p99.set_xlim(t_min, t_max)
    pairs = sorted(zip(*ax_rps.get_legend_handles_labels()),
                   key=lambda hl: hl[1] == "second with errors"
                   or hl[1].startswith("target rate"))  # drivers first
    handles, labels = [h for h, _ in pairs], [lbl for _, lbl in pairs]
    if warm:
        handles.append(Patch(color="#eeeeee"))
        labels.append("warm-up (not in the results)")
    ax_rps.legend(handles, labels, fontsize=8, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0),
                  title=("driver @ server" if any(s.multi_server for s in series) else "driver")
                  + ("\n(faded: later trials)" if several_trials else ""),
                  title_fontsize=8, alignment="left")
    return style.finish(fig, f"Requests/s and p99 over time, event loop {loop}", results, path)


def _window_formatter(windows: list[tuple[str, float, float]], shifts: dict[str, int]):
    from matplotlib.ticker import FuncFormatter

    def fmt(x: float, _pos: object = None) -> str:
        for op, start, end in windows:
            if start <= x <= end:
                return f"{x - shifts.get(op, 0):g}"
        return ""

    return FuncFormatter(fmt)
