"""Synthetic `loadtnt-result/1` results with real HdrHistogram V2 encodings.

Used two ways: `python tests/report/report_synth.py` regenerates the committed fixtures under
tests/report/fixtures/ (deterministic: seeded), and the tests build small results in memory with
`make_result` to exercise compare and check (halved throughput, trial noise, slower machines).
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

FIXTURES = Path(__file__).parent / "fixtures"

# Median requests/s on a 2-core box, loosely after the seed tables (uvloop ~1.6× asyncio).
SEED_RPS = {
    "asynctnt": {"ping": 62000, "call": 52000, "eval": 47000, "select": 45000, "insert": 41000,
                 "update": 40000},
    "loadtnt": {"ping": 98000, "call": 71000, "eval": 64000, "select": 61000, "insert": 56000,
                "update": 54000},
    "aiotarantool": {"ping": 14500, "call": 12800, "eval": 12100, "select": 11600,
                     "insert": 11000, "update": 10800},
}
LOOP_FACTOR = {"asyncio": 0.62, "uvloop": 1.0}
SEED_OPS = ["ping", "call", "eval", "select", "insert", "update"]

ENVIRONMENT = {
    "loadtnt_version": "0.1.0",
    "commit": "021e81f",
    "python": "3.11.2 (CPython)",
    "drivers": {"loadtnt": "0.1.0", "asynctnt": "2.4.0", "aiotarantool": "1.1.5"},
    "loops": {"asyncio": "3.11.2", "uvloop": "0.19.0"},
    "tarantool": {"version": "2.11.1-0-g96877bd35",
                  "box_cfg": {"wal_mode": "none", "memtx_memory": 268435456,
                              "readahead": 16320, "net_msg_max": 768}},
    "cpu": {"model": "AMD EPYC 7B13", "count": 2},
    "hostname": "bench-1",
    "os": "Linux 6.1.0-18-amd64 x86_64",
    "started_at": "2026-11-25T00:30:00Z",
}

STAT_KEY = {"ping": None, "call": "CALL", "eval": "EVAL", "select": "SELECT", "insert": "INSERT",
            "update": "UPDATE"}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, 60_000_000, 3)


def latency_histogram(rng: random.Random, median_us: float, requests: int, sigma: float = 0.3,
                      tail: float = 0.002, tail_factor: float = 8.0,
                      samples: int = 4000) -> HdrHistogram:
    """A log-normal body with a thin slow tail, `requests` values in all (weighted samples)."""
    h = new_histogram()
    weight, extra = divmod(max(requests, 1), samples)
    for i in range(samples):
        v = rng.lognormvariate(math.log(median_us), sigma)
        if rng.random() < tail:
            v *= rng.uniform(2, tail_factor)
        h.record_value(max(1, int(v)), weight + (1 if i < extra else 0))
    return h


def summary(h: HdrHistogram) -> dict[str, int]:
    return {"p50": h.get_value_at_percentile(50), "p90": h.get_value_at_percentile(90),
            "p99": h.get_value_at_percentile(99), "p999": h.get_value_at_percentile(99.9),
            "max": h.get_max_value()}


def timeline(rng: random.Random, rps: float, p99_us: float, duration: int, warmup: int,
             stall_at: int | None = None, error_at: int | None = None) -> list[dict[str, Any]]:
    out = []
    for t in range(-warmup, duration):
        ramp = 0.55 if t == -warmup else 1.0
        req = rps * ramp * rng.uniform(0.97, 1.03)
        p99 = p99_us * rng.uniform(0.9, 1.15) * (1.8 if t == -warmup else 1.0)
        errors = 0
        if stall_at is not None and t == stall_at:
            req *= 0.18
            p99 *= 9
        if error_at is not None and t == error_at:
            errors = 37
        out.append({"t_s": t, "requests": int(req), "errors": errors, "p99_us": int(p99)})
    return out


def make_result(rps_of: Callable[[str, str, str, int], float], *,
                drivers: Sequence[str] = ("loadtnt", "asynctnt"),
                loops: Sequence[str] = ("uvloop",), ops: Sequence[str] = ("ping",),
                trials: int = 3, duration: float = 10.0, concurrency: int = 300,
                rate: float | None = None, seed: int = 1, with_histograms: bool = False,
                with_timeline: bool = False,
                errors_of: Callable[[str, str, str, int], dict[str, int]] | None = None,
                scenario_name: str = "synthetic", mix: bool = True) -> dict[str, Any]:
    """A result dict; `rps_of(driver, loop, op, trial)` gives each run's requests/s."""
    rng = random.Random(seed)
    runs, server = [], []
    for loop in loops:
        for driver in drivers:
            for trial in range(1, trials + 1):
                delta = {"SELECT": 0, "CALL": 0, "EVAL": 0, "INSERT": 0, "UPDATE": 0,
                         "ERROR": 0, "REQUESTS": 0}
                for op in ops:
                    rps = rps_of(driver, loop, op, trial)
                    requests = int(rps * duration)
                    kinds = errors_of(driver, loop, op, trial) if errors_of else {}
                    median_us = concurrency / rps * 1e6 if rate is None else 180.0
                    run: dict[str, Any] = {
                        "driver": driver, "loop": loop, "trial": trial, "op": op,
                        "requests": requests, "errors": sum(kinds.values()),
                        "errors_by_kind": kinds, "duration_s": duration,
                        "rps": requests / duration,
                    }
                    if with_histograms:
                        service = latency_histogram(rng, median_us, requests)
                        if rate is None:
                            main = service
                        else:  # open loop: a 300 ms server stall shows in corrected only
                            main = latency_histogram(rng, median_us * 1.1, requests, tail=0.03,
                                                     tail_factor=1500)
                            run["service_histogram"] = service.encode().decode()
                            run["service_latency_us"] = summary(service)
                            run["target_rps"] = rps
                        run["latency_us"] = summary(main)
                        run["histogram"] = main.encode().decode()
                    else:
                        p50 = median_us
                        run["latency_us"] = {"p50": p50, "p90": p50 * 1.4, "p99": p50 * 2.1,
                                             "p999": p50 * 4, "max": p50 * 9}
                    if with_timeline:
                        stall = 6 if (driver, trial, op) == ("asynctnt", 2, "select") else None
                        if rate is not None:
                            stall = 5 if trial == 1 else None
                        err_at = 6 if kinds and trial == 2 else None
                        run["timeline"] = timeline(rng, rps, run["latency_us"]["p99"],
                                                   int(duration), 2, stall, err_at)
                    runs.append(run)
                    key = STAT_KEY.get(op)
                    if key:
                        delta[key] += requests
                    delta["ERROR"] += run["errors"]
                    delta["REQUESTS"] += requests
                server.append({"driver": driver, "loop": loop, "trial": trial,
                               "ops": list(ops), "duration_s": duration, "delta": delta})
    return {
        "format": "loadtnt-result/1",
        "scenario": {
            "name": scenario_name, "description": "synthetic result for the report tests",
            "drivers": list(drivers), "loops": list(loops), "workers": 1, "connections": 1,
            "concurrency": concurrency, "warmup": 2.0, "duration": duration, "requests": None,
            "trials": trials, "rate": rate, "server": None, "mix": mix,
            "operations": [{"op": op, "name": op, "weight": 1} for op in ops],
        },
        "environment": dict(ENVIRONMENT, drivers={d: ENVIRONMENT["drivers"][d] for d in drivers},
                            loops={lp: ENVIRONMENT["loops"][lp] for lp in loops}),
        "runs": runs,
        "server": server,
    }


