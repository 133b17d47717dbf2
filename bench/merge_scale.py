#!/usr/bin/env python3
"""How far one coordinator goes: its cost per worker, with synthetic workers (issue 12 item 7).

A ``--cluster`` run sends the coordinator, per worker, a ``tick`` a second (each op's counts and
sparse histogram of that second) and a ``done`` per phase (each op's full V2-encoded
histograms). This builds those messages for N workers as the workers write them (realistic
latency spreads recorded with the project's Recorder) and times what the coordinator does with
them, using the project's own code:

* ``ticks``: JSON-decoding a second's N ticks and :meth:`Session._tick` / ``_emit_tick`` (the
  live line, the timeline buckets) — a budget of 1 s per second;
* ``merge``: JSON-decoding the N ``done`` messages and :func:`op_entry` (the lossless
  HdrHistogram merge, percentiles, re-encoding) — once per phase;
* memory: tracemalloc's peak while the coordinator holds a window's ``done`` parts and its
  timeline buckets (the ticks of every second, kept until the window ends).

Example::

    .venv/bin/python bench/merge_scale.py --workers 10,100,1000 --seconds 10
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loadtnt import histogram
from loadtnt.live.progress import Progress
from loadtnt.results.entries import op_entry, timeline
from loadtnt.runner.session import Session
from loadtnt.scenario.model import Operation, Scenario

TEMPLATES = 16
RPS_PER_WORKER = 50_000  # a loadtnt worker's ping rate on one core, roughly


def _recorders(rng: random.Random, samples: int) -> list[Any]:
    """Distinct latency shapes: lognormal around 150 µs .. 2 ms with a long tail."""
    out = []
    for _ in range(TEMPLATES):
        rec = histogram.Recorder()
        median, sigma = rng.uniform(150, 2000), rng.uniform(0.3, 0.9)
        for _ in range(samples):
            rec.record(int(rng.lognormvariate(0, sigma) * median))
        out.append(rec)
    return out


def _messages(n: int, seconds: int, recs: list[Any]) -> tuple[list[list[str]], list[str]]:
    """Per second the N tick lines, and the N done lines, as workers write them."""
    ticks = []
    for t in range(1, seconds + 1):
        second = []
        for i in range(n):
            rec = recs[(i + t) % len(recs)]
            scale = RPS_PER_WORKER / max(rec.total, 1)
            pairs = [(b, max(1, int(c * scale))) for b, c in rec.nonzero()]
            second.append(json.dumps({"type": "tick", "phase": "measure", "index": i, "t": t,
                                      "ops": {"ping": {"requests": sum(c for _, c in pairs),
                                                       "errors": 0, "hist": pairs}}},
                                     separators=(",", ":")))
        ticks.append(second)
    done = []
    for i in range(n):
        rec = recs[i % len(recs)]
        done.append(json.dumps({
            "type": "done", "phase": "measure", "index": i, "duration_s": float(seconds),
            "started_at": 1.8e9, "cpu_s": seconds * 0.9, "spin_s": 0.0, "late_sends": 0,
            "stopped": False,
            "ops": {"ping": {"requests": RPS_PER_WORKER * seconds,
                             "ok": RPS_PER_WORKER * seconds, "errors": 0, "errors_by_kind": {},
                             "histogram": histogram.encode(rec), "max_us": rec.max_value,
                             "clamped": 0}}}, separators=(",", ":")))
    return ticks, done


class _Proc:
    def __init__(self, index: int) -> None:
        self.index, self.alive = index, True


def _session() -> Session:
    sc = Scenario(name="merge-scale", operations=(Operation(op="ping", name="ping"),))
    s = Session(sc, out=Path("/dev/null"), progress=Progress(live=False))
    s._buckets = {"warmup": {}, "measure": {}}
    return s


def _replay(n: int, tick_lines: list[list[str]], done_lines: list[str]
            ) -> tuple[list[float], float, dict[str, Any]]:
    """What the coordinator does with the messages: seconds per second of ticks, the merge."""
    procs = [_Proc(i) for i in range(n)]
    s = _session()
    per_second = []
    for second in tick_lines:
        t0 = time.perf_counter()
        pending: dict[int, dict[int, dict[str, Any]]] = {}
        for line in second:
            s._tick(pending, json.loads(line), procs, "bench")  # type: ignore[arg-type]
        per_second.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    parts = [json.loads(line) for line in done_lines]
    entry = op_entry(server="s", driver="loadtnt", loop="uvloop", trial=1, op="ping",
                     parts=parts, target_rps=None, workers=n)
    entry["timeline"] = timeline(s._buckets["warmup"], s._buckets["measure"])["ping"]
    return per_second, time.perf_counter() - t0, entry


def measure(n: int, seconds: int, recs: list[Any]) -> dict[str, Any]:
    tick_lines, done_lines = _messages(n, seconds, recs)
    gc.collect()
    per_second, merge_s, entry = _replay(n, tick_lines, done_lines)  # timed without tracing
    assert entry["requests"] == n * seconds * RPS_PER_WORKER
    assert histogram.decode(entry["histogram"]).get_total_count() == sum(
        recs[i % len(recs)].total for i in range(n))
    del entry
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    _replay(n, tick_lines, done_lines)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "workers": n,
        "tick_ms": statistics.median(per_second) * 1e3,
        "tick_ms_max": max(per_second) * 1e3,
        "merge_ms": merge_s * 1e3,
        "peak_mb": peak / 2**20,
        "kb_per_worker": peak / n / 1024,
        "tick_bytes": statistics.mean(len(x) for x in tick_lines[0]),
        "done_bytes": statistics.mean(len(x) for x in done_lines),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="10,100,1000")
    ap.add_argument("--seconds", type=int, default=10, help="measured window (ticks kept)")
    ap.add_argument("--samples", type=int, default=100_000, help="per latency shape")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    recs = _recorders(random.Random(args.seed), args.samples)
    print(f"# merge_scale: {platform.node()}, {platform.python_version()}, "
          f"fast recorder {histogram.FAST}, window {args.seconds} s, "
          f"{statistics.mean(len(r.nonzero()) for r in recs):.0f} nonzero buckets per "
          "histogram\n")
    print("| workers | ticks: ms per second (median / max) | merge at the window's end, ms "
          "| peak memory, MB | per worker, KB | tick / done message, bytes |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in (int(x) for x in args.workers.split(",")):
        r = measure(n, args.seconds, recs)
        print(f"| {n} | {r['tick_ms']:.1f} / {r['tick_ms_max']:.1f} | {r['merge_ms']:.0f} | "
              f"{r['peak_mb']:.1f} | {r['kb_per_worker']:.0f} | "
              f"{r['tick_bytes']:.0f} / {r['done_bytes']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
