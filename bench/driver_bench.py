#!/usr/bin/env python3
"""Interim driver benchmark: loadtnt.driver vs asynctnt vs aiotarantool vs net.box.

(The harness, ``loadtnt run``, replaces this script; until then it measures the design's
driver targets.) Everything runs on this machine in one run: a Tarantool server
(``wal_mode='none'``, a free 127.0.0.1 port) and, one at a time, client processes. Each
measurement is one fresh client process for one (driver, op): 300 coroutines (fibers for
net.box) share ONE connection in a closed loop; after a warm-up, requests completed in a
fixed window are counted. Rounds interleave the drivers (A B C A B C ...; the starting
driver rotates per round), so slow drift of the machine hits every driver alike; the
report gives per op the median RPS per driver with its min-max over rounds, and the
median (min-max) of the per-round ratios of the reference driver to each other driver.

Drivers:
  loadtnt       ``loadtnt.driver`` (asynctnt-compatible API, same client code as asynctnt)
  asynctnt      asynctnt 2.4.0
  aiotarantool  aiotarantool 1.1.5 under ``.venv-aiotarantool`` (``make aiotarantool-env``)
  netbox        Tarantool's own net.box (bench/netbox_bench.lua, run by the tarantool binary)
  loadtnt-base  loadtnt.driver from another checkout (``--baseline-tree DIR``, built in place),
                for before/after comparisons of a change in one interleaved run
  loadtnt-c     the harness's C load loop (``drivers: [loadtnt-c]``) on a loadtnt.driver
                Connection: the same 300 slots on one connection, no Task or Future per
                request (loadtnt/worker/_cloop.pyx)
  loadtnt-pool  ``loadtnt.driver.Pool`` with the one server behind it (its dispatch cost
                against a single Connection: ``--drivers loadtnt-pool,loadtnt --reference
                loadtnt-pool --ops ping``, target >= 0.95x)

Example::

    .venv/bin/python bench/driver_bench.py --drivers asynctnt,aiotarantool,netbox \\
        --rounds 5 --duration 2.5 --out results/driver-bench.md

Requests (the same payload for every driver): ping; call of ``bench_call`` (returns 1;
aiotarantool 1.1.5 sends it as CALL_16, the others as CALL); eval ``return ...`` with one
argument; select by primary key from ``tester`` (prefilled with ``--keys`` rows); insert of
fresh keys; update of one string field by primary key. Spaces are named (``'tester'``),
as applications do.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NETBOX_LUA = REPO / "bench" / "netbox_bench.lua"
ALL_DRIVERS = ("loadtnt", "loadtnt-c", "asynctnt", "aiotarantool", "netbox", "loadtnt-base",
               "loadtnt-pool")
DEFAULT_OPS = ("ping", "call", "eval", "select", "insert", "update")
# txn: begin + 2 inserts + commit in a stream (Tarantool 2.10+; loadtnt and asynctnt only)
ALL_OPS = (*DEFAULT_OPS, "txn")
NETBOX_DEFAULT_OPS = ("ping", "select")
INSERT_KEY_BASE = 1_000_000_000  # inserted keys start here, far above the prefilled ones
KEY_SPAN = 10_000_000  # each client run inserts inside its own span of fresh keys

# design.md "Performance targets": (reference, other) -> {op: minimum ratio}
TARGETS = {
    ("loadtnt", "asynctnt"): {"ping": 3.0, "call": 3.0, "eval": 3.0, "select": 3.0,
                              "insert": 3.0, "update": 3.0, "txn": 2.0},
    ("loadtnt", "aiotarantool"): {"ping": 6.0},
    ("loadtnt", "netbox"): {"ping": 2.0, "select": 2.0},
    ("loadtnt-c", "netbox"): {"ping": 1.5, "select": 1.5},
    ("loadtnt-pool", "loadtnt"): {"ping": 0.95},
}
# net.box is C with fibers since Tarantool 2.10: against it the coroutine path's targets are
# issue 25's (on par on ping, twice on select), not design.md's for 2.6's Lua net.box
TARGETS_C_NETBOX = {("loadtnt", "netbox"): {"ping": 0.8, "select": 2.0}}


def _targets(server_version: str) -> dict:
    """The targets a report marks, for the server (and its net.box) of ``server_version``."""
    try:
        major, minor = (int(x) for x in server_version.split("-")[0].split(".")[:2])
    except ValueError:
        return TARGETS
    return {**TARGETS, **TARGETS_C_NETBOX} if (major, minor) >= (2, 10) else TARGETS

SERVER_LUA = """
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
local tester = box.schema.space.create('tester', {if_not_exists = true})
tester:create_index('primary', {parts = {1, 'unsigned'}, if_not_exists = true})
function bench_fill(n)
    box.begin()
    for i = 1, n do
        box.space.tester:replace{i, 'value' .. i}
        if i %% 10000 == 0 then box.commit() box.begin() end
    end
    box.commit()