def seed_suite() -> dict[str, Any]:
    """The seed's six requests, three drivers, two loops, three trials, a few errors."""
    noise = random.Random(7)

    def rps_of(driver: str, loop: str, op: str, trial: int) -> float:
        return SEED_RPS[driver][op] * LOOP_FACTOR[loop] * noise.uniform(0.95, 1.05)

    def errors_of(driver: str, loop: str, op: str, trial: int) -> dict[str, int]:
        if driver == "aiotarantool" and loop == "asyncio" and op in ("select", "update"):
            return {"timeout": 12 + trial, "disconnect": 1}
        if driver == "asynctnt" and op == "insert":
            return {"db:ER_TUPLE_FOUND": 3}
        return {}

    return make_result(rps_of, drivers=("loadtnt", "asynctnt", "aiotarantool"),
                       loops=("asyncio", "uvloop"), ops=SEED_OPS, trials=3, seed=11,
                       with_histograms=True, with_timeline=True, errors_of=errors_of,
                       scenario_name="seed", mix=False)


def open_loop() -> dict[str, Any]:
    """Open loop at 20,000 req/s (select 90%, update 10%): a stall in trial 1."""
    share = {"select": 18000.0, "update": 2000.0}
    noise = random.Random(5)

    def rps_of(driver: str, loop: str, op: str, trial: int) -> float:
        return share[op] * noise.uniform(0.995, 1.0)

    result = make_result(rps_of, drivers=("loadtnt", "asynctnt"), loops=("uvloop",),
                         ops=("select", "update"), trials=3, rate=20000, seed=3,
                         with_histograms=True, with_timeline=True, scenario_name="open-loop")
    for op in result["scenario"]["operations"]:
        op["weight"] = 9 if op["op"] == "select" else 1
    return result


def main(argv: Sequence[str]) -> int:
    out = Path(argv[0]) if argv else FIXTURES
    out.mkdir(parents=True, exist_ok=True)
    for name, data in (("seed-suite.json", seed_suite()), ("open-loop.json", open_loop())):
        (out / name).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
