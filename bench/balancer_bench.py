#!/usr/bin/env python3
"""Pool balancers under a slow member: round robin vs least outstanding, interleaved.

Two Tarantool instances on 127.0.0.1 behind one ``loadtnt.driver.Pool`` in mode ``any``;
every request is a CALL of ``bal_work()``, which sleeps on the server - ``--fast-ms`` on the
first instance, ``--slow-factor`` times that on the second - and returns its instance's tag.
Each measurement is a fresh client process for one balancer: ``--concurrency`` coroutines in
a closed loop on the pool, a warm-up, then ``--duration`` seconds measured: requests per
second, latency percentiles (p50, p99, each request timed from the call to its answer), the
share that went to the fast instance, errors. Rounds interleave the balancers (A B, then B A,
...), so slow drift of the machine hits both alike; the report gives per balancer the median
over rounds with its min-max, and the median (min-max) of the per-round ratios
least_outstanding / round_robin.

Example (the issue's figures; on a quiet machine)::

    .venv/bin/python bench/balancer_bench.py --rounds 7 --duration 5 --out results/balancer.md

A short smoke run: ``--rounds 1 --duration 0.5 --warmup 0.2``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BALANCERS = ("round_robin", "least_outstanding")

SERVER_LUA = """
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
local fiber = require('fiber')
local delay, tag = %(delay)r, %(tag)d
function bal_work()
    if delay > 0 then fiber.sleep(delay) end
    return tag
