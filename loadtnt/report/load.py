"""Read `loadtnt-result/1` files (see RESULT_FORMAT.md) into a small, tolerant model.

Only `format` and `runs` are required; everything else may be missing and the readers degrade
(no chart, a dash in a table). Nothing here imports matplotlib, so compare/check stay light.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "loadtnt-result/1"


class ResultFileError(Exception):
    """A result file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Run:
    """One (server, driver, loop, trial, op) entry of `runs`."""

    driver: str
    loop: str
    trial: int
    op: str
    requests: int
    errors: int
    errors_by_kind: dict[str, int]
    duration_s: float
    rps: float
    latency_us: dict[str, float]
    histogram: str | None
    service_histogram: str | None
    timeline: list[dict[str, Any]]
    warnings: list[str]
    target_rps: float | None = None
    server: str = ""  # the server set-up's name ("" in files from before servers:)
    other_cpu_cores: float | None = None  # CPU used by other processes during the window
    dropped: int = 0  # open loop: scheduled sends that never went out
    step_of: str | None = None  # a transaction's step: the transaction's name

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> Run:
        try:
            driver, loop, op = str(d["driver"]), str(d["loop"]), str(d["op"])
        except KeyError as e:
            raise ResultFileError(f"{where}: missing field {e.args[0]!r}") from None
        errors = d.get("errors", 0)
        by_kind = d.get("errors_by_kind") or {}
        if isinstance(errors, dict):  # tolerate {"total": n, "by_kind": {...}} or {kind: n}
            by_kind = errors.get("by_kind", {k: v for k, v in errors.items() if k != "total"})
            errors = errors.get("total", sum(by_kind.values()))
        requests = int(d.get("requests", 0))
        duration = float(d.get("duration_s") or 0.0)
        rps = d.get("rps")
        if rps is None or ("ok" not in d and int(errors or 0)):
            # successful requests per second (files from before issue 14 counted errors in)
            ok = requests - int(errors or 0)
            rps = ok / duration if duration > 0 else 0.0
        return cls(
            driver=driver,
            loop=loop,
            trial=int(d.get("trial", 1)),
            op=op,
            requests=requests,
            errors=int(errors),
            errors_by_kind={str(k): int(v) for k, v in by_kind.items()},
            duration_s=duration,
            rps=float(rps),
            latency_us={str(k): float(v) for k, v in (d.get("latency_us") or {}).items()
                        if v is not None},
            histogram=d.get("histogram") or None,
            service_histogram=d.get("service_histogram") or None,
            timeline=list(d.get("timeline") or []),
            warnings=[str(w) for w in d.get("warnings") or []],
            target_rps=float(d["target_rps"]) if d.get("target_rps") else None,
            server=str(d.get("server") or ""),
            other_cpu_cores=(float(d["other_cpu_cores"])
                             if d.get("other_cpu_cores") is not None else None),
            dropped=int(d.get("dropped") or 0),
            step_of=str(d["step_of"]) if d.get("step_of") else None,
        )


