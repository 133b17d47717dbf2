"""The capacity curve: latency percentiles (p50, p99, p99.9, corrected: from the intended send
times) against the achieved throughput of every step of ``loadtnt capacity``, the SLO's latency
as a horizontal line and the knee (the highest rate that held) marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import LogLocator, NullFormatter

from loadtnt.report import style
from loadtnt.report.load import parse_result
from loadtnt.results.thresholds import parse_slo

LINES = (("p50", "p50", "#3a9e3a"), ("p99", "p99", "#1f6fb4"), ("p999", "p99.9", "#8c5bb5"))


def draw(data: dict[str, Any], path: Path) -> Path | None:
    """``data``: a result file's content with ``capacity``."""
    cap = data.get("capacity") or {}
    # in the order of the offered rate: past the knee the achieved rate falls behind the
    # offered one and the curve bends back, as it does
    steps = sorted(cap.get("steps") or [], key=lambda s: s["offered_rps"])
    if not steps:
        return None
    fig = style.new_figure(10, 6.2)
    ax = fig.subplots()
    x = [s["achieved_rps"] for s in steps]
    for key, label, color in LINES:
        y = [s["latency_us"].get(key) or float("nan") for s in steps]
        ax.plot(x, y, marker="o", markersize=4, linewidth=1.6, color=color, label=label)
    broke = [s for s in steps if not s["held"]]
    if broke:
        ax.scatter([s["achieved_rps"] for s in broke], [s["latency_us"].get("p99") or 0
                                                        for s in broke],
                   marker="x", s=50, color="#c0392b", zorder=5, label="step broke the SLO")
    try:
        slo = [t for t in parse_slo(str(cap.get("slo") or "")) if t.latency]
    except ValueError:
        slo = []
    for t in slo:
        ax.axhline(t.limit, color="#c0392b", linestyle="--", linewidth=1.2,
                   label=f"SLO {t.text}")
    knee = cap.get("knee")
    if knee:
        ax.axvline(knee["achieved_rps"], color="#555555", linestyle=":", linewidth=1.2)
        ax.annotate(f"knee: {cap['rate']:,.0f} req/s offered\n"
                    f"({knee['achieved_rps']:,.0f} achieved)",
                    xy=(knee["achieved_rps"], knee["latency_us"].get("p99") or 1),
                    xytext=(-12, 24), textcoords="offset points", ha="right", fontsize=9,
                    arrowprops={"arrowstyle": "->", "color": "#555555"})
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(style.US_FORMATTER)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(style.COUNT_FORMATTER)
    ax.set_xlabel("achieved throughput (successful requests/s)")
    ax.set_ylabel("latency from the intended send time (log scale)")
    ax.grid(color="#dddddd")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    limited = cap.get("client_limited")
    title = (f"Latency against throughput: capacity {cap['rate']:,.0f} req/s at {cap['slo']}"
             if cap.get("rate") and not limited else
             f"Latency against throughput ({cap.get('slo')}): "
             + ("client-limited" if limited else "no capacity found"))
    return style.finish(fig, title, [parse_result(data, path.name)], path)
