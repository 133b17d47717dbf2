"""The harness over a replica set (issue 9, item 7): ``server: {replicas: N}`` (embedded) and
``server: {uris: [...]}`` / ``--server a,b`` (running), loaded through the pool, ops with a
``mode``, box.stat taken from every instance.

Real instances replicating over loopback: Debian's Tarantool (roles polled, 2.6), and 3.8 from
../shared when it is there (roles watched through box.status).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from loadtnt.server.embedded import bench_lua
from loadtnt.server.replicaset import ReplicaSet
from tests.harness.conftest import ROOT, read_json, run_loadtnt, write_scenario

T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(ROOT.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"))
BINARIES = ["tarantool"] + ([T38] if os.access(T38, os.X_OK) else [])

MIXED = """
drivers: [loadtnt]
loops: [uvloop]
workers: 2
concurrency: 40
warmup: 0.3s
duration: 1.5s
before: prepare(1000)
operations:
  - op: replace                      # a write: the master (RW), the pool's default for writes
    space: tester
    tuple: [{{uniform: [1, 1000]}}, {{string: 8}}]
  - op: select                       # reads sent to the replica only
    name: read_ro
    mode: ro
    space: tester
    key: {{uniform: [1, 1000]}}
  - op: ping                         # anywhere, round robin
    mode: any
{server}
"""


def _window(res: dict[str, Any]) -> dict[str, Any]:
    (window,) = res["server"]
    return window


def _check_counts(res: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Every instance's REQUESTS adds up to the harness's count, and no warnings."""
    runs = {e["op"]: e for e in res["runs"]}
    assert set(runs) == {"replace", "read_ro", "ping"}, runs
    for e in runs.values():
        assert e["errors"] == 0, e["errors_by_kind"]
        assert e["requests"] > 100
        assert not [w for w in e.get("warnings", []) if "disagree" in w], e["warnings"]
    instances = _window(res)["instances"]
    assert len(instances) == 2
    total = sum(e["requests"] for e in runs.values())
    assert sum(d["REQUESTS"] for d in instances.values()) == total
    assert _window(res)["delta"]["REQUESTS"] == total
    return instances


@pytest.mark.parametrize("binary", BINARIES, ids=lambda b: "3.8" if b == T38 else "2.6")
def test_embedded_replica_set_through_the_pool(tmp_path: Path, binary: str) -> None:
    server = f"server: {{replicas: 2, binary: {binary}}}"
    path = write_scenario(tmp_path, MIXED.format(server=server))
    out = tmp_path / "rs.json"
    r = run_loadtnt("run", path, "--out", out, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    res = read_json(out)
    instances = _check_counts(res)
    # the summary says it too: each instance's count, their sum, the harness's
    assert re.search(r"box\.stat requests \S+ [\d,]+ \+ \S+ [\d,]+ = ([\d,]+) "
                     r"\(the harness counted \1\)", r.stdout), r.stdout
    master, replica = instances.values()  # member 0 is the master
    runs = {e["op"]: e for e in res["runs"]}
    # the writes all went to the master; the replica applied them as replicated rows
    assert master["REPLACE"] == runs["replace"]["requests"]
    # mode ro: every select on the replica, none on the master
    assert replica["SELECT"] == runs["read_ro"]["requests"] and master.get("SELECT", 0) == 0
    # mode any: the pings reached both instances (each one's REQUESTS beyond its other
    # requests). The pool's default balancer, least outstanding, sends each to the instance
    # with fewer requests in flight, and the master carries the writes too: the split
    # follows the load (23/77 seen on a CI run), not turns
    pings = [d["REQUESTS"] - d.get("REPLACE", 0) * (i == 0) - d.get("SELECT", 0)
             for i, d in enumerate(instances.values())]
    assert sum(pings) == runs["ping"]["requests"], pings
    assert min(pings) > 0.05 * runs["ping"]["requests"], pings
    env = res["environment"]["servers"]["embedded"]
    assert env["instances"] == list(instances)
    assert res["scenario"]["servers"][0]["replicas"] == 2


def test_running_replica_set_by_uris_and_drivers_without_a_pool_skipped(tmp_path: Path) -> None:
    with ReplicaSet(2, init_script=bench_lua(), lua="") as rs:
        a, b = rs.endpoints
        path = write_scenario(tmp_path, MIXED.format(server="").replace(
            "drivers: [loadtnt]", "drivers: [loadtnt, asynctnt]"))
        out = tmp_path / "uris.json"
        r = run_loadtnt("run", path, "--server", f"{a},{b}", "--out", out, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        res = read_json(out)
        assert "asynctnt has no connection pool" in r.stderr
        assert {e["driver"] for e in res["runs"]} == {"loadtnt"}
        _check_counts(res)
        assert res["scenario"]["server"]["uris"] == [a, b]


def test_a_mode_needs_several_instances(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, MIXED.format(server=""))
    r = run_loadtnt("run", path, "--out", tmp_path / "x.json")
    assert r.returncode == 2
    assert "operations[1].mode: a mode picks among the instances of a replica set" in r.stderr
    assert not (tmp_path / "x.json").exists()
