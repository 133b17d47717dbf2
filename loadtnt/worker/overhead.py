"""The harness's own cost: its load loop against a bare loop, and the recorder per request.

``python -m loadtnt.worker.overhead [--driver loadtnt] [--loop uvloop] [--concurrency 300]``

In one process, on one connection, it alternates a bare loop (``await conn.ping()`` in N
coroutines, counting only) with the harness's closed-loop :class:`~loadtnt.worker.load.Phase`
(op choice, timing, histogram recording, error classification) over the same request function,
and prints the median throughput of each and the difference.  Then it times
``Recorder.record_ns`` alone.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence

from loadtnt import drivers, histogram
from loadtnt.drivers.base import RequestFn, ServerAddress
from loadtnt.scenario.generators import Context
from loadtnt.scenario.opspec import build_specs
from loadtnt.worker.load import Phase
from loadtnt.worker.main import new_loop


async def bare_loop(fn: RequestFn, coroutines: int, seconds: float) -> float:
    """Requests/s of the plainest loop that keeps ``coroutines`` requests in flight."""
    left = [1 << 62]

    async def one() -> int:
        n = 0
        while left[0] > 0:
            left[0] -= 1
            await fn()
            n += 1
        return n

    asyncio.get_running_loop().call_later(seconds, left.__setitem__, 0, 0)
    t0 = time.perf_counter()
    done = await asyncio.gather(*(one() for _ in range(coroutines)))
    return sum(done) / (time.perf_counter() - t0)


async def harness_loop(fn: RequestFn, classify: object, coroutines: int, seconds: float) -> float:
    phase = Phase(fns=[[fn]], names=["op"], weights=[1.0], coroutines=coroutines,
                  classify=classify,  # type: ignore[arg-type]
                  seconds=seconds, requests=None, rate=None)
    await phase.run()
    return phase.ops[0].requests / phase.duration_s


def record_cost_ns(n: int = 2_000_000) -> tuple[float, float]:
    """ns per ``record_ns`` call and per ``record_since`` call (clock read + record, the hot
    path's), the empty loop subtracted."""
    rec = histogram.Recorder()
    record, since = rec.record_ns, rec.record_since
    t0 = time.perf_counter_ns()
    for i in range(n):
        record(i)
    t1 = time.perf_counter_ns()
    for _ in range(n):
        since(t1)
    t2 = time.perf_counter_ns()
    for i in range(n):
        pass
    t3 = time.perf_counter_ns()
    empty = t3 - t2
    return ((t1 - t0) - empty) / n, ((t2 - t1) - empty) / n


async def measure(args: argparse.Namespace, address: ServerAddress) -> int:
    adapter = drivers.load(args.driver)(address)
    await adapter.connect()
    try:
        [spec] = build_specs([{"op": args.op, "name": args.op, "weight": 1,
                               **({"function": "func_load"} if args.op == "call" else {})}],
                             Context())
        fn = adapter.request(spec)
        await bare_loop(fn, args.concurrency, 0.5)  # warm up the connection and the loop
        bare, harness = [], []
        for i in range(args.rounds):
            # ABBA order, so a drift in the machine's load does not favour either side
            pair = [lambda: bare_loop(fn, args.concurrency, args.seconds),
                    lambda: harness_loop(fn, adapter.classify, args.concurrency, args.seconds)]
            if i % 2:
                h_rps, b_rps = await pair[1](), await pair[0]()
            else:
                b_rps, h_rps = await pair[0](), await pair[1]()
            bare.append(b_rps)
            harness.append(h_rps)
    finally:
        await adapter.close()
    b, h = statistics.median(bare), statistics.median(harness)
    loops = "pure-Python" if args.python_loops else "Cython"
    print(f"{args.driver} {args.op}, {args.loop}, {args.concurrency} coroutines, 1 connection, "
          f"{args.rounds} x {args.seconds:g} s alternating, {loops} harness loops")
    print(f"  bare loop   {b:>10,.0f} req/s   (rounds: {', '.join(f'{x:,.0f}' for x in bare)})")
    print(f"  harness     {h:>10,.0f} req/s   (rounds: {', '.join(f'{x:,.0f}' for x in harness)})")
    ratios = sorted(hx / bx for hx, bx in zip(harness, bare, strict=True))
    print(f"  overhead    {(1 - h / b) * 100:>9.1f} %  (of the medians; median of the per-round "
          f"ratios: {(1 - statistics.median(ratios)) * 100:.1f} %)")
    rec, since = record_cost_ns()
    kind = "Cython" if histogram.FAST else "pure Python"
    print(f"  recording   {rec:>9.1f} ns/request (Recorder.record_ns, {kind})")
    print(f"  clock+rec   {since:>9.1f} ns/request (Recorder.record_since: reads the clock too)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtnt.worker.overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--driver", default="loadtnt")
    p.add_argument("--loop", default="uvloop", choices=("asyncio", "uvloop"))
    p.add_argument("--op", default="ping", choices=("ping", "call"))
    p.add_argument("--concurrency", type=int, default=300)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--server", metavar="HOST:PORT", help="default: an embedded server")
    p.add_argument("--python-loops", action="store_true",
                   help="measure the pure-Python fallback loops instead of the Cython ones")
    args = p.parse_args(argv)
    if args.python_loops:
        from loadtnt.worker import _pyhotloop, load

        for name in ("Budget", "closed_one", "closed_mix"):
            setattr(load, name, getattr(_pyhotloop, name))
    loop = new_loop(args.loop)
    if args.server:
        host, _, port = args.server.rpartition(":")
        return loop.run_until_complete(measure(args, ServerAddress(host, int(port))))
    from loadtnt.server.embedded import EmbeddedServer

    with EmbeddedServer() as srv:
        return loop.run_until_complete(measure(args, ServerAddress(srv.host, srv.port)))


if __name__ == "__main__":
    sys.exit(main())
