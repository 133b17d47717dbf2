"""Load per storage of a sharded cluster: each router's and storage's requests/s (box.stat's
REQUESTS over the measured window) and CPU cores, a bar per measured window, and - when buckets
moved during a window (a rebalance) - each storage's active buckets over that window. Drawn only
for results with a sharded cluster (``server[].storages``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loadtnt.report import style
from loadtnt.report.load import Result


def windows(results: list[Result]) -> list[tuple[str, dict[str, Any]]]:
    """(label, window) of every measured window with a sharded cluster's instances."""
    out = []
    several = len(results) > 1
    for r in results:
        for w in r.server:
            if w.get("storages") is None or not w.get("routers"):
                continue
            label = f"{w.get('driver')}/{w.get('loop')} trial {w.get('trial')}"
            if w.get("server") and len({x.get("server") for x in r.server}) > 1:
                label = f"{w['server']}: {label}"
            if several:
                label = f"{r.label}: {label}"
            out.append((label, w))
    return out


def draw(results: list[Result], path: Path) -> Path | None:
    found = windows(results)
    if not found:
        return None
    names: list[str] = []
    for _, w in found:
        for n in [*w["routers"], *w["storages"]]:
            if n not in names:
                names.append(n)
    # a window whose buckets moved (a rebalance): its buckets per storage over time as well
    moving = next(((label, w) for label, w in found if _moved(w)), None)
    panels = 3 if moving is not None else 2
    fig = style.new_figure(max(10.0, 1.1 * len(names) * max(1, len(found)) ** 0.5 + 3)
                           * panels / 2, 5.2)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    x = np.arange(len(names))
    group_w = min(0.8, 0.25 * len(found))
    bar_w = group_w / len(found)
    for i, (label, w) in enumerate(found):
        seconds = float(w.get("duration_s") or 0.0) or 1.0
        nodes = {**w["routers"], **w["storages"]}
        rps = [int((nodes.get(n, {}).get("delta") or {}).get("REQUESTS", 0)) / seconds
               for n in names]
        cpu = [float(nodes.get(n, {}).get("cpu_s") or 0.0) / seconds for n in names]
        pos = x - group_w / 2 + bar_w * (i + 0.5)
        color = style.SERVER_COLORS[i % len(style.SERVER_COLORS)]
        axes[0].bar(pos, rps, bar_w * 0.92, color=color, label=label, zorder=2)
        axes[1].bar(pos, cpu, bar_w * 0.92, color=color, label=label, zorder=2)
        for p, v, n in zip(pos, rps, names):
            buckets = nodes.get(n, {}).get("buckets")
            text = style.fmt_count(float(f"{v:.3g}")) + (f"\n{buckets} b" if buckets else "")
            axes[0].annotate(text, (p, v), xytext=(0, 2), textcoords="offset points",
                             ha="center", va="bottom", fontsize=7, color="#333333")
    for ax, what in ((axes[0], "requests/s (box.stat REQUESTS)"), (axes[1], "CPU, cores")):
        ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0,
                      ha="right" if len(names) > 4 else "center")
        ax.set_ylabel(what)
        ax.grid(axis="y", color="#dddddd", zorder=0)
        ax.set_axisbelow(True)
        ax.margins(y=0.15)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].yaxis.set_major_formatter(style.COUNT_FORMATTER)
    axes[0].set_title("load per instance (b = buckets on a storage)", fontsize=11)
    axes[1].set_title("CPU per instance", fontsize=11)
    axes[0].legend(fontsize=8, loc="upper right")
    if moving is not None:
        label, w = moving
        points = w["buckets_timeline"]
        storages = list(dict.fromkeys(n for p in points for n in p["buckets"]))
        for i, name in enumerate(storages):
            axes[2].plot([p["t_s"] for p in points], [p["buckets"].get(name) for p in points],
                         marker="o", markersize=3, label=name,
                         color=style.SERVER_COLORS[i % len(style.SERVER_COLORS)])
        axes[2].set_title(f"buckets per storage over time ({label})", fontsize=11)
        axes[2].set_xlabel("seconds into the measured window")
        axes[2].set_ylabel("active buckets")
        axes[2].grid(color="#dddddd")
        axes[2].legend(fontsize=8)
        for side in ("top", "right"):
            axes[2].spines[side].set_visible(False)
    return style.finish(fig, "Sharded cluster: load per router and storage", results, path)


def _moved(w: dict[str, Any]) -> bool:
    """Did the window's buckets move (a storage's count changed, or a storage joined)?"""
    points = w.get("buckets_timeline") or []
    return len(points) > 1 and any(p["buckets"] != points[0]["buckets"] for p in points)
