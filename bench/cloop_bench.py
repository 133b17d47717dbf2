#!/usr/bin/env python3
"""`loadtnt run` against Tarantool's own net.box client, as a user loads a server: interleaved.

One server (``--tarantool``, ``wal_mode='none'``, ``tester`` prefilled, the same Lua as
bench/driver_bench.py) on a free 127.0.0.1 port. Per round and op, in rotated order:

- ``loadtnt run`` of a one-op scenario (1 worker, 1 connection, ``--concurrency`` coroutines,
  uvloop, closed loop, ``server: {uri}``) for each of ``--drivers`` (``loadtnt-c``, ``loadtnt``):
  the result file's rps, ``client_cpu`` and ``client_cpu_per_100k_s``;
- bench/netbox_bench.lua run by the same tarantool binary: as many fibers on one net.box
  connection, the requests it completed in the window and its process CPU (os.clock()).

Then the server's ceiling on this machine (``--ceiling``): the op from two client processes at
once - ``loadtnt run`` with ``workers: 2`` for loadtnt-c, two net.box scripts side by side - with
the server's threads' CPU over the window, so it shows what the server can take when no single
client is the limit.

Example::

    .venv/bin/python bench/cloop_bench.py --tarantool ../shared/tarantool-3.8/bin/tarantool \\
        --rounds 5 --out results/cloop-3.8.md
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import driver_bench as db

SCENARIO = """
name: cloop-bench-{op}
drivers: [{driver}]
loops: [uvloop]
workers: {workers}
connections: 1
concurrency: {concurrency}
warmup: {warmup}s
duration: {duration}s
trials: 1
server: {{uri: "127.0.0.1:{port}"}}
operations:
{operation}
"""

OPERATIONS = {
    "ping": "  - op: ping",
    "select": "  - op: select\n    space: tester\n    key: {{uniform: [1, {keys}]}}",
    "call": "  - op: call\n    function: bench_call",
}


def run_loadtnt(driver: str, op: str, port: int, args: argparse.Namespace,
                workers: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(SCENARIO.format(
            op=op, driver=driver, workers=workers, concurrency=args.concurrency,
            warmup=args.warmup, duration=args.duration, port=port,
            operation=OPERATIONS[op].format(keys=args.keys)))
        out = Path(tmp) / "r.json"
        proc = subprocess.run([sys.executable, "-m", "loadtnt", "run", str(path), "--out",
                               str(out)], cwd=REPO, capture_output=True, text=True,
                              timeout=args.warmup + args.duration + 120, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"loadtnt run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        [entry] = json.loads(out.read_text())["runs"]
    return {"rps": entry["rps"], "errors": entry["errors"],
            "client_cores": entry.get("client_cpu"),
            "cpu_per_100k_s": entry.get("client_cpu_per_100k_s")}


def run_netbox(op: str, port: int, args: argparse.Namespace, copies: int = 1) -> dict:
    cmd = db._client_command("netbox", op, "uvloop", port, db.INSERT_KEY_BASE, args)
    outs: list[dict] = []
    threads = [threading.Thread(target=lambda: outs.append(db._run_client(
        cmd, timeout=args.warmup + args.duration + 60))) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rps = sum(o["requests"] / o["elapsed"] for o in outs)
    cores = sum(o.get("client_cores", 0.0) for o in outs)
    return {"rps": rps, "errors": sum(o["errors"] for o in outs), "client_cores": cores,
            "cpu_per_100k_s": cores / rps * 100_000 if rps else None}


def server_cores(pid: int, fn):
    """``fn()``'s result and the server's threads' CPU over its run: (total cores, busiest
    thread's name and cores). The window includes the clients' start and warm-up."""
    before, t0 = db._thread_times(pid), time.monotonic()
    out = fn()
    after, wall = db._thread_times(pid), time.monotonic() - t0
    deltas = {tid: (after[tid][0], after[tid][1] - before[tid][1]) for tid in after
              if tid in before}
    name, busiest = max(deltas.values(), key=lambda d: d[1])
    return out, sum(d for _, d in deltas.values()) / wall, name, busiest / wall


def med(values: list[float]) -> str:
    m = statistics.median(values)
    return f"{m:,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarantool", default="tarantool")
    parser.add_argument("--drivers", default="loadtnt-c,loadtnt,netbox")
    parser.add_argument("--ops", default="ping,select")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.5)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--ceiling", action="store_true",
                        help="also measure the server's ceiling (two client processes)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    drivers = args.drivers.split(",")
    ops = args.ops.split(",")
    from loadtnt.instance import TarantoolInstance, version

    results: dict[tuple[str, str], list[dict]] = {}
    ceiling: dict[tuple[str, str], tuple] = {}
    start = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load0 = db._loadavg()
    server = TarantoolInstance(lua=db.SERVER_LUA % {"keys": args.keys},
                               memtx_memory=1 << 30, binary=args.tarantool)
    with server:
        meter = db.CpuMeter(server.pid)
        for rnd in range(args.rounds):
            for op in ops:
                order = drivers[rnd % len(drivers):] + drivers[:rnd % len(drivers)]
                for d in order:
                    meter.start()
                    r = (run_netbox(op, server.port, args) if d == "netbox"
                         else run_loadtnt(d, op, server.port, args))
                    r["foreign"] = meter.foreign_cores()
                    results.setdefault((op, d), []).append(r)
                    print(f"round {rnd + 1} {op:6} {d:10} {r['rps']:>12,.0f} req/s  client "
                          f"{r['client_cores'] or 0:.2f} cores  (other load "
                          f"{r['foreign']:.2f})", file=sys.stderr, flush=True)
        if args.ceiling:
            for op in ops:
                for d, fn in (("loadtnt-c", lambda op=op: run_loadtnt(
                                  "loadtnt-c", op, server.port, args, workers=2)),
                              ("netbox", lambda op=op: run_netbox(op, server.port, args, 2))):
                    if d not in drivers:
                        continue
                    ceiling[(op, d)] = server_cores(server.pid, fn)
                    out, total, name, busiest = ceiling[(op, d)]
                    print(f"ceiling {op:6} 2 x {d:10} {out['rps']:>12,.0f} req/s  server "
                          f"{total:.2f} cores ({name} {busiest:.2f})", file=sys.stderr)
    tv = version(args.tarantool)
    lines = [
        f"# `loadtnt run` against net.box (bench/cloop_bench.py), Tarantool {tv}",
        "",
        (f"- when: {start} UTC; load average before {load0}, after {db._loadavg()}; "
        f"{db._cpu_model()} × {os.cpu_count()}"),
        f"- server: `{args.tarantool}` (wal_mode='none'); net.box client: the same binary",
        (f"- each: 1 process, 1 connection, {args.concurrency} coroutines / fibers, closed "
        f"loop, {args.warmup:g} s warm-up + {args.duration:g} s; {args.rounds} interleaved "
        "rounds (rotated); cells: median (min–max)"),
        "",
        "| op | client | req/s | client cores | client CPU s per 100k | ratio to net.box |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for op in ops:
        nb = [r["rps"] for r in results.get((op, "netbox"), [])]
        for d in drivers:
            rs = results[(op, d)]
            rps = [r["rps"] for r in rs]
            cores = [r["client_cores"] for r in rs if r["client_cores"] is not None]
            per = [r["cpu_per_100k_s"] for r in rs if r["cpu_per_100k_s"] is not None]
            ratio = "–"
            if nb and d != "netbox":
                ratios = [a / b for a, b in zip(rps, nb, strict=False)]
                ratio = (f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–"
                         f"{max(ratios):.2f})")
            cores_s = f"{statistics.median(cores):.2f}" if cores else "–"
            per_s = f"{statistics.median(per):.3f}" if per else "–"
            lines.append(f"| {op} | {d} | {med(rps)} | {cores_s} | {per_s} | {ratio} |")
    foreign = [r["foreign"] for rs in results.values() for r in rs]
    lines += ["", (f"Other processes used a median {statistics.median(foreign):.2f} cores "
                  f"(max {max(foreign):.2f}) during the measurements.")]
    if ceiling:
        lines += ["", ("Server ceiling: two client processes at once (server threads' CPU over "
                      "the whole client run, warm-up included)"), "",
                  "| op | clients | req/s (sum) | server cores | busiest thread |",
                  "|---|---|---:|---:|---|"]
        for (op, d), (out, total, name, busiest) in ceiling.items():
            lines.append(f"| {op} | 2 × {d} | {out['rps']:,.0f} | {total:.2f} | "
                         f"{name} {busiest:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
