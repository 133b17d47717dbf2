#!/usr/bin/env python3
"""Local worker processes vs the same workers through a local Dask cluster (issue 12's target:
the cluster run within 5 % of the local one).

Starts one Tarantool (the embedded benchmark server) and, unless ``--cluster`` names one, a
``dask scheduler`` and ``--dask-workers`` ``dask worker --nthreads 1`` on 127.0.0.1; then runs
``loadtnt run`` on the same scenario, local (A) and ``--cluster`` (B), interleaved A B A B ...
``--rounds`` times, and prints each op's successful req/s per run, the medians with their spread
(half the range), and B/A. Where and how it ran is printed first.

Example (the real benchmark, on a quiet machine)::

    .venv/bin/python bench/cluster_bench.py --rounds 5 --duration 10s --workers 2 \\
        --concurrency 300 --ops ping,select
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loadtnt.results.environment import cpu_model, git_commit
from loadtnt.server.embedded import EmbeddedServer

OPS = {
    "ping": "  - op: ping\n",
    "select": "  - op: select\n    space: tester\n    key: {uniform: [1, 10000]}\n",
    "call": "  - op: call\n    function: counted\n",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_cluster(n: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    import distributed

    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = []

    def spawn(*args: str) -> None:
        procs.append(subprocess.Popen([dask, *args], cwd=REPO, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      # a process group of its own (killpg), in this session:
                                      # a new session is a new scheduler autogroup on Linux,
                                      # and the Dask workers' loadtnt workers would then share
                                      # CPU with the server by group, not by process, as the
                                      # local run's do (it cost the cluster run 15% on ping)
                                      preexec_fn=os.setpgrp))  # noqa: PLW1509
    spawn("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
          "--no-dashboard")
    for i in range(n):
        spawn("worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
              "--name", f"bench-{i}")
    with distributed.Client(address, timeout=30) as c:
        c.wait_for_workers(n, timeout=60)
    return address, procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def run(scenario: Path, server: EmbeddedServer, out: Path, cluster: str | None
        ) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "loadtnt", "run", str(scenario), "--server",
           f"{server.host}:{server.port}", "--out", str(out)]
    if cluster:
        cmd += ["--cluster", cluster]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False,
                          timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr}")
    with open(out, encoding="utf-8") as f:
        return json.load(f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="A B pairs")
    ap.add_argument("--ops", default="ping", help=f"comma-separated, of {', '.join(OPS)}")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=300)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--warmup", default="1s")
    ap.add_argument("--driver", default="loadtnt")
    ap.add_argument("--loop", default="uvloop")
    ap.add_argument("--cluster", help="an existing scheduler (default: start one here)")
    ap.add_argument("--dask-workers", type=int, default=2)
    args = ap.parse_args()
    ops = args.ops.split(",")
    text = textwrap.dedent(f"""\
        name: cluster-bench
        drivers: [{args.driver}]
        loops: [{args.loop}]
        workers: {args.workers}
        concurrency: {args.concurrency}
        warmup: {args.warmup}
        duration: {args.duration}
        mix: false
        before: prepare(10000)
        operations:
        """) + "".join(OPS[op] for op in ops)
    print(f"# cluster_bench: {platform.node()}, {cpu_model()} x{os.cpu_count()}, Python "
          f"{platform.python_version()}, commit {git_commit()}, "
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    print(f"# {args.driver}/{args.loop}, {args.workers} workers x {args.concurrency} "
          f"coroutines, warm-up {args.warmup}, {args.duration} per op, {args.rounds} rounds "
          "A B interleaved; A = local workers, B = --cluster\n")
    procs: list[subprocess.Popen[bytes]] = []
    rps: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedServer() as server:
        scenario = Path(tmp) / "bench.yaml"
        scenario.write_text(text)
        cluster = args.cluster
        try:
            if cluster is None:
                cluster, procs = start_cluster(args.dask_workers)
            for r in range(args.rounds):
                # A B, then B A: neither always goes first (an order effect would bias B/A)
                pair = [("A", None), ("B", cluster)]
                for kind, where in (pair if r % 2 == 0 else pair[::-1]):
                    result = run(scenario, server, Path(tmp) / f"{kind}{r}.json", where)
                    for e in result["runs"]:
                        rps.setdefault((e["op"], kind), []).append(e["rps"])
                        busy = [w for w in e.get("warnings", []) if "busy" in w]
                        print(f"round {r + 1} {kind} {e['op']:<7} {e['rps']:>10,.0f} req/s"
                              + (f"  ({busy[0]})" if busy else ""), flush=True)
        finally:
            stop(procs)
    print("\n| op | A local, req/s | B cluster, req/s | B/A (per round) |")
    print("| --- | ---: | ---: | ---: |")
    for op in ops:
        a, b = rps[(op, "A")], rps[(op, "B")]
        ma, mb = statistics.median(a), statistics.median(b)
        # each round's B against its own A (run next to it): the drift between rounds cancels
        ratios = [y / x for x, y in zip(a, b, strict=True) if x]
        print(f"| {op} | {ma:,.0f} ± {(max(a) - min(a)) / 2:,.0f} | "
              f"{mb:,.0f} ± {(max(b) - min(b)) / 2:,.0f} | "
              f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f}) |")
    print("\n(req/s: median of rounds ± half their range; B/A: the median of the rounds' own "
          "ratios, min–max; target ≥ 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
