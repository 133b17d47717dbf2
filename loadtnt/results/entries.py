"""What a run stores per op: the workers' parts merged into ``runs`` entries, and the timeline.

:func:`op_entry` merges the workers' histograms of one op losslessly; :func:`timeline` turns their
per-second ticks into each op's ``timeline`` (see loadtnt/report/RESULT_FORMAT.md).
"""
from __future__ import annotations

from typing import Any

from loadtnt import histogram

RATE_TOLERANCE = 0.95  # an open-loop run below 95 % of its target did not hold it
SATURATED_CPU = 0.95   # a worker busier than this was the bottleneck


def window_s(parts: list[dict[str, Any]]) -> float:
    """The measured window of the workers' ``parts``, seconds: from the first worker's start to
    the last one's end (they start together, at the barrier, unless one was late)."""
    if not parts:
        return 0.0
    if all(p.get("started_at") for p in parts):
        return (max(p["started_at"] + p["duration_s"] for p in parts)
                - min(p["started_at"] for p in parts))
    return max(p["duration_s"] for p in parts)


def op_entry(*, server: str, driver: str, loop: str, trial: int, op: str,
             parts: list[dict[str, Any]], target_rps: float | None) -> dict[str, Any]:
    """One ``runs`` entry from the workers' ``parts`` (their per-op results) for op ``op``."""
    duration = window_s(parts)
    ops = [p["ops"][op] for p in parts if op in p["ops"]]
    requests = sum(o["requests"] for o in ops)
    errors = sum(o["errors"] for o in ops)
    kinds: dict[str, int] = {}
    for o in ops:
        for k, n in o["errors_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + n
    h = histogram.merge(o["histogram"] for o in ops)
    entry: dict[str, Any] = {
        "server": server, "driver": driver, "loop": loop, "trial": trial, "op": op,
        "requests": requests, "errors": errors, "errors_by_kind": kinds,
        "duration_s": round(duration, 6), "rps": requests / duration if duration else 0.0,
        "latency_us": histogram.percentiles(h), "histogram": histogram.encode(h),
        "workers": len(parts),
    }
    warnings = []
    if target_rps is not None:
        sh = histogram.merge(o["service_histogram"] for o in ops)
        entry["service_histogram"] = histogram.encode(sh)
        entry["service_latency_us"] = histogram.percentiles(sh)
        entry["target_rps"] = target_rps
        if entry["rps"] < RATE_TOLERANCE * target_rps:
            warnings.append(f"could not hold target rate: {entry['rps']:.0f} of "
                            f"{target_rps:.0f} req/s")
        busy = [p.get("cpu_s", 0.0) / p["duration_s"] for p in parts if p["duration_s"]]
        if busy and max(busy) > SATURATED_CPU:
            warnings.append(f"client saturated: a worker used {max(busy):.0%} of a CPU")
    if any(p.get("stopped") for p in parts):
        warnings.append("interrupted: the measured window was cut short")
    if warnings:
        entry["warnings"] = warnings
    return entry


TAIL_MERGE_S = 0.25  # a window's last bucket shorter than this joins the second before it


def timeline(warmup: dict[int, dict[str, Any]], measure: dict[int, dict[str, Any]]
             ) -> dict[str, list[dict[str, Any]]]:
    """Each op's ``timeline`` (see RESULT_FORMAT.md) from the workers' merged ticks.

    ``warmup`` / ``measure``: ``{t: {"len_s": seconds, "ops": {op: {"requests", "errors",
    "hist"}}}}`` with ``t`` the 1-based tick of that phase (``hist``: ``(index, count)`` pairs).
    Measured seconds get ``t_s = t - 1``; warm-up seconds count back from the measured window,
    the last one at ``t_s = -1``. A last bucket shorter than :data:`TAIL_MERGE_S` (the requests
    that completed just after the last whole second) joins the one before; a bucket whose length
    is not a whole second says so in ``len_s``.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for buckets, back in ((warmup, True), (measure, False)):
        buckets = _merge_tail(buckets)
        last = max(buckets, default=0)
        for t in sorted(buckets):
            b = buckets[t]
            t_s = t - 1 - last if back else t - 1
            for name, o in b["ops"].items():
                point: dict[str, Any] = {
                    "t_s": t_s, "requests": o["requests"], "errors": o["errors"],
                    "p99_us": histogram.sparse_percentile(o["hist"], 99.0)}
                if abs(b["len_s"] - 1.0) >= 0.0005:
                    point["len_s"] = round(b["len_s"], 3)
                out.setdefault(name, []).append(point)
    return out


def _merge_tail(buckets: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    if len(buckets) < 2:
        return dict(buckets)
    last = max(buckets)
    tail, prev = buckets[last], buckets.get(last - 1)
    if prev is None or tail["len_s"] >= TAIL_MERGE_S:
        return dict(buckets)
    ops = {name: {"requests": o["requests"], "errors": o["errors"], "hist": list(o["hist"])}
           for name, o in prev["ops"].items()}
    for name, o in tail["ops"].items():
        acc = ops.setdefault(name, {"requests": 0, "errors": 0, "hist": []})
        acc["requests"] += o["requests"]
        acc["errors"] += o["errors"]
        acc["hist"].extend(o["hist"])
    merged = {t: b for t, b in buckets.items() if t < last - 1}
    merged[last - 1] = {"len_s": prev["len_s"] + tail["len_s"], "ops": ops}
    return merged
