#!/usr/bin/env python3
"""Does watching a run slow it? The same scenario with ``--dashboard`` and ``--prometheus`` on
and off, interleaved (off, on, off, on, …), each a separate ``loadtnt run`` with its own
embedded server; medians and spread of the total successful req/s, and their ratio (target:
on/off ≥ 0.95, design.md's "dashboard/Prometheus on vs off").

In the "on" runs the bench also watches, as a person and Prometheus would: it reads the page's
event stream and scrapes ``/metrics`` once a second, so the coordinator really serves.

Example (the full measurement; ~2 × pairs × (warm-up + duration + ~3 s))::

    .venv/bin/python bench/live_bench.py --pairs 7 --duration 20s --workers 2 \\
        --out results/live-bench.json

A short smoke: ``--pairs 2 --duration 3s``.
"""
from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

SCENARIO = """\
name: live-bench
drivers: [{driver}]
loops: [{loop}]
workers: {workers}
connections: 1
concurrency: {concurrency}
warmup: {warmup}
duration: {duration}
operations:
  - op: ping
  - op: select
    space: tester
    key: {{uniform: [1, 1000]}}
"""


class Watcher:
    """Reads the dashboard's event stream and scrapes /metrics once a second, until stopped."""

    def __init__(self, dashboard: str, metrics: str) -> None:
        self.dashboard, self.metrics = dashboard, metrics
        self.events = self.scrapes = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._sse, self._scrape)]
        for t in self._threads:
            t.start()

    def _sse(self) -> None:
        m = re.match(r"http://([^/:]+):(\d+)/", self.dashboard)
        assert m
        try:
            conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=60)
            conn.request("GET", "/events")
            resp = conn.getresponse()
            while not self._stop.is_set():
                line = resp.readline()
                if not line:
                    return
                if line.startswith(b"event:"):
                    self.events += 1
        except OSError:
            return

    def _scrape(self) -> None:
        while not self._stop.wait(1.0):
            try:
                with urllib.request.urlopen(self.metrics, timeout=5) as r:
                    r.read()
                self.scrapes += 1
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()


def one_run(python: str, scenario: Path, live: bool, tmp: Path, n: int) -> dict[str, Any]:
    out = tmp / f"run-{n}-{'on' if live else 'off'}.json"
    cmd = [python, "-m", "loadtnt", "run", str(scenario), "--out", str(out)]
    if live:
        cmd += ["--dashboard", "127.0.0.1:0", "--prometheus", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    watcher = None
    urls: dict[str, str] = {}
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.match(r"(dashboard|prometheus): (http\S+)", line)
        if m:
            urls[m.group(1)] = m.group(2)
            if len(urls) == 2 and watcher is None:
                watcher = Watcher(urls["dashboard"], urls["prometheus"])
    proc.wait()
    if watcher is not None:
        watcher.stop()
    if proc.returncode != 0:
        raise SystemExit(f"loadtnt run failed ({proc.returncode}): {' '.join(cmd)}")
    data = json.loads(out.read_text())
    runs = data["runs"]
    return {"live": live, "rps": sum(e["rps"] for e in runs),
            "requests": sum(e["requests"] for e in runs),
            "other_cpu_cores": max((e.get("other_cpu_cores") or 0) for e in runs),
            "events_read": watcher.events if watcher else None,
            "scrapes": watcher.scrapes if watcher else None}


def summary(values: list[float]) -> dict[str, float]:
    med = statistics.median(values)
    return {"median": med, "min": min(values), "max": max(values),
            "half_range_pct": 100 * (max(values) - min(values)) / 2 / med if med else 0.0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=5, help="off/on pairs (default 5)")
    p.add_argument("--duration", default="10s")
    p.add_argument("--warmup", default="2s")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=300)
    p.add_argument("--driver", default="loadtnt")
    p.add_argument("--loop", default="uvloop")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--out", type=Path, help="write the measurements as JSON here")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="loadtnt-live-bench-") as tmp:
        scenario = Path(tmp) / "live-bench.yaml"
        scenario.write_text(SCENARIO.format(driver=args.driver, loop=args.loop,
                                            workers=args.workers, concurrency=args.concurrency,
                                            warmup=args.warmup, duration=args.duration))
        for i in range(args.pairs):
            for live in (False, True):
                row = one_run(args.python, scenario, live, Path(tmp), i)
                rows.append(row)
                print(f"pair {i + 1}/{args.pairs} {'on ' if live else 'off'} "
                      f"{row['rps']:>10,.0f} req/s  other cores {row['other_cpu_cores']:.2f}"
                      + (f"  (watched: {row['events_read']} events, {row['scrapes']} scrapes)"
                         if live else ""), flush=True)
    off = summary([r["rps"] for r in rows if not r["live"]])
    on = summary([r["rps"] for r in rows if r["live"]])
    pair_ratios = [rows[2 * i + 1]["rps"] / rows[2 * i]["rps"] for i in range(args.pairs)]
    ratio = on["median"] / off["median"]
    print(f"off: median {off['median']:,.0f} req/s (±{off['half_range_pct']:.1f} %)")
    print(f"on:  median {on['median']:,.0f} req/s (±{on['half_range_pct']:.1f} %)")
    print(f"on/off: {ratio:.3f} (median of medians); per pair "
          + ", ".join(f"{r:.3f}" for r in pair_ratios)
          + f"; median pair ratio {statistics.median(pair_ratios):.3f}")
    if args.out:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=False).stdout.strip()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "bench": "live_bench", "args": vars(args) | {"out": str(args.out)},
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version(), "loadavg": os.getloadavg()},
            "commit": commit, "runs": rows, "off": off, "on": on, "ratio": ratio,
            "pair_ratios": pair_ratios}, indent=1) + "\n")
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
