#!/usr/bin/env python3
"""crud benchmark: crud.get and crud.insert through loadtnt vs tarantool-python vs net.box.

Everything runs on this machine in one run: a sharded cluster (loadtnt.server.ShardedCluster:
``--shards`` replica sets × ``--replicas`` instances + ``--routers`` routers, vshard + crud,
the ``customers`` space prefilled with ``--keys`` rows) and, one at a time, client
processes, all of them sending to the first router:

  loadtnt   ``conn.crud.get`` / ``conn.crud.insert``: ``--concurrency`` coroutines (300) on one
            connection, uvloop, closed loop
  tarantool tarantool-python 1.3's ``crud_get`` / ``crud_insert``, a synchronous client: N
            threads, each with its own connection; N is its best of a short sweep
            (``--sweep``, 1 s each) made before the measured rounds, per op
  netbox    Tarantool's own net.box, ``--concurrency`` fibers on one connection
            (bench/crud_netbox_bench.lua, run by the tarantool binary)

Each measurement is a fresh client process: a warm-up, then the requests completed in a fixed
window are counted. The client prints a line when its window starts and one when it ends;
at each the orchestrator samples the CPU time of the client and of every router and storage
(/proc), so the CPU figures cover exactly the measured window. Rounds interleave the drivers
(A B C A B C ..., the first rotating per round). The report: per op the median RPS of each
driver with its min–max over rounds, the median (min–max) of the per-round ratios
loadtnt/other, and the CPU in cores of the client, the router(s) and the storages (medians) -
the design's goal being that the client is never the limit.

crud's rebalance safe mode (each storage request checks its bucket) is left as the bootstrap
left it unless ``--safe-mode on|off``; the report says which it measured.

Example::

    .venv/bin/python bench/crud_bench.py --rounds 5 --duration 2.5 --out results/crud-bench.md
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
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NETBOX_LUA = REPO / "bench" / "crud_netbox_bench.lua"
DRIVERS = ("loadtnt", "tarantool", "netbox")
OPS = ("get", "insert")
SPACE = "customers"
INSERT_KEY_BASE = 1_000_000_000
KEY_SPAN = 10_000_000
START, END = "WINDOW-START", "WINDOW-END"


def _key(f: int, i: int, nkeys: int) -> int:
    return (f * 7919 + i * 104729) % nkeys + 1


# --- the clients: one (driver, op) measurement in its own process --------------------------


def _window(warmup: float, duration: float, counter: dict) -> tuple[int, float]:
    """(blocking) After the warm-up, mark the window; its count and length."""
    time.sleep(warmup)
    c0, t0 = counter["n"], time.perf_counter()
    print(START, flush=True)
    time.sleep(duration)
    c1, t1 = counter["n"], time.perf_counter()
    print(END, flush=True)
    return c1 - c0, t1 - t0


async def _loadtnt_client(args: argparse.Namespace) -> dict:
    from loadtnt import driver

    conn = driver.Connection(host="127.0.0.1", port=args.port, username=args.user,
                             password=os.environ["LOADTNT_BENCH_PASSWORD"])
    await conn.connect()
    crud = conn.crud
    counter = {"n": 0, "errors": 0}
    last_error: list[str] = []
    stop = False
    conc, nkeys, base = args.concurrency, args.keys, args.key_base

    async def worker(f: int) -> None:
        i = 0
        while not stop:
            try:
                if args.op == "get":
                    await crud.get(SPACE, _key(f, i, nkeys))
                else:
                    await crud.insert(SPACE, [base + i * conc + f, None, "fresh", 30])
                counter["n"] += 1
            except Exception as e:  # noqa: BLE001  counted and reported
                counter["errors"] += 1
                last_error[:] = [repr(e)]
            i += 1

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(worker(f)) for f in range(1, conc + 1)]
    await asyncio.sleep(args.warmup)
    c0, e0, t0 = counter["n"], counter["errors"], time.perf_counter()
    print(START, flush=True)
    await asyncio.sleep(args.duration)
    c1, e1, t1 = counter["n"], counter["errors"], time.perf_counter()
    print(END, flush=True)
    stop = True
    await asyncio.gather(*tasks)
    await conn.disconnect()
    return {"requests": c1 - c0, "elapsed": t1 - t0, "errors": e1 - e0,
            "last_error": last_error[0] if last_error else None,
            "version": driver.__version__}


def _tarantool_client(args: argparse.Namespace) -> dict:
    import tarantool

    password = os.environ["LOADTNT_BENCH_PASSWORD"]
    counter = {"n": 0, "errors": 0}
    lock = threading.Lock()
    stop = threading.Event()
    last_error: list[str] = []
    nthreads, nkeys, base = args.threads, args.keys, args.key_base

    def worker(f: int) -> None:
        conn = tarantool.Connection("127.0.0.1", args.port, user=args.user, password=password)
        i = n = errors = 0
        while not stop.is_set():
            try:
                if args.op == "get":
                    conn.crud_get(SPACE, _key(f, i, nkeys))
                else:
                    conn.crud_insert(SPACE, [base + i * nthreads + f, None, "fresh", 30])
                n += 1
            except Exception as e:  # noqa: BLE001  counted and reported
                errors += 1
                last_error[:] = [repr(e)]
            i += 1
            if n % 16 == 0 or stop.is_set():
                with lock:
                    counter["n"] += n
                    counter["errors"] += errors
                n = errors = 0
        with lock:
            counter["n"] += n
        conn.close()

    threads = [threading.Thread(target=worker, args=(f,), daemon=True)
               for f in range(1, nthreads + 1)]
    for t in threads:
        t.start()
    e0 = counter["errors"]
    requests, elapsed = _window(args.warmup, args.duration, counter)
    stop.set()
    for t in threads:
        t.join(10)
    return {"requests": requests, "elapsed": elapsed, "errors": counter["errors"] - e0,
            "last_error": last_error[0] if last_error else None,
            "version": tarantool.__version__, "threads": nthreads}


def client_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="crud_bench.py client")
    parser.add_argument("--driver", required=True, choices=("loadtnt", "tarantool"))
    parser.add_argument("--op", required=True, choices=OPS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.5)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--key-base", type=int, default=INSERT_KEY_BASE)
    args = parser.parse_args(argv)
    if args.driver == "loadtnt":
        import uvloop

        uvloop.install()
        out = asyncio.run(_loadtnt_client(args))
    else:
        out = _tarantool_client(args)
    print(json.dumps(out), flush=True)
    return 0


# --- the orchestrator ----------------------------------------------------------------------


def _cpu(pid: int | None) -> float:
    """CPU seconds (user + system, every thread) of process ``pid`` so far (0 if gone)."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(cmd: list[str], env: dict[str, str], servers: dict[str, int | None],
             timeout: float) -> dict:
    """Run one client; sample the client's and the servers' CPU at its window's marks."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)
    marks: dict[str, tuple[float, float, dict[str, float]]] = {}
    last = ""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line in (START, END):
            marks[line] = (time.monotonic(), _cpu(proc.pid),
                           {name: _cpu(pid) for name, pid in servers.items()})
        elif line:
            last = line
        if time.monotonic() > deadline:
            proc.kill()
            break
    err = proc.stderr.read() if proc.stderr else ""
    code = proc.wait()
    if code != 0 or START not in marks or END not in marks:
        raise RuntimeError(f"client failed ({code}): {' '.join(cmd)}\n{err[-2000:]}")
    out = json.loads(last)
    (w0, c0, s0), (w1, c1, s1) = marks[START], marks[END]
    wall = w1 - w0
    out["client_cores"] = (c1 - c0) / wall
    out["server_cores"] = {name: (s1[name] - s0[name]) / wall for name in servers}
    return out


def _command(driver: str, op: str, port: int, key_base: int, args: argparse.Namespace,
             user: str, threads: int = 0) -> list[str]:
    if driver == "netbox":
        return [args.tarantool, str(NETBOX_LUA), str(port), op, str(args.concurrency),
                str(args.warmup), str(args.duration), str(args.keys), str(key_base)]
    cmd = [sys.executable, str(Path(__file__).resolve()), "client", "--driver", driver,
           "--op", op, "--port", str(port), "--user", user,
           "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
           "--duration", str(args.duration), "--keys", str(args.keys),
           "--key-base", str(key_base)]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd


def _prefill(cluster: object, keys: int) -> None:
    from loadtnt import driver

    async def fill() -> None:
        conn = driver.Connection(**cluster.connection_kwargs())   # type: ignore[attr-defined]
        await conn.connect()
        try:
            for lo in range(1, keys + 1, 1000):
                rows = [[k, None, f"name{k}", k % 90] for k in range(lo, min(lo + 1000,
                                                                              keys + 1))]
                await conn.crud.replace_many(SPACE, rows)
        finally:
            await conn.disconnect()

    asyncio.run(fill())


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def _ratio(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}× ({min(values):.2f}–{max(values):.2f})"


def report(results: list[dict], args: argparse.Namespace, env: dict) -> str:
    lines = [
        "# crud benchmark (bench/crud_bench.py)",
        "",
        f"- when: {env['start']} – {env['end']} UTC, commit {env['commit']}",
        (f"- machine: {env['cpu']} × {env['cpus']} cores; load average before "
         f"{env['load_before']}, after {env['load_after']}"),
        (f"- cluster: Tarantool {env['tarantool']}, {args.shards} replica sets × "
         f"{args.replicas} + {args.routers} router(s) ({env['described']}), bucket_count "
         f"{args.bucket_count}, `customers` prefilled with {args.keys:,} rows; crud safe mode "
         f"{env['safe_mode']}; every client on router-1"),
        (f"- clients: one process per measurement, {args.warmup:g} s warm-up + "
         f"{args.duration:g} s measured, {args.rounds} interleaved rounds; loadtnt "
         f"{env['versions'].get('loadtnt', '?')} ({args.concurrency} coroutines, 1 connection, "
         f"uvloop); tarantool-python {env['versions'].get('tarantool', '?')} (threads, one "
         f"connection each: {env['threads']}); net.box ({args.concurrency} "
         f"fibers, 1 connection)"),
        f"- Python {platform.python_version()}",
        ("- cells: median RPS over rounds (min–max); ratios: median of per-round "
         "loadtnt/other (min–max)"),
    ]
    if env.get("sweep"):
        lines.append("- tarantool-python sweep (threads: RPS): " + "; ".join(
            f"{op}: " + ", ".join(f"{n}: {rps:,.0f}" for n, rps in sweep.items())
            for op, sweep in env["sweep"].items()))
    errors = [r for r in results if r.get("errors")]
    if errors:
        lines.append(f"- **errors** in {len(errors)} measurements, e.g. {errors[0]['driver']} "
                     f"{errors[0]['op']}: {errors[0].get('last_error')}")
    drivers = [d for d in args.drivers]
    others = [d for d in drivers if d != "loadtnt"]
    head = ["op", *drivers, *(f"loadtnt/{d}" for d in others if "loadtnt" in drivers)]
    lines += ["", "| " + " | ".join(head) + " |",
              "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for op in args.ops:
        cells = [op]
        per_round: dict[str, dict[int, float]] = {}
        for d in drivers:
            rows = [r for r in results if r["op"] == op and r["driver"] == d]
            per_round[d] = {r["round"]: r["rps"] for r in rows}
            cells.append(_fmt([r["rps"] for r in rows]) if rows else "—")
        if "loadtnt" in drivers:
            for o in others:
                ref, oth = per_round["loadtnt"], per_round.get(o, {})
                ratios = [ref[k] / oth[k] for k in ref if k in oth and oth[k] > 0]
                cells.append(_ratio(ratios) if ratios else "—")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", ("CPU in the measured window, cores (median over rounds): client / "
                   "router-1 / all storages (the busiest storage)"), "",
              "| op | " + " | ".join(drivers) + " |",
              "|" + "|".join(["---"] + ["---:"] * len(drivers)) + "|"]
    for op in args.ops:
        cells = [op]
        for d in drivers:
            rows = [r for r in results if r["op"] == op and r["driver"] == d]
            if not rows:
                cells.append("—")
                continue
            client = statistics.median(r["client_cores"] for r in rows)
            router = statistics.median(r["server_cores"].get("router-1", 0.0) for r in rows)
            storages = statistics.median(sum(v for k, v in r["server_cores"].items()
                                             if k.startswith("storage")) for r in rows)
            busiest = statistics.median(max((v for k, v in r["server_cores"].items()
                                             if k.startswith("storage")), default=0.0)
                                        for r in rows)
            cells.append(f"{client:.2f} / {router:.2f} / {storages:.2f} ({busiest:.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(REPO))
    if argv[:1] == ["client"]:
        return client_main(argv[1:])

    def csv(choices: tuple[str, ...]):  # type: ignore[no-untyped-def]
        def parse(text: str) -> list[str]:
            items = [x.strip() for x in text.split(",") if x.strip()]
            if not items or any(x not in choices for x in items):
                raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
            return items
        return parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--drivers", type=csv(DRIVERS), default=list(DRIVERS))
    parser.add_argument("--ops", type=csv(OPS), default=list(OPS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.5)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--sweep", default="1,2,4,8,16,32",
                        help="tarantool-python thread counts tried (1 s each) per op")
    parser.add_argument("--threads", type=int,
                        help="tarantool-python's threads (skips the sweep)")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--routers", type=int, default=1)
    parser.add_argument("--bucket-count", type=int, default=3000)
    parser.add_argument("--safe-mode", choices=("on", "off", "as-is"), default="as-is")
    parser.add_argument("--tarantool", default=os.environ.get("TARANTOOL") or "tarantool")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "bench"))
    from driver_bench import _cpu_model, _git_commit, _loadavg

    from loadtnt.instance import version
    from loadtnt.server import ShardedCluster

    env: dict = {"tarantool": version(args.tarantool), "cpu": _cpu_model(),
                 "cpus": os.cpu_count(), "commit": _git_commit(), "load_before": _loadavg(),
                 "start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "versions": {}}
    if "tarantool" in args.drivers:
        import tarantool
        env["versions"]["tarantool"] = tarantool.__version__
    from loadtnt import driver
    env["versions"]["loadtnt"] = driver.__version__

    results: list[dict] = []
    with ShardedCluster(shards=args.shards, replicas=args.replicas, routers=args.routers,
                        bucket_count=args.bucket_count, binary=args.tarantool,
                        memtx_memory=256 << 20) as cluster:
        env["described"] = "config.yaml" if cluster.config else "vshard.*.cfg"
        if args.safe_mode != "as-is":
            cluster.crud_safe_mode(args.safe_mode == "on")
        modes = cluster.crud_safe_mode()
        env["safe_mode"] = "on" if all(modes) else "off" if not any(modes) else f"{modes}"
        print(f"cluster up: {cluster!r}; prefilling {args.keys:,} rows", file=sys.stderr)
        _prefill(cluster, args.keys)
        port, user = cluster.router_ports[0], cluster.username
        child_env = dict(os.environ, LOADTNT_BENCH_PASSWORD=cluster.password,
                         LOADTNT_BENCH_USER=user)
        servers = {n: (inst.pid if inst is not None else None)
                   for n, inst in ((n, cluster.instance(n)) for n in cluster.names)}
        per_run = args.warmup + args.duration
        runs = 0

        def measure(driver_name: str, op: str, threads: int = 0,
                    sweep: bool = False) -> dict:
            nonlocal runs
            key_base = INSERT_KEY_BASE + runs * KEY_SPAN
            runs += 1
            cmd = _command(driver_name, op, port, key_base, args, user, threads)
            if sweep:
                i = cmd.index("--warmup")
                cmd[i + 1] = str(min(0.3, args.warmup))
                cmd[cmd.index("--duration") + 1] = str(min(1.0, args.duration))
            out = _measure(cmd, child_env, servers, per_run + 60)
            out["rps"] = out["requests"] / out["elapsed"]
            return out

        best: dict[str, int] = {}
        env["sweep"] = {}
        if "tarantool" in args.drivers:
            for op in args.ops:
                if args.threads:
                    best[op] = args.threads
                    continue
                sweep = {}
                for n in [int(x) for x in args.sweep.split(",")]:
                    sweep[n] = measure("tarantool", op, n, sweep=True)["rps"]
                    print(f"  sweep tarantool-python {op} {n} threads: {sweep[n]:,.0f} rps",
                          file=sys.stderr)
                best[op] = max(sweep, key=lambda k: sweep[k])
                env["sweep"][op] = sweep
        how = "given by --threads" if args.threads else "the best of the sweep"
        env["threads"] = (how + ": " + ", ".join(f"{op} {n}" for op, n in best.items())
                          if best else "—")

        plan = []
        for rnd in range(args.rounds):
            for op in args.ops:
                shift = rnd % len(args.drivers)
                for d in args.drivers[shift:] + args.drivers[:shift]:
                    plan.append((rnd, op, d))
        for n, (rnd, op, d) in enumerate(plan):
            out = measure(d, op, best.get(op, 0) if d == "tarantool" else 0)
            out.update(round=rnd, op=op, driver=d)
            results.append(out)
            print(f"[{n + 1}/{len(plan)}] round {rnd + 1} {op:6} {d:9} {out['rps']:>9,.0f} "
                  f"rps  client {out['client_cores']:.2f} router "
                  f"{out['server_cores'].get('router-1', 0):.2f} cores"
                  + (f"  {out['errors']} errors" if out.get("errors") else ""),
                  file=sys.stderr, flush=True)
    env.update(end=time.strftime("%H:%M:%S", time.gmtime()), load_after=_loadavg())
    text = report(results, args, env)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": env, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