end
"""


# --- the client: one balancer's measurement in its own process -------------------------------


async def _measure(args: argparse.Namespace) -> dict:
    from loadtnt import driver

    pool = driver.Pool([f"127.0.0.1:{p}" for p in args.ports], balancer=args.balancer,
                       default_mode="any", call_mode="any")
    await pool.connect()
    latencies: list[float] = []
    by_tag = [0, 0]
    errors = 0
    last_error = None
    measuring = stop = False
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal errors, last_error
        while not stop:
            t0 = clock()
            try:
                resp = await pool.call("bal_work")
            except Exception as exc:  # noqa: BLE001  counted and reported, never hidden
                if measuring:
                    errors += 1
                    last_error = repr(exc)
                continue
            if measuring:
                latencies.append(clock() - t0)
                by_tag[resp[0]] += 1

    tasks = [asyncio.ensure_future(worker()) for _ in range(args.concurrency)]
    await asyncio.sleep(args.warmup)
    measuring = True
    t0 = clock()
    cpu0 = time.process_time()
    await asyncio.sleep(args.duration)
    measuring = False
    elapsed, cpu = clock() - t0, time.process_time() - cpu0
    stop = True
    await asyncio.gather(*tasks)
    await pool.disconnect()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 \
            if latencies else float("nan")

    return {"requests": len(latencies), "elapsed": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "fast_share": by_tag[0] / max(1, sum(by_tag)), "errors": errors,
            "last_error": last_error, "client_cores": cpu / elapsed}


def client_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="balancer_bench.py client")
    parser.add_argument("--balancer", required=True, choices=BALANCERS)
    parser.add_argument("--ports", required=True, type=lambda s: [int(p) for p in s.split(",")])
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(_measure(args))), flush=True)
    return 0


# --- the orchestrator ----------------------------------------------------------------------


def _run_client(balancer: str, ports: list[int], args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "client", "--balancer", balancer,
           "--ports", ",".join(map(str, ports)), "--loop", args.loop,
           "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
           "--duration", str(args.duration)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False,
                          timeout=args.warmup + args.duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"client failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _med(values: list[float], fmt: str) -> str:
    return (f"{format(statistics.median(values), fmt)} "
            f"({format(min(values), fmt)}–{format(max(values), fmt)})")


def report(results: list[dict], args: argparse.Namespace, env: dict) -> str:
    lines = [
        "# Pool balancers under a slow member (bench/balancer_bench.py)",
        "",
        f"- when: {env['start']} – {env['end']} UTC, commit {env['commit']}",
        (f"- machine: {env['cpus']} cores; load average before {env['load_before']}, "
         f"after {env['load_after']}"),
        (f"- servers: 2 × Tarantool {env['tarantool']} on 127.0.0.1; `bal_work()` sleeps "
         f"{args.fast_ms:g} ms on one, {args.fast_ms * args.slow_factor:g} ms on the other"),
        (f"- client: one process per measurement, Pool(mode 'any'), {args.concurrency} "
         f"coroutines, closed loop, {args.loop}, {args.warmup:g} s warm-up + "
         f"{args.duration:g} s measured; {args.rounds} interleaved rounds (A B, B A, ...)"),
        f"- Python {platform.python_version()}",
        ("- cells: median over rounds (min–max); ratio: median of per-round "
         "least_outstanding / round_robin (min–max)"),
    ]
    errors = [r for r in results if r["errors"]]
    if errors:
        lines.append(f"- **errors** in {len(errors)} measurements, e.g. "
                     f"{errors[0]['balancer']}: {errors[0]['last_error']}")
    lines += ["", ("| balancer | requests/s | p50 ms | p99 ms | to the fast instance, % | "
                   "client cores |"), "|---|---:|---:|---:|---:|---:|"]
    for balancer in args.balancers:
        rows = [r for r in results if r["balancer"] == balancer]
        if not rows:
            continue
        lines.append(
            f"| {balancer} | {_med([r['rps'] for r in rows], ',.0f')} | "
            f"{_med([r['p50_ms'] for r in rows], '.2f')} | "
            f"{_med([r['p99_ms'] for r in rows], '.2f')} | "
            f"{_med([100 * r['fast_share'] for r in rows], '.0f')} | "
            f"{_med([r['client_cores'] for r in rows], '.2f')} |")
    if set(args.balancers) == set(BALANCERS):
        by = {(r["round"], r["balancer"]): r for r in results}
        rounds = sorted({r["round"] for r in results})
        pairs = [(by[k, "least_outstanding"], by[k, "round_robin"]) for k in rounds
                 if (k, "least_outstanding") in by and (k, "round_robin") in by]
        if pairs:
            lines += ["", ("least_outstanding / round_robin, per round: requests/s "
                           f"{_med([a['rps'] / b['rps'] for a, b in pairs], '.2f')}×, p50 "
                           f"{_med([a['p50_ms'] / b['p50_ms'] for a, b in pairs], '.2f')}×, "
                           f"p99 "
                           f"{_med([a['p99_ms'] / b['p99_ms'] for a, b in pairs], '.2f')}×")]
    return "\n".join(lines) + "\n"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(REPO))
    if argv[:1] == ["client"]:
        return client_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--balancers", default=",".join(BALANCERS),
                        type=lambda s: [b for b in s.split(",") if b])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--fast-ms", type=float, default=1.0,
                        help="bal_work's delay on the fast instance (ms)")
    parser.add_argument("--slow-factor", type=float, default=10.0,
                        help="the slow instance's delay is this many times the fast one's")
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--tarantool", default=os.environ.get("TARANTOOL") or "tarantool")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args(argv)
    bad = [b for b in args.balancers if b not in BALANCERS]
    if bad or not args.balancers:
        parser.error(f"--balancers: choose from {', '.join(BALANCERS)}")

    from loadtnt.instance import TarantoolInstance, version

    env = {"tarantool": version(args.tarantool), "cpus": os.cpu_count(),
           "load_before": _loadavg(), "start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                    capture_output=True, text=True, check=False).stdout.strip()}
    delays = [args.fast_ms / 1000, args.fast_ms * args.slow_factor / 1000]
    servers = [TarantoolInstance(lua=SERVER_LUA % {"delay": d, "tag": k}, binary=args.tarantool)
               for k, d in enumerate(delays)]
    results: list[dict] = []
    with servers[0], servers[1]:
        ports = [int(s.port) for s in servers]
        plan = [(rnd, b) for rnd in range(args.rounds) for b in
                (args.balancers if rnd % 2 == 0 else args.balancers[::-1])]
        for n, (rnd, balancer) in enumerate(plan):
            out = _run_client(balancer, ports, args)
            out.update(round=rnd, balancer=balancer)
            results.append(out)
            print(f"[{n + 1}/{len(plan)}] round {rnd + 1} {balancer:17} {out['rps']:>9,.0f} "
                  f"rps  p99 {out['p99_ms']:7.2f} ms  fast {100 * out['fast_share']:3.0f} %"
                  + (f"  {out['errors']} errors" if out["errors"] else ""),
                  file=sys.stderr, flush=True)
    env.update(end=time.strftime("%H:%M:%S", time.gmtime()), load_after=_loadavg())
    text = report(results, args, env)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": env, "args": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
