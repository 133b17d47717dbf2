"""The end-of-run table: a row per request (op name), a column per driver, one table per loop
(per server set-up and loop when a run measured several side by side).

Cells are successful requests/s (the median over trials, ± half the range when there are
several) with the median p99 latency beside it — corrected (from the intended send time) in open
loop, service time in closed loop, as the note under the table says — and the error share when
there were errors; ``!`` marks a run with warnings (see the result file).
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from loadtnt.live.progress import fmt_us


def _cell(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "-"
    all_rps = [r["rps"] for r in runs]
    rps = statistics.median(all_rps)
    p99s = [r["latency_us"].get("p99") for r in runs]
    p99s = [p for p in p99s if p is not None]
    spread = ""
    if len(runs) > 1 and rps:
        spread = f" ±{(max(all_rps) - min(all_rps)) / 2 / rps:.0%}"
    lat = f"p99 {fmt_us(statistics.median(p99s))}" if p99s else "no successful requests"
    requests = sum(r.get("requests", 0) for r in runs)
    errors = sum(r.get("errors", 0) for r in runs)
    err = f" err {errors / requests:.1%}" if errors and requests else ""
    flag = " !" if any(r.get("warnings") for r in runs) else ""
    return f"{rps:,.0f}/s{spread} {lat}{err}{flag}"


def _cpu_cell(runs: list[dict[str, Any]]) -> str:
    per = [r["client_cpu_per_100k_s"] for r in runs if r.get("client_cpu_per_100k_s")]
    cores = [r["client_cpu"] for r in runs if r.get("client_cpu") is not None]
    if not per:
        return "-"
    out = f"{statistics.median(per):.3f} s"
    return out + (f" ({statistics.median(cores):.2f} cores)" if cores else "")


def render(runs: Sequence[dict[str, Any]], *, drivers: Sequence[str], loops: Sequence[str],
           ops: Sequence[str], servers: Sequence[str] = ()) -> str:
    table = _tables(runs, _cell, drivers=drivers, loops=loops, ops=ops, servers=servers)
    kind = ("corrected p99 latency (from the intended send time)"
            if any(r.get("latency_kind") == "corrected" for r in runs) else "p99 service time")
    several = any(r.get("trial", 1) > 1 for r in runs)
    what = "median of the trials ± half their range" if several else "one trial"
    note = (f"(successful requests/s, {what}; {kind}; "
            "err = share of requests that failed; ! = see warnings)")
    out = table + "\n" + note
    if any(r.get("client_cpu_per_100k_s") for r in runs):
        out += ("\n\nclient CPU per 100k requests (the workers' CPU seconds; in brackets the "
                "busiest worker, in cores: near 1 it was the limit)\n"
                + _tables(runs, _cpu_cell, drivers=drivers, loops=loops, ops=ops,
                          servers=servers))
    return out


def _tables(runs: Sequence[dict[str, Any]], cell: Any, *, drivers: Sequence[str],
            loops: Sequence[str], ops: Sequence[str], servers: Sequence[str]) -> str:
    blocks = []
    several = len(servers) > 1
    for server, loop in [(s, lp) for s in (servers if several else [None]) for lp in loops]:
        header = [f"{server} · {loop}" if several else loop, *drivers]
        rows = []
        for op in ops:
            row = [op]
            for d in drivers:
                row.append(cell([r for r in runs
                                  if r["loop"] == loop and r["driver"] == d and r["op"] == op
                                  and (server is None or r.get("server") == server)]))
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in [header, *rows]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def instances(windows: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> list[str]:
    """A line per measured window of a replica set: each instance's requests as its box.stat
    counted them, and their sum beside the harness's own count of the window."""
    out = []
    for w in windows:
        each = w.get("instances")
        if not each or w.get("storages") is not None:  # a sharded cluster: see sharded()
            continue
        mine = [e for e in runs if e.get("step_of") is None and e.get("trial") == w.get("trial")
                and (e.get("server"), e.get("driver"), e.get("loop")) ==
                (w.get("server"), w.get("driver"), w.get("loop")) and e["op"] in w["ops"]]
        counted = sum(int(e["requests"]) for e in mine)
        parts = " + ".join(f"{uri} {int(d.get('REQUESTS', 0)):,}" for uri, d in each.items())
        total = sum(int(d.get("REQUESTS", 0)) for d in each.values())
        out.append(f"{w.get('driver')}/{w.get('loop')} trial {w.get('trial')}: box.stat "
                   f"requests {parts} = {total:,} (the harness counted {counted:,})")
    return out