@dataclass
class Result:
    """One result file: its label (the file stem), raw sections and parsed runs."""

    path: Path
    label: str
    scenario: dict[str, Any]
    environment: dict[str, Any]
    runs: list[Run]
    server: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    partial: bool = False

    @property
    def open_loop(self) -> bool:
        return self.scenario.get("rate") is not None

    def drivers(self) -> list[str]:
        return _ordered((r.driver for r in self.runs), self.scenario.get("drivers"))

    def loops(self) -> list[str]:
        return _ordered((r.loop for r in self.runs), self.scenario.get("loops"))

    def servers(self) -> list[str]:
        """Server set-ups in the order they ran (the scenario's), e.g. ['2.6', '3.8']."""
        s = self.scenario
        named = [x.get("name") for x in s.get("servers") or [] if isinstance(x, dict)]
        if isinstance(s.get("server"), dict) and s["server"].get("name"):
            named.append(s["server"]["name"])
        return _ordered((r.server for r in self.runs), named)

    def ops(self) -> list[str]:
        named = []  # a transaction's steps right after it (their entries `<name>.<step>`)
        for o in self.scenario.get("operations") or []:
            if isinstance(o, dict):
                name = o.get("name") or o.get("op")
                named.append(name)
                named += [f"{name}.{st.get('name') or st.get('op')}" for st in o.get("steps") or []
                          if isinstance(st, dict)]
        return _ordered((r.op for r in self.runs), named)

    def select(self, *, driver: str | None = None, loop: str | None = None,
               op: str | None = None, server: str | None = None) -> list[Run]:
        return [r for r in self.runs
                if (driver is None or r.driver == driver)
                and (loop is None or r.loop == loop)
                and (op is None or r.op == op)
                and (server is None or r.server == server)]

    def run_label(self, run: Run) -> str:
        """``driver/loop/trial N/op``, led by the server set-up when the file has several."""
        head = f"{run.server}/" if len(self.servers()) > 1 else ""
        return f"{head}{run.driver}/{run.loop}/trial {run.trial}/{run.op}"

    def rps_by_trial(self, driver: str, loop: str, op: str,
                     server: str | None = None) -> dict[int, float]:
        return {r.trial: r.rps for r in self.select(driver=driver, loop=loop, op=op,
                                                    server=server)}


def several_servers(results: Sequence[Result]) -> bool:
    """More than one server set-up among the files: series and columns then name theirs."""
    return len({s for r in results for s in r.servers()}) > 1


def series_keys(results: Sequence[Result]) -> list[tuple[Result, str, str]]:
    """Every (file, server, driver) with runs: a driver's series side by side, by server, then
    by file."""
    drivers = list(dict.fromkeys(d for r in results for d in r.drivers()))
    servers = list(dict.fromkeys(s for r in results for s in r.servers()))
    return [(r, srv, d) for d in drivers for srv in servers for r in results
            if r.select(driver=d, server=srv)]


def _ordered(seen: Iterable[str], preferred: Sequence[Any] | None) -> list[str]:
    """Names in the scenario's order first, then any others in order of appearance."""
    present = list(dict.fromkeys(seen))
    order = [str(p) for p in preferred or [] if str(p) in present]
    return list(dict.fromkeys(order + present))


def parse_result(data: Any, path: Path | str, label: str | None = None) -> Result:
    path = Path(path)
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: not a loadtnt result (expected a JSON object)")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise ResultFileError(f"{path}: format is {fmt!r}, expected {FORMAT!r}")
    raw_runs = data.get("runs")
    if not isinstance(raw_runs, list):
        raise ResultFileError(f"{path}: 'runs' is missing or not a list")
    runs = [Run.from_json(r, f"{path}: runs[{i}]") for i, r in enumerate(raw_runs)]
    server = data.get("server") or []
    return Result(
        path=path,
        label=label or path.stem,
        scenario=dict(data.get("scenario") or {}),
        environment=dict(data.get("environment") or {}),
        runs=runs,
        server=list(server) if isinstance(server, list) else [],
        warnings=[str(w) for w in data.get("warnings") or []],
        partial=bool(data.get("partial", False)),
    )


def load_result(path: Path | str, label: str | None = None) -> Result:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ResultFileError(f"{path}: cannot read: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ResultFileError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}") from None
    return parse_result(data, path, label)


def load_results(paths: Sequence[Path | str]) -> list[Result]:
    """Load several files; labels are the file stems, made unique when two stems collide."""
    results = [load_result(p) for p in paths]
    seen: dict[str, int] = {}
    for r in results:
        n = seen.get(r.label, 0)
        seen[r.label] = n + 1
        if n:
            r.label = f"{r.label} ({n + 1})"
    return results


def median(values: Iterable[float]) -> float:
    vals = list(values)
    return statistics.median(vals) if vals else float("nan")
