#!/usr/bin/env python3
"""Client instructions per request, counted by valgrind (callgrind): a noise-free A/B of drivers.

Wall-clock benchmarks on a shared 2-core machine wobble with whatever else runs; the number of
instructions the client process executes per request does not. For each (driver, op) this runs
the client twice under ``valgrind --tool=callgrind`` (N and 2N requests, 300 coroutines on one
connection, uvloop) against a real Tarantool and reports (I(2N) - I(N)) / N: the cost of one more
request, with start-up and connect subtracted out. The server's own work is not counted (it is
another process). Run it beside ``driver_bench.py``, which measures what a request costs in time.

Example::

    .venv/bin/python bench/instr_bench.py --drivers loadtnt,loadtnt-base,asynctnt \\
        --baseline-tree /tmp/before --ops ping,select,insert,call

The pool balancers' pick (round robin vs least outstanding), on one server and on two::

    .venv/bin/python bench/instr_bench.py --drivers loadtnt-pool,loadtnt-pool-lo --ops ping,call
    .venv/bin/python bench/instr_bench.py --drivers loadtnt-pool,loadtnt-pool-lo --ops ping,call \
        --pool-size 2
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OPS = ("ping", "select", "insert", "call", "eval", "update", "txn")
# loadtnt-pool: Pool with the one server behind it (its dispatch cost against a Connection);
# loadtnt-pool-lo: the same with balancer='least_outstanding' (the pick's cost: with
# --pool-size 2, two servers behind every pool, it looks at both on each request);
# loadtnt-base-pool: loadtnt-pool from --baseline-tree
DRIVERS = ("loadtnt", "loadtnt-base", "asynctnt", "loadtnt-pool", "loadtnt-pool-lo",
           "loadtnt-base-pool")

SERVER_LUA = """
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
local s = box.schema.space.create('tester', {if_not_exists = true})
s:create_index('primary', {parts = {1, 'unsigned'}, if_not_exists = true})
for i = 1, 10000 do s:replace{i, 'value' .. i} end
function bench_call() return 1 end
"""

CLIENT = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import uvloop
driver_name, op, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
ports = [int(p) for p in sys.argv[5].split(',')]
port = ports[0]
if driver_name == 'asynctnt':
    import asynctnt as mod
else:
    from loadtnt import driver as mod

async def main():
    if driver_name.startswith('loadtnt-pool'):   # the pool's dispatch
        # one server behind it (or --pool-size servers, all writable: every request has
        # that many candidates; the servers' work is not counted, only the client's)
        kw = {'balancer': 'least_outstanding'} if driver_name == 'loadtnt-pool-lo' else {}
        if len(ports) > 1:
            kw.update(default_mode='any', call_mode='any')
        conn = mod.Pool([f'127.0.0.1:{p}' for p in ports], ping_timeout=0, **kw)
    else:
        conn = mod.Connection(host='127.0.0.1', port=port, ping_timeout=0)
    await conn.connect()
    conc = 300
    per = n // conc
    base = 10**9

    def req(f, i):
        if op == 'ping':
            return conn.ping()
        if op == 'select':
            return conn.select('tester', [(f * 7919 + i * 104729) % 10000 + 1])
        if op == 'insert':
            return conn.replace('tester', [base + f * per + i, 'fresh'])
        if op == 'call':
            return conn.call('bench_call')
        if op == 'eval':
            return conn.eval('return ...', [1])
        if op == 'update':
            return conn.update('tester', [(f * 7919 + i) % 10000 + 1], [['=', 1, 'u']])
        raise SystemExit('unknown op ' + op)

    async def txn(f, i):
        async with conn.stream() as s:
            await s.replace('tester', [base + 2 * (f * per + i), 'a'])
            await s.replace('tester', [base + 2 * (f * per + i) + 1, 'b'])

    async def worker(f):
        for i in range(per):
            if op == 'txn':
                await txn(f, i)
            else:
                await req(f, i)

    await asyncio.gather(*(worker(f) for f in range(conc)))
    await conn.disconnect()

uvloop.run(main())
"""