def errors(runs: Sequence[dict[str, Any]], *, several_servers: bool = False) -> list[str]:
    """A line per op (server, driver, loop) with errors: how many of its requests failed, and
    per kind its count and first message (the trials summed; the first trial's message)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in runs:
        if r.get("errors"):
            key = (r.get("server"), r["driver"], r["loop"], r["op"])
            groups.setdefault(key, []).append(r)
    out = []
    for (server, driver, loop, op), rs in groups.items():
        requests = sum(int(r.get("requests", 0)) for r in rs)
        failed = sum(int(r.get("errors", 0)) for r in rs)
        kinds: dict[str, int] = {}
        messages: dict[str, str] = {}
        for r in rs:
            for k, n in (r.get("errors_by_kind") or {}).items():
                kinds[k] = kinds.get(k, 0) + int(n)
            for k, m in (r.get("error_messages") or {}).items():
                messages.setdefault(k, m)
        where = f"{driver}/{loop}" + (f" @ {server}" if several_servers else "")
        share = f"{failed / requests:.1%}" if requests else "-"
        out.append(f"errors: {where} {op}: {failed:,} of {requests:,} requests ({share})")
        for k, n in sorted(kinds.items(), key=lambda x: -x[1]):
            out.append(f"  {k} {n:,}" + (f": {messages[k]}" if k in messages else ""))
    return out


def all_failed(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The run entries in which every request failed (a transaction's steps aside: their
    transaction is one of them then), each as one line with its first error."""
    out = []
    for r in runs:
        if r.get("step_of") is None and r.get("requests") and not r.get("ok"):
            kinds = r.get("errors_by_kind") or {}
            top = max(kinds, key=lambda k: kinds[k]) if kinds else None
            why = f": {top}" + (f" ({r['error_messages'][top]})"
                                if top in (r.get("error_messages") or {}) else "") if top else ""
            where = f"{r['driver']}/{r['loop']} trial {r.get('trial')}"
            if r.get("server"):
                where += f" @ {r['server']}"
            out.append(f"every request of op {r['op']!r} failed ({where}, "
                       f"{int(r['requests']):,} requests){why}")
    return out


def sharded(windows: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> list[str]:
    """Per measured window of a sharded cluster: the harness's count beside the routers' CALL
    counts (crud's ops are one CALL each: they must be equal), then a row per router and
    storage with its load as box.stat counted it, its CPU, and a storage's buckets and rows."""
    out: list[str] = []
    for w in windows:
        routers, storages = w.get("routers"), w.get("storages")
        if not routers or storages is None:
            continue
        mine = [e for e in runs if e.get("step_of") is None and e.get("trial") == w.get("trial")
                and (e.get("server"), e.get("driver"), e.get("loop")) ==
                (w.get("server"), w.get("driver"), w.get("loop")) and e["op"] in w["ops"]]
        counted = sum(int(e["requests"]) for e in mine)
        crud = w.get("harness_calls")  # the requests that are one CALL on a router each
        seconds = float(w.get("duration_s") or 0.0)
        calls = {n: int((d.get("delta") or {}).get("CALL", 0)) for n, d in routers.items()}
        total = sum(calls.values())
        verdict = ""
        lost = [n for n, d in routers.items() if d.get("restarted") or d.get("down")]
        if lost:
            verdict = (f" (restarted or down in the window: {', '.join(lost)}; what a killed "
                       "process served is not in its count)")
        elif crud is not None:
            verdict = (f" (the harness's crud and call requests: {crud:,}, "
                       + ("equal)" if total == crud else f"NOT equal: {total - crud:+,})"))
        ops = ", ".join(f"{e['op']} {int(e['requests']):,}" for e in mine)
        several = len({x.get("server") for x in windows if x.get("storages") is not None}) > 1
        where = f" {w.get('server')}" if several else ""
        out.append(f"sharded cluster{where}, {w.get('driver')}/{w.get('loop')} trial "
                   f"{w.get('trial')} "
                   f"({seconds:.2f} s): the harness counted {counted:,} requests ({ops})")
        out.append("  routers' CALL " + " + ".join(f"{n} {c:,}" for n, c in calls.items())
                   + f" = {total:,}{verdict}")
        rows = [["instance", "requests/s", "CALL", "cpu cores", "buckets", "rows"]]
        for kind, nodes in (("router", routers), ("storage", storages)):
            for name, node in nodes.items():
                if node.get("down"):
                    rows.append([f"{name} (down)", "-", "-", "-", "-", "-"])
                    continue
                if node.get("restarted"):
                    name = f"{name} (restarted)"
                d = node.get("delta") or {}
                req = int(d.get("REQUESTS", 0))
                rows.append([
                    name, f"{req / seconds:,.0f}" if seconds else "-", f"{int(d.get('CALL', 0)):,}",
                    f"{float(node.get('cpu_s') or 0) / seconds:.2f}" if seconds else "-",
                    f"{node['buckets']:,}" if kind == "storage" and "buckets" in node else "-",
                    f"{node['rows']:,}" if kind == "storage" and "rows" in node else "-"])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            out.append("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                        for i, c in enumerate(r)).rstrip())
        if seconds and w.get("client_cpu_s") is not None:
            r_cpu, s_cpu = (sum(float(n.get("cpu_s") or 0) for n in nodes.values()) / seconds
                            for nodes in (routers, storages))
            out.append(f"  CPU, cores: client (workers) {float(w['client_cpu_s']) / seconds:.2f}, "
                       f"routers {r_cpu:.2f}, storages {s_cpu:.2f}")
    return out