end
bench_fill(%(keys)d)
function bench_call() return 1 end
"""


def _reset_tester(port: int, keys: int) -> None:
    """After an insert measurement: ``tester`` back to its prefilled rows. The fast clients
    insert millions of rows a run, and 5 rounds of them filled 1 GiB of memtx (its errors then
    were the server's)."""
    from loadtnt import driver

    async def go() -> None:
        async with driver.Connection(host="127.0.0.1", port=port) as c:
            await c.eval("box.space.tester:truncate() bench_fill(...)", [keys], timeout=120)

    asyncio.run(go())


# --- the client: one (driver, op) measurement in its own process ---------------------------


def _key(f: int, i: int, nkeys: int) -> int:
    """The key of request ``i`` of coroutine ``f``: spread over 1..nkeys, no RNG cost."""
    return (f * 7919 + i * 104729) % nkeys + 1


def _asynctnt_like_requests(conn, op: str, nkeys: int, key_base: int, conc: int):
    """Request factories for the asynctnt 2.x API (asynctnt and loadtnt.driver)."""
    if op == "ping":
        return lambda f, i: conn.ping()
    if op == "call":
        return lambda f, i: conn.call("bench_call")
    if op == "eval":
        return lambda f, i: conn.eval("return ...", [1])
    if op == "select":
        return lambda f, i: conn.select("tester", [_key(f, i, nkeys)])
    if op == "insert":
        return lambda f, i: conn.insert("tester", [key_base + i * conc + f, "fresh"])
    if op == "update":
        return lambda f, i: conn.update("tester", [_key(f, i, nkeys)], [["=", 1, "updated"]])
    if op == "txn":
        async def txn(f: int, i: int) -> None:
            async with conn.stream() as s:
                k = key_base + 2 * (i * conc + f)
                await s.insert("tester", [k, "a"])
                await s.insert("tester", [k + 1, "b"])
        return txn
    raise ValueError(f"unknown op {op!r}")


def _aiotarantool_requests(conn, op: str, nkeys: int, key_base: int, conc: int):
    """The same requests through aiotarantool 1.1.5's API."""
    if op == "ping":
        return lambda f, i: conn.ping()
    if op == "call":
        return lambda f, i: conn.call("bench_call")
    if op == "eval":
        return lambda f, i: conn.eval("return ...", [1])
    if op == "select":
        return lambda f, i: conn.select("tester", _key(f, i, nkeys))
    if op == "insert":
        return lambda f, i: conn.insert("tester", (key_base + i * conc + f, "fresh"))
    if op == "update":
        return lambda f, i: conn.update("tester", _key(f, i, nkeys), [("=", 1, "updated")])
    raise ValueError(f"unknown op {op!r}")


def _thread_times(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each thread of process ``pid``, with its name."""
    out: dict[int, tuple[str, float]] = {}
    if pid <= 0:
        return out
    hz = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue          # the thread ended meanwhile
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / hz)
    return out


def _cpu_use(wall: float, cpu: float, before: dict, after: dict) -> dict:
    """The measured window's CPU: the client's cores and, when the orchestrator named the
    server's pid, the server's cores and its busiest thread (name, cores) - a thread near 1.0
    is the bottleneck, whatever the client does."""
    use: dict = {"client_cores": cpu / wall}
    deltas = {tid: (after[tid][0], after[tid][1] - before[tid][1])
              for tid in after if tid in before}
    if deltas:
        name, busiest = max(deltas.values(), key=lambda d: d[1])
        use.update(server_cores=sum(d for _, d in deltas.values()) / wall,
                   server_thread=name, server_thread_cores=busiest / wall)
    return use


async def _window(args: argparse.Namespace, counts) -> dict:
    """The warm-up, then the measured window: ``counts()`` (successes, errors so far), the
    client's CPU and the server's threads sampled at its start and end."""
    server_pid = int(os.environ.get("LOADTNT_BENCH_SERVER_PID") or 0)
    await asyncio.sleep(args.warmup)
    (c0, e0), t0 = counts(), time.perf_counter()
    cpu0, server0 = time.process_time(), _thread_times(server_pid)
    await asyncio.sleep(args.duration)
    (c1, e1), t1 = counts(), time.perf_counter()
    cpu1, server1 = time.process_time(), _thread_times(server_pid)
    return {"requests": c1 - c0, "elapsed": t1 - t0, "errors": e1 - e0,
            **_cpu_use(t1 - t0, cpu1 - cpu0, server0, server1)}


def _c_op(conn, op: str, nkeys: int, key_base: int, conc: int):
    """The op as the C load loop's COp: the same payloads (a key per request from a counter,
    no RNG, as ``_key`` spreads them)."""
    from loadtnt.worker._cloop import COp

    n = [0]

    def key() -> list:
        n[0] += 1
        return [_key(n[0] % conc, n[0] // conc, nkeys)]

    def fresh() -> list:
        n[0] += 1
        return [key_base + n[0], "fresh"]

    return {
        "ping": lambda: COp(conn, "ping", {}, {}),
        "call": lambda: COp(conn, "call", {"function": "bench_call"}, {}),
        "eval": lambda: COp(conn, "eval", {"expression": "return ...", "args": [1]}, {}),
        "select": lambda: COp(conn, "select", {"space": "tester"}, {"key": key}),
        "insert": lambda: COp(conn, "insert", {"space": "tester"}, {"tuple": fresh}),
        "update": lambda: COp(conn, "update", {"space": "tester",
                                               "operations": [["=", 1, "updated"]]},
                              {"key": key}),
    }[op]()


async def _measure_c(args: argparse.Namespace) -> dict:
    """loadtnt-c: the harness's C load loop, measured as the coroutine clients are."""
    from loadtnt.worker._cloop import CLoop
    from loadtnt.worker._hotloop import Budget

    from loadtnt import driver as module
    from loadtnt.worker.load import OpState

    conn = module.Connection(host="127.0.0.1", port=args.port)
    await conn.connect()
    state = OpState(args.op)
    errors = [0, None]

    def on_error(k: int, exc: BaseException) -> None:
        errors[0] += 1
        errors[1] = repr(exc)

    budget = Budget(1 << 62)
    cl = CLoop([_c_op(conn, args.op, args.keys, args.key_base, args.concurrency)], [state],
               [1.0], args.concurrency, budget, on_error)
    cl.start()
    out = await _window(args, lambda: (state.rec.total, errors[0]))
    budget.stop()
    await cl.wait()
    cl.detach()
    await conn.disconnect()
    return {**out, "last_error": errors[1], "version": getattr(module, "__version__", "?")}


async def _measure(args: argparse.Namespace) -> dict:
    conc = args.concurrency
    if args.driver == "loadtnt-c":
        return await _measure_c(args)
    if args.driver == "aiotarantool":
        import loadtnt.compat.aiotarantool_shim  # noqa: F401, I001  (before aiotarantool)
        import aiotarantool

        conn = aiotarantool.connect("127.0.0.1", args.port)
        await conn.connect()
        request = _aiotarantool_requests(conn, args.op, args.keys, args.key_base, conc)
        version = aiotarantool.__version__
    else:
        if args.driver in ("loadtnt", "loadtnt-pool"):
            from loadtnt import driver as module
        else:
            import asynctnt as module
        if args.driver == "loadtnt-pool":
            # the same request methods, each dispatched by its mode (one instance: always it)
            conn = module.Pool([f"127.0.0.1:{args.port}"])
        else:
            conn = module.Connection(host="127.0.0.1", port=args.port)
        await conn.connect()
        request = _asynctnt_like_requests(conn, args.op, args.keys, args.key_base, conc)
        version = getattr(module, "__version__", "?")

    count = errors = 0
    stop = False
    last_error = None

    async def worker(f: int) -> None:
        nonlocal count, errors, last_error
        i = 0
        while not stop:
            try:
                await request(f, i)
                count += 1
            except Exception as exc:  # noqa: BLE001  counted and reported, never hidden
                errors += 1
                last_error = repr(exc)
            i += 1

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(worker(f)) for f in range(1, conc + 1)]
    out = await _window(args, lambda: (count, errors))
    stop = True
    await asyncio.gather(*tasks)
    if args.driver == "aiotarantool":
        await conn.close()
    else:
        await conn.disconnect()
    return {**out, "last_error": last_error, "version": version}


