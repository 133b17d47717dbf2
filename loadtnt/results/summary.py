"""The end-of-run table: a row per request (op name), a column per driver, one table per loop
(per server set-up and loop when a run measured several side by side).

Cells are requests/s (the median over trials, ± half the range when there are several) with the
median p99 latency beside it; ``!`` marks a run with warnings (see the result file).
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
    p99 = statistics.median(r["latency_us"]["p99"] for r in runs)
    spread = ""
    if len(runs) > 1 and rps:
        spread = f" ±{(max(all_rps) - min(all_rps)) / 2 / rps:.0%}"
    flag = " !" if any(r.get("warnings") for r in runs) else ""
    return f"{rps:,.0f}/s{spread} p99 {fmt_us(p99)}{flag}"


def render(runs: Sequence[dict[str, Any]], *, drivers: Sequence[str], loops: Sequence[str],
           ops: Sequence[str], servers: Sequence[str] = ()) -> str:
    blocks = []
    several = len(servers) > 1
    for server, loop in [(s, lp) for s in (servers if several else [None]) for lp in loops]:
        header = [f"{server} · {loop}" if several else loop, *drivers]
        rows = []
        for op in ops:
            row = [op]
            for d in drivers:
                row.append(_cell([r for r in runs
                                  if r["loop"] == loop and r["driver"] == d and r["op"] == op
                                  and (server is None or r.get("server") == server)]))
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in [header, *rows]]
        blocks.append("\n".join(lines))
    note = "(requests/s, median of trials ± half their range; p99 latency; ! = see warnings)"
    return "\n\n".join(blocks) + "\n" + note