def instructions(tree: Path, driver: str, op: str, n: int, ports: list[int]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        script = Path(tmp) / "client.py"
        script.write_text(CLIENT)
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, str(script), str(tree), driver, op, str(n),
               ",".join(map(str, ports))]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False,
                              cwd=tree, env=dict(os.environ, PYTHONHASHSEED="0"))
        match = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or match is None:
            raise SystemExit(f"client failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
        return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drivers", default="loadtnt,asynctnt")
    parser.add_argument("--ops", default="ping,select,insert,call")
    parser.add_argument("--requests", type=int, default=30_000, help="N (the runs do N and 2N)")
    parser.add_argument("--baseline-tree", type=Path, help="checkout measured as loadtnt-base")
    parser.add_argument("--tarantool", default=os.environ.get("TARANTOOL") or "tarantool")
    parser.add_argument("--pool-size", type=int, default=1,
                        help="servers behind the loadtnt-pool* drivers (independent, all "
                             "writable, mode 'any' for every request): a balancer's pick "
                             "chooses among that many candidates")
    args = parser.parse_args()
    drivers = [d for d in args.drivers.split(",") if d]
    ops = [o for o in args.ops.split(",") if o]
    for d in drivers:
        if d not in DRIVERS:
            parser.error(f"unknown driver {d!r}; one of {', '.join(DRIVERS)}")
    if any("-base" in d for d in drivers) and args.baseline_tree is None:
        parser.error("loadtnt-base and loadtnt-base-pool need --baseline-tree")
    from loadtnt.instance import TarantoolInstance, version

    n = args.requests - args.requests % 300
    rows: dict[str, dict[str, float]] = {}
    # interactive transactions yield between statements: memtx needs its MVCC engine
    cfg = {"memtx_use_mvcc_engine": True} if "txn" in ops else {}
    extra = [TarantoolInstance(lua=SERVER_LUA, binary=args.tarantool, cfg=cfg)
             for _ in range(args.pool_size - 1)]
    with TarantoolInstance(lua=SERVER_LUA, binary=args.tarantool, cfg=cfg) as tnt, \
            contextlib.ExitStack() as more:
        for instance in extra:
            more.enter_context(instance)
        for op in ops:
            for d in drivers:
                tree = args.baseline_tree.resolve() if "-base" in d else REPO
                name = d.replace("-base", "")     # the client's driver, from that tree
                if name.startswith("loadtnt-pool") and op == "txn":
                    continue    # a pool's stream is its master connection's
                ports = [int(tnt.port)]
                if name.startswith("loadtnt-pool"):
                    ports += [int(i.port) for i in extra]
                one = instructions(tree, name, op, n, ports)
                two = instructions(tree, name, op, 2 * n, ports)
                rows.setdefault(op, {})[d] = (two - one) / n
                print(f"{op:7} {d:13} {rows[op][d]:10,.0f} instructions/request", flush=True)
        server = version(args.tarantool)
    pools = (f", pools of {args.pool_size} servers (mode 'any')" if args.pool_size > 1
             else "")
    print(f"\n# client instructions per request (callgrind), Tarantool {server}, uvloop, "
          f"300 coroutines, N={n}{pools}\n")
    # the ratios: how many times the instructions of the first driver another one needs
    print("| op | " + " | ".join(drivers) + " | " + " | ".join(
        f"{d}/{drivers[0]}" for d in drivers[1:]) + " |")
    print("|---|" + "---:|" * (2 * len(drivers) - 1))
    for op, cells in rows.items():
        ratio = [f"{cells[d] / cells[drivers[0]]:.2f}×" if d in cells and drivers[0] in cells
                 else "–" for d in drivers[1:]]
        print(f"| {op} | " + " | ".join(f"{cells[d]:,.0f}" if d in cells else "–"
                                      for d in drivers) + " | " + " | ".join(ratio) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