def client_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="driver_bench.py client")
    parser.add_argument("--driver", required=True,
                        choices=("loadtnt", "loadtnt-c", "asynctnt", "aiotarantool",
                                 "loadtnt-pool"))
    parser.add_argument("--op", required=True, choices=ALL_OPS)
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.5)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--key-base", type=int, default=INSERT_KEY_BASE)
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(_measure(args))), flush=True)
    return 0


# --- the orchestrator --------------------------------------------------------------------


def _aiotarantool_python() -> Path:
    return Path(os.environ.get("LOADTNT_AIOTARANTOOL_PYTHON",
                               REPO / ".venv-aiotarantool" / "bin" / "python"))


def _client_command(driver: str, op: str, loop: str, port: int, key_base: int,
                    args: argparse.Namespace) -> list[str]:
    common = [str(port), op, str(args.concurrency), str(args.warmup), str(args.duration),
              str(args.keys), str(key_base)]
    if driver == "netbox":
        return [args.tarantool, str(NETBOX_LUA), *common]
    python = str(_aiotarantool_python()) if driver == "aiotarantool" else sys.executable
    script = Path(__file__).resolve()
    if driver == "loadtnt-base":
        # the baseline checkout's own client imports the baseline's loadtnt
        script = Path(args.baseline_tree).resolve() / "bench" / "driver_bench.py"
        driver = "loadtnt"
    return [python, str(script), "client", "--driver", driver, "--op", op,
            "--loop", loop, "--port", str(port), "--concurrency", str(args.concurrency),
            "--warmup", str(args.warmup), "--duration", str(args.duration),
            "--keys", str(args.keys), "--key-base", str(key_base)]


