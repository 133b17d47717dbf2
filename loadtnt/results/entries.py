"""What a run stores per op: the workers' parts merged into ``runs`` entries, and the timeline.

:func:`op_entry` merges the workers' histograms of one op losslessly; :func:`timeline` turns their
per-second ticks into each op's ``timeline`` (see loadtnt/report/RESULT_FORMAT.md).
"""
from __future__ import annotations

import math
from typing import Any

from loadtnt import histogram
from loadtnt.scenario.opspec import CRUD_OPS

RATE_TOLERANCE = 0.95  # an open-loop group below 95 % of its target did not hold it
BINOMIAL_Z = 3.0       # per op, that much below its share of the schedule, in binomial sigmas
SATURATED_CPU = 0.95   # a worker busier than this (not counting its waits for exact send
                       # times) was the bottleneck
ERROR_SHARE_WARN = 0.01  # errors above this share of requests: a warning (and `!`)


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
             parts: list[dict[str, Any]], target_rps: float | None,
             workers: int | None = None) -> dict[str, Any]:
    """One ``runs`` entry from the workers' ``parts`` (their per-op results) for op ``op``.

    ``workers``: how many workers were asked to measure (fewer ``parts``: some died and their
    requests are missing). ``rps`` counts successful requests only; errors are beside it.
    """
    duration = window_s(parts)
    ops = [p["ops"][op] for p in parts if op in p["ops"]]
    requests = sum(o["requests"] for o in ops)
    errors = sum(o["errors"] for o in ops)
    ok = sum(o.get("ok", o["requests"] - o["errors"]) for o in ops)
    kinds: dict[str, int] = {}
    messages: dict[str, str] = {}
    for o in ops:
        for k, n in o["errors_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + n
        for k, m in (o.get("error_messages") or {}).items():
            messages.setdefault(k, m)  # the first worker's (each worker keeps its first)
    h = histogram.merge(o["histogram"] for o in ops)
    max_us = _max(o.get("max_us") for o in ops)
    share = errors / requests if requests else 0.0
    entry: dict[str, Any] = {
        "server": server, "driver": driver, "loop": loop, "trial": trial, "op": op,
        "requests": requests, "ok": ok, "errors": errors, "error_share": round(share, 6),
        "errors_by_kind": kinds,
        "error_messages": {k: messages[k] for k in kinds if k in messages},
        "duration_s": round(duration, 6), "rps": ok / duration if duration else 0.0,
        "latency_us": histogram.percentiles(h, max_us), "histogram": histogram.encode(h),
        "latency_kind": "service" if target_rps is None else "corrected",
        "workers": len(parts),
    }
    warnings = []
    if workers is not None and len(parts) < workers:
        entry["workers_expected"] = workers
        warnings.append(f"incomplete: {workers - len(parts)} of {workers} workers did not "
                        "finish the window; their requests are missing")
    if requests and not ok:
        warnings.append("no successful requests")
    if share > ERROR_SHARE_WARN:
        top = "; ".join(f"{k} {n:,}" + (f": {messages[k]}" if k in messages else "")
                        for k, n in sorted(kinds.items(), key=lambda x: -x[1])[:3])
        warnings.append(f"errors: {share:.1%} of requests failed ({top})")
    clamped = sum(o.get("clamped", 0) for o in ops)
    if clamped:
        entry["clamped"] = clamped
        warnings.append(f"{clamped} latencies over 1 h were recorded as 1 h")
    if target_rps is not None:
        sh = histogram.merge(o["service_histogram"] for o in ops)
        entry["service_histogram"] = histogram.encode(sh)
        entry["service_latency_us"] = histogram.percentiles(
            sh, _max(o.get("service_max_us") for o in ops))
        entry["target_rps"] = target_rps
        if all("lateness_histogram" in o for o in ops):
            lh = histogram.merge(o["lateness_histogram"] for o in ops)
            entry["lateness_histogram"] = histogram.encode(lh)
            entry["send_lateness_us"] = histogram.percentiles(lh)
            for k in ("scheduled", "sent", "dropped", "late_sends"):
                entry[k] = sum(o.get(k, 0) for o in ops)
            if entry["dropped"]:
                warnings.append(
                    f"dropped {entry['dropped']:,} of {entry['scheduled']:,} scheduled sends "
                    "(no free coroutine before the window closed); the corrected latency counts "
                    "each as waiting until then")
    # what the load generator cost: the busiest worker in cores, and all workers' CPU per
    # 100,000 requests of the phase (all its ops: a worker's CPU is not split by op), both
    # less the empty polling turns of an open loop waiting for a slot's time (each capped,
    # see worker.load.POLL_TURN_NS)
    busy = [(p.get("cpu_s", 0.0) - p.get("spin_s", 0.0)) / p["duration_s"]
            for p in parts if p["duration_s"]]
    if busy:
        entry["client_cpu"] = round(max(max(busy), 0.0), 3)
    done = sum(o["requests"] for p in parts for o in p["ops"].values())
    if done and any("cpu_s" in p for p in parts):
        cpu = sum(max(p.get("cpu_s", 0.0) - p.get("spin_s", 0.0), 0.0) for p in parts)
        entry["client_cpu_per_100k_s"] = round(cpu / done * 100_000, 4)
    if target_rps is not None and busy and max(busy) > SATURATED_CPU:
        warnings.append(f"client saturated: a worker used {max(busy):.0%} of a CPU")
    if any(p.get("stopped") for p in parts):
        warnings.append("interrupted: the measured window was cut short")
    if warnings:
        entry["warnings"] = warnings
    return entry


def _max(values: Any) -> int | None:
    present = [int(v) for v in values if v is not None]
    return max(present) if present else None


def rate_warnings(entries: list[dict[str, Any]], weights: dict[str, float], rate: float,
                  seconds: float | None) -> dict[str, list[str]]:
    """"could not hold target rate" per op of one open-loop group.

    The group holds its rate when all its ops together completed at least
    :data:`RATE_TOLERANCE` of the total target; each op on its own is judged against its
    share of the schedule with a binomial tolerance (its share of a random mix varies: a
    5 %-weight op of 2,000 slots gets 100 ± 10), so the mix alone never flags an op.
    """
    out: dict[str, list[str]] = {}
    duration = max((e["duration_s"] for e in entries), default=0.0)
    if not duration:
        return out
    total_w = sum(weights.values()) or 1.0
    done = sum(e["requests"] for e in entries)
    if done / duration < RATE_TOLERANCE * rate:
        msg = (f"could not hold target rate: {done / duration:,.0f} of {rate:,.0f} req/s "
               "(all ops of the group)")
        return {e["op"]: [msg] for e in entries}
    slots = rate * (seconds or duration)
    for e in entries:
        p = weights.get(e["op"], 0.0) / total_w
        expect = slots * p
        sigma = math.sqrt(max(expect * (1 - p), 0.0))
        if e["requests"] < RATE_TOLERANCE * expect - BINOMIAL_Z * sigma:
            out[e["op"]] = [(f"could not hold target rate: {e['requests'] / duration:,.0f} of "
                             f"{rate * p:,.0f} req/s")]
    return out


# box.stat() key of each op's request type (ping has none: only the REQUESTS total counts it)
STAT_KEYS = {"select": "SELECT", "insert": "INSERT", "replace": "REPLACE", "update": "UPDATE",
             "upsert": "UPSERT", "delete": "DELETE", "call": "CALL", "call16": "CALL",
             "eval": "EVAL", "execute": "EXECUTE"}
STAT_KEYS.update({op: "CALL" for op in CRUD_OPS})  # one IPROTO_CALL of crud.<op> each


def cross_check(entries: list[dict[str, Any]], ops: dict[str, str],
                delta: dict[str, int]) -> list[str]:
    """Warnings when the client's counts of one group disagree with the server's box.stat()
    delta: the REQUESTS total (requests that reached the server: successes and errors less
    those lost with a connection) must match, give or take the timeouts (the server may still
    hold them), and no request type may count fewer on the server than the client sent (more is
    fine: Lua in calls and evals counts too). ``ops``: op name → op kind. Requests that failed
    in the client (:data:`CLIENT_SIDE`) were never sent, and a server count above the client's
    by no more than the SELECTs the load did not send is the drivers' own schema fetches: no
    disagreement.

    A transaction sends BEGIN and then COMMIT or ROLLBACK (two requests per attempt, BEGIN and,
    for each that succeeded, COMMIT among the types); its steps are entries of their own
    (``step_of``) with their own kinds, so their requests count there."""
    out = []

    def sent(e: dict[str, Any]) -> int:
        kinds = e["errors_by_kind"]
        unsent = kinds.get("disconnect", 0) + sum(kinds.get(k, 0) for k in CLIENT_SIDE)
        return int(e["requests"] - unsent)

    def per_attempt(e: dict[str, Any]) -> int:
        return 2 if ops.get(e["op"]) == "transaction" else 1

    client = sum(sent(e) * per_attempt(e) for e in entries)
    timeouts = sum(e["errors_by_kind"].get("timeout", 0) * per_attempt(e) for e in entries)
    server = delta.get("REQUESTS")
    # the drivers' own schema fetches (SELECTs on _vspace and _vindex, after a name they did
    # not know or a schema change) reach the server too: SELECTs the load did not send
    load_selects = sum(sent(e) for e in entries if ops.get(e["op"]) == "select")
    schema_selects = max(int(delta.get("SELECT", 0)) - load_selects, 0)
    if server is not None and abs(client - server) > timeouts and not (
            0 < server - client <= schema_selects + timeouts):
        out.append(f"client and server disagree: the client counted {client:,} requests, the "
                   f"server {server:,}")
    by_key: dict[str, int] = {}
    for e in entries:
        kind = ops.get(e["op"], "")
        if kind == "transaction":
            by_key["BEGIN"] = by_key.get("BEGIN", 0) + sent(e)
            by_key["COMMIT"] = by_key.get("COMMIT", 0) + int(e.get("ok", 0))
            continue
        key = STAT_KEYS.get(kind)
        if key:
            by_key[key] = by_key.get(key, 0) + sent(e)
    for key, n in by_key.items():
        if key in delta and delta[key] < n - timeouts:
            out.append(f"client and server disagree: the client sent {n:,} {key}, the server "
                       f"counted {delta[key]:,}")
    return out


# error kinds of requests that fail in the client before anything is sent: a name the schema
# does not know, an argument that does not encode
CLIENT_SIDE = ("other:TarantoolSchemaError", "other:SchemaError", "other:TypeError",
               "other:ValueError", "other:KeyError", "other:OverflowError",
               "other:IntegerOutOfRangeError", "other:ValueNestingError")

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
                out.setdefault(name, []).append(timeline_point(o, t_s, b["len_s"]))
    return out


def timeline_point(o: dict[str, Any], t_s: int, len_s: float) -> dict[str, Any]:
    """One second of one op in the timeline (``o``: its merged tick, ``{"requests", "errors",
    "hist"}``); the live dashboard and Prometheus draw the same points."""
    p50, p99, p999 = histogram.sparse_percentiles(o["hist"], (50.0, 99.0, 99.9))
    point: dict[str, Any] = {"t_s": t_s, "requests": o["requests"], "errors": o["errors"],
                             "p99_us": p99, "p50_us": p50, "p999_us": p999}
    if "sent" in o:
        point["sent"] = o["sent"]
    if abs(len_s - 1.0) >= 0.0005:
        point["len_s"] = round(len_s, 3)
    return point


def _merge_tail(buckets: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    if len(buckets) < 2:
        return dict(buckets)
    last = max(buckets)
    tail, prev = buckets[last], buckets.get(last - 1)
    if prev is None or tail["len_s"] >= TAIL_MERGE_S:
        return dict(buckets)
    ops = {name: {**o, "hist": list(o["hist"])} for name, o in prev["ops"].items()}
    for name, o in tail["ops"].items():
        acc = ops.setdefault(name, {"requests": 0, "errors": 0, "hist": []})
        acc["requests"] += o["requests"]
        acc["errors"] += o["errors"]
        acc["hist"].extend(o["hist"])
        if "sent" in o:
            acc["sent"] = acc.get("sent", 0) + o["sent"]
    merged = {t: b for t, b in buckets.items() if t < last - 1}
    merged[last - 1] = {"len_s": prev["len_s"] + tail["len_s"], "ops": ops}
    return merged


def add_targets(points: list[dict[str, Any]], *, share: float, warmup_rate: float | None,
                rate: float | None = None, profile: Any = None) -> None:
    """Each timeline point of an open-loop op gets ``target_rps``: the op's share (by weight) of
    the schedule's rate in that bucket — a constant ``rate``, or the stages' ``profile``
    averaged over the bucket (the slots it intended there over its length); warm-up seconds
    the warm-up's rate."""
    for p in points:
        length = float(p.get("len_s") or 1.0)
        t = p["t_s"]
        if t < 0:
            total = warmup_rate
        elif profile is not None:
            total = (profile.count_at(t + length) - profile.count_at(t)) / length
        else:
            total = rate
        if total is not None:
            p["target_rps"] = round(total * share, 3)


def stage_summaries(points: list[dict[str, Any]], profile: Any, share: float
                    ) -> list[dict[str, Any]]:
    """Per stage of ``profile``: what was intended and what was done in its seconds (each
    measured bucket belongs to the stage its start falls in), with the p99 of the worst second."""
    out = []
    for index, stage, start, end in profile.spans():
        inside = [p for p in points if p["t_s"] >= 0 and start <= p["t_s"] < end]
        seconds = sum(float(p.get("len_s") or 1.0) for p in inside)
        requests = sum(p["requests"] for p in inside)
        p99s = [p["p99_us"] for p in inside if p.get("p99_us") is not None]
        item: dict[str, Any] = {
            "stage": index, "kind": stage.kind, **stage.normalized(),
            "start_s": round(start, 6), "end_s": round(end, 6),
            "target_rps_from": round(profile.rate_at(start) * share, 3),
            "target_rps_to": round(profile.rate_at(max(end - 1e-9, start)) * share, 3),
            "scheduled": round((profile.count_at(end) - profile.count_at(start)) * share),
            "requests": requests, "errors": sum(p["errors"] for p in inside),
            "rps": round(requests / seconds, 3) if seconds else 0.0,
            "p99_us_worst_second": max(p99s) if p99s else None,
        }
        if inside and all("sent" in p for p in inside):
            item["sent"] = sum(p["sent"] for p in inside)
        out.append(item)
    return out
