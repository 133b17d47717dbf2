"""`loadtnt history export --format gbench|otava-csv|influx`: the history for other tools.

- ``gbench``: Google Benchmark JSON as Tarantool's ``perf/lua/benchmark.lua`` writes it: an
  object with ``context`` (``build_flags``, ``build_target``, ``date``, ``host_name``,
  ``load_avg``, ``tarantool_version``: the fields that file's ``perf_context()`` fills) and
  ``benchmarks``, each with ``name``, ``real_time``, ``cpu_time``, ``iterations`` and
  ``items_per_second`` (its ``add_result()``). One document per run would be what the tool
  writes; the export is that of the newest run (``--run N`` picks another), one benchmark per
  row and trial, ``name`` = ``<row>/trial:<n>``. ``real_time`` is the measured window in
  seconds (requests / rps), ``iterations`` the successful requests, ``items_per_second`` their
  rate floored; ``cpu_time`` the same window (the client's CPU is not in a result file).
- ``otava-csv``: the newest run's machine's runs (all machines with ``--any-machine``), one
  line per run, columns ``time`` (ISO 8601), ``commit``, ``run``,
  ``machine`` and one per row and metric (``<row id> <row name> rps``: the mean over trials, the value change points are found on),
  empty where a run lacks the row; ``--otava-config FILE`` writes the matching Otava
  configuration (a ``csv`` test with each metric's direction), so that ``otava analyze loadtnt
  --config-file FILE`` runs on it.
- ``influx``: InfluxDB line protocol, one line per row and run:
  ``loadtnt,scenario=..,server=..,driver=..,loop=..,op=..,machine=.. rps=..,p50_us=..,
  p99_us=..,p999_us=..,trials=..i,run=..i,commit="..." <ns timestamp>``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sqlite3
import statistics
from datetime import datetime, timezone
from typing import Any

from loadtnt.history.store import METRICS, Row, RunInfo, rows, runs

GBENCH_CONTEXT = ("build_flags", "build_target", "date", "host_name", "load_avg",
                  "tarantool_version")
GBENCH_FIELDS = ("name", "real_time", "cpu_time", "iterations", "items_per_second")


def _time(run: RunInfo) -> datetime:
    for text in (run.started_at, run.added_at):
        if text:
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                continue
    return datetime.fromtimestamp(0, timezone.utc)


def gbench(db: sqlite3.Connection, run_id: int | None = None) -> str:
    all_runs = runs(db)
    if not all_runs:
        return json.dumps({"benchmarks": [], "context": {}})
    run = next((r for r in all_runs if r.id == run_id), None) if run_id else all_runs[-1]
    if run is None:
        raise KeyError(run_id)
    names = {s[0]: s[1:] for s in db.execute(
        "SELECT id, scenario, server, driver, loop, op FROM series")}
    benchmarks = []
    for sid, trial, rps, requests, errors in db.execute(
            "SELECT series_id, trial, rps, requests, errors FROM trials WHERE run_id = ? "
            "ORDER BY series_id, trial", (run.id,)):
        scenario, server, driver, loop, op = names[sid]
        ok = requests - errors
        real = ok / rps if rps else 0.0
        benchmarks.append({
            "name": f"{scenario}/{server + '/' if server else ''}{driver}/{loop}/{op}"
                    f"/trial:{trial}",
            "real_time": real, "cpu_time": real, "iterations": ok,
            "items_per_second": math.floor(rps)})
    when = _time(run)
    context: dict[str, Any] = {"build_flags": "", "build_target": run.machine,
               "date": when.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "host_name": run.machine, "load_avg": [],
               "tarantool_version": run.versions.get("tarantool") or ""}
    if run.busy_cores is not None:
        context["load_avg"] = [f"{run.busy_cores:.2f}"]
    context.update({"loadtnt_run": run.id, "commit": run.commit or ""})
    return json.dumps({"benchmarks": benchmarks, "context": context}, indent=2)


def _metric_columns(all_rows: list[Row], metric: str) -> list[tuple[str, Row]]:
    return [(f"{r.key} {r.name} {metric}".replace(",", ";"), r) for r in all_rows]


def otava_csv(db: sqlite3.Connection, metrics: tuple[str, ...] = ("rps",), *,
              any_machine: bool = False) -> tuple[str, dict[str, Any]]:
    """(the CSV text, the Otava test configuration for it as a dict)."""
    cols: list[tuple[str, str, Row]] = []
    all_runs = runs(db)
    # one machine's history (the newest run's), as everywhere else, unless any_machine: a row
    # on two machines would be two columns with a gap in every line, which otava refuses
    machine = None if any_machine or not all_runs else all_runs[-1].machine
    for m in metrics:
        cols += [(name, m, r) for name, r in _metric_columns(
            rows(db, m, any_machine=any_machine, machine=machine), m)]
    by_run: dict[int, dict[str, float]] = {}
    for name, _m, r in cols:
        for p in r.points:
            by_run.setdefault(p.run.id, {})[name] = statistics.fmean(p.values)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time", "commit", "run", "machine", *(c[0] for c in cols)])
    for run in all_runs:
        if run.id not in by_run:
            continue
        values = by_run[run.id]
        w.writerow([_time(run).strftime("%Y-%m-%d %H:%M:%S +0000"), run.commit or "", run.id,
                    run.machine, *(f"{values[c[0]]:.6g}" if c[0] in values else ""
                                   for c in cols)])
    config = {"tests": {"loadtnt": {
        "type": "csv", "file": "history.csv", "time_column": "time",
        "attributes": ["commit", "run", "machine"],
        "metrics": {re.sub(r"\W+", "_", f"row{r.key}_{m}"): {
            "column": name, "direction": -1 if m in ("p50", "p99", "p99.9") else 1}
            for name, m, r in cols}}}}
    return buf.getvalue(), config


def _tag(value: str) -> str:
    out = value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    return out or "none"


def influx(db: sqlite3.Connection, *, any_machine: bool = False) -> str:
    lines = []
    per_metric = {m: {(r.id, r.machine): r for r in rows(db, m, any_machine=any_machine)}
                  for m in METRICS}
    for key, row in per_metric["rps"].items():
        for p in row.points:
            fields = {"rps": statistics.fmean(p.values)}
            for m, col in (("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us")):
                other = per_metric[m].get(key)
                pt = next((q for q in other.points if q.run.id == p.run.id), None) if other \
                    else None
                if pt is not None:
                    fields[col] = statistics.fmean(pt.values)
            tags = {"scenario": row.scenario, "server": row.server or "default",
                    "driver": row.driver, "loop": row.loop, "op": row.op,
                    "machine": p.run.machine}
            f = ",".join(f"{k}={v:.6g}" for k, v in fields.items())
            f += f",trials={len(p.values)}i,run={p.run.id}i"
            if p.run.commit:
                f += ',commit="' + p.run.commit.replace('"', '\\"') + '"'
            ts = int(_time(p.run).timestamp() * 1e9)
            lines.append("loadtnt," + ",".join(f"{k}={_tag(v)}" for k, v in tags.items())
                         + f" {f} {ts}")
    return "\n".join(lines) + ("\n" if lines else "")