def _run_client(cmd: list[str], timeout: float, server_pid: int | None = None) -> dict:
    cwd = Path(cmd[1]).parent.parent if cmd[1].endswith("driver_bench.py") else REPO
    env = dict(os.environ)
    if server_pid:      # the client samples the server's threads over its measured window
        env["LOADTNT_BENCH_SERVER_PID"] = str(server_pid)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"client failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


class CpuMeter:
    """CPU used by processes other than ours (client and server) during one measurement.

    The machine is shared: other builds and tests may run while we measure. Foreign CPU =
    all busy CPU time (from /proc/stat, steal included) minus what the client processes and
    the server used, per second of wall time, in cores. Linux only; elsewhere it reads 0.
    """

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    @staticmethod
    def _busy() -> float:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return 0.0
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        return (user + nice + system + irq + softirq + steal) / CpuMeter.HZ

    def _server(self) -> float:
        try:
            stat = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(stat[11]) + int(stat[12])) / CpuMeter.HZ  # utime, stime

    def start(self) -> None:
        t = os.times()
        self._t0 = (time.monotonic(), self._busy(), self._server(),
                    t.children_user + t.children_system)

    def foreign_cores(self) -> float:
        t = os.times()
        wall0, busy0, server0, children0 = self._t0
        wall = time.monotonic() - wall0
        ours = (self._server() - server0) + (t.children_user + t.children_system - children0)
        return max(0.0, (self._busy() - busy0 - ours) / wall) if wall > 0 else 0.0


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _git_commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=REPO, check=False)
    return proc.stdout.strip() or "?"


