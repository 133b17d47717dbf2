"""`loadtnt run` with `drivers: [loadtnt-c]` (the C load loop): worker processes, the result
file and the server's box.stat() cross-check, beside the coroutine path, in closed and open
loop; and the scenario errors for what it does not send. The ops' own behaviour (each op's
counts against the server's, latencies, errors) is tests/test_cloop.py's."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.conftest import read_json, run_loadtnt, write_scenario

pytest.importorskip("loadtnt.worker._cloop", reason="the C load loop is not built")

CLOSED = """
name: cloop
drivers: [loadtnt, loadtnt-c]
loops: [uvloop]
workers: 2
connections: 2
concurrency: 40
warmup: 200ms
duration: 1s
trials: 1
before: prepare(1000)
operations:
  - op: select
    space: tester
    key: {uniform: [1, 1000]}
    weight: 5
  - op: insert
    space: tester
    tuple: [{sequential: 1000001}, {string: 8}]
  - op: update
    space: tester
    key: {uniform: [1, 1000]}
    operations: [["=", 2, {string: 8}]]
  - op: call
    function: func_load
  - op: ping
"""


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("cloop")
    out = tmp / "r.json"
    proc = run_loadtnt("run", write_scenario(tmp, CLOSED), "--out", out, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return {"result": read_json(out), "stderr": proc.stderr, "stdout": proc.stdout}


def test_closed_loop_beside_the_coroutine_path(closed: dict) -> None:
    runs = closed["result"]["runs"]
    by = {(r["driver"], r["op"]): r for r in runs}
    assert {d for d, _ in by} == {"loadtnt", "loadtnt-c"}
    for (driver, op), r in by.items():
        assert r["errors"] == 0 and r["ok"] > 100, (driver, op, r)
        assert r["workers"] == 2
        # what the load generator cost, in every entry
        assert 0 < r["client_cpu"] <= 1.5 and r["client_cpu_per_100k_s"] > 0, r
        # no disagreement with box.stat(): every request the client counted reached the server
        assert not any("disagree" in w for w in r.get("warnings", [])), r["warnings"]
    # the mix's weights hold in C as on the coroutine path (select 5 of 9)
    c_ops = {op: r["ok"] for (d, op), r in by.items() if d == "loadtnt-c"}
    assert 0.45 < c_ops["select"] / sum(c_ops.values()) < 0.65, c_ops
    assert "disagree" not in closed["stderr"]


def test_the_summary_shows_what_the_client_cost(closed: dict) -> None:
    assert "client CPU per 100k requests" in closed["stdout"]


def test_open_loop(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, """
        name: cloop-open
        drivers: [loadtnt-c]
        loops: [asyncio]
        workers: 2
        connections: 1
        concurrency: 20
        warmup: 100ms
        duration: 1s
        rate: 3000
        trials: 1
        operations:
          - op: ping
          - op: call
            function: func_load
        """)
    out = tmp_path / "r.json"
    proc = run_loadtnt("run", path, "--out", out, timeout=120)
    assert proc.returncode == 0, proc.stderr
    runs = read_json(out)["runs"]
    assert {r["op"] for r in runs} == {"ping", "call"}
    scheduled = sum(r["scheduled"] for r in runs)
    assert scheduled == 3000, runs
    assert sum(r["sent"] for r in runs) == sum(r["ok"] for r in runs) == 3000
    for r in runs:
        assert r["latency_kind"] == "corrected" and r["target_rps"] == 1500  # its share
        assert r["dropped"] == 0 and r["errors"] == 0
        assert r["service_latency_us"]["p50"] <= r["latency_us"]["p99"]
        assert not any("disagree" in w for w in r.get("warnings", [])), r["warnings"]


@pytest.mark.parametrize("op, text", [
    ("transaction", "- op: transaction\n    steps:\n      - op: call\n        function: f\n"),
    ("crud.get", "- op: crud.get\n    space: customers\n    key: 1\n"),
])
def test_what_it_does_not_send_is_refused_with_file_and_line(tmp_path: Path, op: str,
                                                             text: str) -> None:
    path = write_scenario(tmp_path, "name: x\ndrivers: [loadtnt-c]\noperations:\n  - op: ping\n"
                          f"  {text}")
    proc = run_loadtnt("run", path, "--out", tmp_path / "r.json")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:5" in proc.stderr and repr(op) in proc.stderr, proc.stderr
    assert "drivers: [loadtnt]" in proc.stderr  # where to measure it instead
    assert not (tmp_path / "r.json").exists()
