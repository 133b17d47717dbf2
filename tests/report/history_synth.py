"""Small `loadtnt-result/1` files for the history tests: per run, each row's trials at a given
true rps with uniform noise, on a given machine. No Tarantool needed."""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROWS = (("loadtnt", "uvloop", "select"), ("loadtnt", "uvloop", "ping"))


def result(k: int, rps: dict[str, float], *, trials: int = 5, noise: float = 0.05,
           seed: int = 0, cpu: str = "AMD EPYC 7B13", cores: int = 2,
           busy: float | None = 0.01, commit: str | None = None,
           rows: Sequence[tuple[str, str, str]] = ROWS) -> dict[str, Any]:
    """Run number k (its start time k minutes after a fixed hour); rps per op."""
    rng = random.Random(seed * 1000 + k)
    runs = []
    for driver, loop, op in rows:
        for t in range(1, trials + 1):
            v = rps[op] * rng.uniform(1 - noise, 1 + noise)
            runs.append({"server": "embedded", "driver": driver, "loop": loop, "trial": t,
                         "op": op, "requests": int(v), "ok": int(v), "errors": 0,
                         "errors_by_kind": {}, "duration_s": 1.0, "rps": v,
                         "latency_us": {"p50": 1e6 / v * 50, "p90": 1e6 / v * 80,
                                        "p99": 1e6 / v * 120, "p999": 1e6 / v * 200,
                                        "max": 1e6 / v * 400},
                         "other_cpu_cores": busy})
    return {"format": "loadtnt-result/1",
            "scenario": {"name": "synth", "drivers": ["loadtnt"], "loops": ["uvloop"],
                         "rate": None},
            "environment": {"loadtnt_version": "0.1.0", "commit": commit or f"c{k:04d}",
                            "python": "3.11.7 (CPython)", "drivers": {"loadtnt": "0.1.0"},
                            "loops": {"uvloop": "0.19.0"},
                            "tarantool": {"version": "2.6.0-0-g47aa4e01e"},
                            "cpu": {"model": cpu, "count": cores},
                            "started_at": f"2026-12-01T{10 + k // 60:02d}:{k % 60:02d}:00Z"},
            "runs": runs, "server": [], "warnings": [], "partial": False}


def write(dir_: Path, name: str, data: dict[str, Any]) -> Path:
    p = dir_ / name
    p.write_text(json.dumps(data), encoding="utf-8")
    return p