def _spread(values: list[float]) -> str:
    return f"{min(values):,.0f}–{max(values):,.0f}"


def _fmt_ratio(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}× ({min(values):.2f}–{max(values):.2f})"


def _plan(args: argparse.Namespace) -> list[tuple[int, str, str, str]]:
    """(round, loop, op, driver) in run order: drivers interleaved, rotated per round."""
    plan = []
    for rnd in range(args.rounds):
        for loop in args.loops:
            for op in args.ops:
                drivers = [d for d in args.drivers if d != "netbox" or op in args.netbox_ops]
                shift = rnd % len(drivers)
                for driver in drivers[shift:] + drivers[:shift]:
                    plan.append((rnd, loop, op, driver))
    return plan


def report(results: list[dict], args: argparse.Namespace, env: dict) -> str:
    reference = args.reference
    versions = ", ".join(f"{k} {v}" for k, v in sorted(env["versions"].items()))
    lines = [
        "# Driver benchmark (bench/driver_bench.py)",
        "",
        f"- when: {env['start']} – {env['end']} UTC, commit {env['commit']}",
        (f"- machine: {env['cpu']} × {env['cpus']} cores; load average before "
         f"{env['load_before']}, after {env['load_after']}"),
        (f"- server: Tarantool {env['tarantool']} (wal_mode='none'), same machine, "
         f"`tester` prefilled with {args.keys:,} rows"),
        (f"- clients: one process per measurement, {args.concurrency} coroutines (net.box: "
         f"fibers) on 1 connection, closed loop, {args.warmup:g} s warm-up + "
         f"{args.duration:g} s measured; {args.rounds} interleaved rounds"),
        f"- Python {platform.python_version()}; versions: {versions}",
        ("- cells: median RPS over rounds (min–max); ratios: median of per-round "
         f"{reference}/other RPS (min–max)"),
    ]
    foreign = sorted(r.get("foreign_cores", 0.0) for r in results)
    if foreign:
        noisy = sum(1 for x in foreign if x > 0.25)
        lines.append(
            f"- noise: other processes used a median {statistics.median(foreign):.2f} cores "
            f"(max {foreign[-1]:.2f}) of {env['cpus']} during measurements; "
            f"{noisy} of {len(foreign)} measurements had > 0.25 cores busy elsewhere"
            + (f"; {env['retried']} measurements repeated (--max-foreign "
               f"{args.max_foreign:g})" if args.max_foreign is not None else ""))
    errors = [r for r in results if r["errors"]]
    if errors:
        lines.append(f"- **errors** in {len(errors)} measurements, e.g. "
                     f"{errors[0]['driver']} {errors[0]['op']}: {errors[0]['last_error']}")
    for loop in args.loops:
        drivers = list(args.drivers)
        others = [d for d in drivers if d != reference]
        head = ["op", *drivers, *(f"{reference}/{d}" for d in others)]
        lines += ["", f"## {loop}", "", "| " + " | ".join(head) + " |",
                  "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        for op in args.ops:
            cells = [op]
            per_round: dict[str, dict[int, float]] = {}
            for driver in drivers:
                rows = [r for r in results
                        if r["loop"] == loop and r["op"] == op and r["driver"] == driver]
                per_round[driver] = {r["round"]: r["rps"] for r in rows}
                rps = [r["rps"] for r in rows]
                cell = f"{statistics.median(rps):,.0f} ({_spread(rps)})" if rps else "—"
                if any(r["errors"] for r in rows):
                    cell += " ⚠ errors"
                cells.append(cell)
            for other in others:
                ref, oth = per_round.get(reference, {}), per_round.get(other, {})
                ratios = [ref[k] / oth[k] for k in ref if k in oth and oth[k] > 0]
                if not ratios:
                    cells.append("—")
                    continue
                cell = _fmt_ratio(ratios)
                target = _targets(env["tarantool"]).get((reference, other), {}).get(op)
                if target is not None:
                    ok = statistics.median(ratios) >= target
                    cell += f" {'✅' if ok else '❌'} ≥{target:g}×"
                cells.append(cell)
            lines.append("| " + " | ".join(cells) + " |")
        lines += _cpu_table(results, loop, drivers, args.ops)
    return "\n".join(lines) + "\n"


def _cpu_table(results: list[dict], loop: str, drivers: list[str], ops: list[str]) -> list[str]:
    """Medians over rounds of the measured window's CPU: client cores / server cores
    (busiest server thread: name cores). The Lua client (netbox) reports its own cores only
    (os.clock()), not the server's."""
    rows = []
    for op in ops:
        cells = [op]
        for driver in drivers:
            runs = [r for r in results if r["loop"] == loop and r["op"] == op
                    and r["driver"] == driver and "client_cores" in r]
            if not runs:
                cells.append("—")
                continue
            cell = f"{statistics.median(r['client_cores'] for r in runs):.2f}"
            served = [r for r in runs if "server_cores" in r]
            if served:
                names = collections.Counter(r["server_thread"] for r in served)
                cell += (f" / {statistics.median(r['server_cores'] for r in served):.2f} "
                         f"({names.most_common(1)[0][0]} "
                         f"{statistics.median(r['server_thread_cores'] for r in served):.2f})")
            cells.append(cell)
        rows.append("| " + " | ".join(cells) + " |")
    title = ("CPU in the measured window, median over rounds: client cores / server cores "
             "(the server's busiest thread and its cores; near 1.00 it is the bottleneck)")
    return ["", title, "",
            "| op | " + " | ".join(drivers) + " |",
            "|" + "|".join(["---"] + ["---:"] * len(drivers)) + "|", *rows]


def _versions(drivers: list[str], tarantool: str,
              baseline_tree: str | None = None, binary: str = "tarantool") -> dict[str, str]:
    versions = {}
    for driver in drivers:
        if driver == "netbox":
            versions["net.box"] = f"(tarantool {tarantool}, the client run by {binary})"
            continue
        if driver == "aiotarantool":
            python, code = str(_aiotarantool_python()), (
                "import loadtnt.compat.aiotarantool_shim, aiotarantool, msgpack;"
                "print(aiotarantool.__version__, 'msgpack', msgpack.version, "
                "msgpack.Packer.__module__)")
        elif driver == "loadtnt-base":
            base = str(Path(baseline_tree or ".").resolve())
            python, code = sys.executable, (
                f"import sys; sys.path.insert(0, {base!r}); "
                "import loadtnt; from loadtnt import driver; driver.Connection; "
                "print(loadtnt.__file__)")
        elif driver == "asynctnt":
            python, code = sys.executable, "import asynctnt; print(asynctnt.__version__)"
        else:
            python, code = sys.executable, (
                "import loadtnt; from loadtnt import driver; driver.Connection; "
                "print(loadtnt.__version__)")
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=REPO,
                              check=False)
        if proc.returncode != 0:
            raise SystemExit(f"driver {driver!r} is not usable with {python}:\n"
                             f"{proc.stderr.strip()[-1500:]}")
        versions[driver] = proc.stdout.strip()
    return versions


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(REPO))
    if argv[:1] == ["client"]:
        return client_main(argv[1:])

    def csv(choices):
        def parse(text: str) -> list[str]:
            items = [x.strip() for x in text.split(",") if x.strip()]
            bad = [x for x in items if x not in choices]
            if bad or not items:
                raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
            return items
        return parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--drivers", type=csv(ALL_DRIVERS),
                        default=["loadtnt", "asynctnt", "aiotarantool", "netbox"])
    parser.add_argument("--ops", type=csv(ALL_OPS), default=list(DEFAULT_OPS))
    parser.add_argument("--netbox-ops", type=csv(ALL_OPS), default=list(NETBOX_DEFAULT_OPS),
                        help="ops measured through net.box (default: ping,select)")
    parser.add_argument("--loops", type=csv(("uvloop", "asyncio")), default=["uvloop"])
    parser.add_argument("--reference", choices=ALL_DRIVERS,
                        help="driver the ratios are taken of (default: loadtnt if measured, "
                             "else the first driver)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=300)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.5)
    parser.add_argument("--keys", type=int, default=100_000, help="rows prefilled in tester")
    parser.add_argument("--max-foreign", type=float, metavar="CORES",
                        help="measure again when other processes used more than CORES cores "
                             "during a measurement (default: keep every measurement)")
    parser.add_argument("--retries", type=int, default=3,
                        help="at most this many repeats per measurement for --max-foreign")
    parser.add_argument("--pause", type=float, default=2.0,
                        help="seconds to wait before a repeat (--max-foreign)")
    parser.add_argument("--tarantool", default="tarantool", help="the tarantool binary")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="a checkout of loadtnt (extension built in place) measured as "
                             "driver loadtnt-base")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args(argv)
    if args.reference is None:
        args.reference = "loadtnt" if "loadtnt" in args.drivers else args.drivers[0]
    if args.reference not in args.drivers:
        parser.error(f"--reference {args.reference} is not among --drivers")
    if "loadtnt-base" in args.drivers and not args.baseline_tree:
        parser.error("driver loadtnt-base needs --baseline-tree DIR")

    from loadtnt.instance import TarantoolInstance, version

    tnt_version = version(args.tarantool)
    env = {"versions": _versions(args.drivers, tnt_version, args.baseline_tree,
                                 shutil.which(args.tarantool) or args.tarantool),
           "tarantool": tnt_version,
           "cpu": _cpu_model(), "cpus": os.cpu_count(), "commit": _git_commit(),
           "load_before": _loadavg(),
           "start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    plan = _plan(args)
    per_run = args.warmup + args.duration
    print(f"{len(plan)} measurements, about {len(plan) * (per_run + 0.4) / 60:.1f} min",
          file=sys.stderr)
    results: list[dict] = []
    # interactive transactions yield between statements: memtx needs its MVCC engine
    cfg = {"memtx_use_mvcc_engine": True} if "txn" in args.ops else {}
    server = TarantoolInstance(lua=SERVER_LUA % {"keys": args.keys}, cfg=cfg,
                               memtx_memory=1024 * 1024 * 1024, binary=args.tarantool)
    retried = 0
    with server:
        meter = CpuMeter(server.pid)
        runs = 0  # every client run inserts into its own span of fresh keys, repeats too
        for n, (rnd, loop, op, driver) in enumerate(plan):
            for attempt in range(args.retries + 1):
                key_base = INSERT_KEY_BASE + runs * KEY_SPAN
                runs += 1
                cmd = _client_command(driver, op, loop, server.port, key_base, args)
                meter.start()
                out = _run_client(cmd, timeout=per_run + 60, server_pid=server.pid)
                foreign = meter.foreign_cores()
                if args.max_foreign is None or foreign <= args.max_foreign:
                    break
                if attempt < args.retries:
                    retried += 1
                    print(f"    {foreign:.2f} cores busy elsewhere: measuring again",
                          file=sys.stderr)
                    time.sleep(args.pause)
            if op in ("insert", "txn"):
                _reset_tester(server.port, args.keys)
            out.update(round=rnd, loop=loop, op=op, driver=driver, foreign_cores=foreign,
                       rps=out["requests"] / out["elapsed"])
            results.append(out)
            print(f"[{n + 1}/{len(plan)}] round {rnd + 1} {loop} {op:6} {driver:12} "
                  f"{out['rps']:>10,.0f} rps  (other load {foreign:.2f} cores)"
                  + (f"  {out['errors']} errors" if out["errors"] else ""),
                  file=sys.stderr, flush=True)
    env["retried"] = retried
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
