"""The result file (``format: loadtnt-result/1``, see loadtnt/report/RESULT_FORMAT.md).

:class:`ResultFile` accumulates a run's entries and writes them atomically; :func:`read` loads
one back, refusing other formats; :func:`op_entry` merges the workers' histograms of one op.
"""
from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

from loadtnt import histogram

FORMAT = "loadtnt-result/1"
RATE_TOLERANCE = 0.95  # an open-loop run below 95 % of its target did not hold it
SATURATED_CPU = 0.95   # a worker busier than this was the bottleneck


class ResultError(ValueError):
    pass


def op_entry(*, driver: str, loop: str, trial: int, op: str, parts: list[dict[str, Any]],
             target_rps: float | None) -> dict[str, Any]:
    """One ``runs`` entry from the workers' ``parts`` (their per-op results) for op ``op``."""
    duration = max((p["duration_s"] for p in parts), default=0.0)
    ops = [p["ops"][op] for p in parts if op in p["ops"]]
    requests = sum(o["requests"] for o in ops)
    errors = sum(o["errors"] for o in ops)
    kinds: dict[str, int] = {}
    for o in ops:
        for k, n in o["errors_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + n
    h = histogram.merge(o["histogram"] for o in ops)
    entry: dict[str, Any] = {
        "driver": driver, "loop": loop, "trial": trial, "op": op,
        "requests": requests, "errors": errors, "errors_by_kind": kinds,
        "duration_s": round(duration, 6), "rps": requests / duration if duration else 0.0,
        "latency_us": histogram.percentiles(h), "histogram": histogram.encode(h),
        "workers": len(parts),
    }
    warnings = []
    if target_rps is not None:
        sh = histogram.merge(o["service_histogram"] for o in ops)
        entry["service_histogram"] = histogram.encode(sh)
        entry["service_latency_us"] = histogram.percentiles(sh)
        entry["target_rps"] = target_rps
        if entry["rps"] < RATE_TOLERANCE * target_rps:
            warnings.append(f"could not hold target rate: {entry['rps']:.0f} of "
                            f"{target_rps:.0f} req/s")
        busy = [p.get("cpu_s", 0.0) / p["duration_s"] for p in parts if p["duration_s"]]
        if busy and max(busy) > SATURATED_CPU:
            warnings.append(f"client saturated: a worker used {max(busy):.0%} of a CPU")
    if any(p.get("stopped") for p in parts):
        warnings.append("interrupted: the measured window was cut short")
    if warnings:
        entry["warnings"] = warnings
    return entry


class ResultFile:
    def __init__(self, scenario: dict[str, Any], environment: dict[str, Any]) -> None:
        self.data: dict[str, Any] = {
            "format": FORMAT, "scenario": scenario, "environment": environment,
            "runs": [], "server": [], "warnings": [], "partial": False,
        }

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.data["runs"]

    def warn(self, message: str) -> None:
        self.data["warnings"].append(message)

    def write(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
        return path


def default_path(scenario_name: str, directory: str = "results") -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario_name).strip("-") or "run"
    return Path(directory) / f"{safe}-{stamp}.json"


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ResultError(f"{path}: cannot read a result: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultError(f"{path}: not a {FORMAT} file")
    return data
