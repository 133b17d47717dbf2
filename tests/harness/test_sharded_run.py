"""The harness's embedded sharded cluster (issue 23 §1): ``server: {sharded: {...}}`` starts a
loadtnt.server.ShardedCluster for the run (a config.yaml on 3.x, vshard.cfg on 2.6), and the
built-in scenario ``sharded`` (YCSB workload B over crud) on the 3.x server of ../shared.

Each test's run starts its own cluster (the harness starts one per trial, as it does every
embedded server): small shapes and sub-second windows keep them short.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.harness.conftest import ROOT, read_json, run_loadtnt, write_scenario

T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(ROOT.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"))
HAS_38 = os.access(T38, os.X_OK)


def _binary(version: str) -> str:
    if version == "2.6":
        return "tarantool"
    if not HAS_38:
        pytest.skip(f"Tarantool 3.8 is not at {T38}: the 3.8 half of this test needs it")
    return T38


SCENARIO = """
drivers: [loadtnt, aiotarantool]
loops: [uvloop]
workers: 1
concurrency: 30
warmup: 0.2s
duration: 0.8s
before: "local crud = require('crud') for i = 1, 500 do crud.replace('customers', {{i, box.NULL, 'n', 20}}) end"
server:
  binary: {binary}
  sharded: {{shards: 2, replicas: 1, routers: 2, bucket_count: 200}}
operations:
  - {{op: crud.get, space: customers, key: {{uniform: [1, 500]}}, weight: 9}}
  - {{op: crud.upsert, space: customers, tuple: [{{uniform: [1, 1000]}}, null, 'u', 1], operations: [['+', 'age', 1]]}}
"""


@pytest.mark.parametrize("version", ["2.6", "3.8"])
def test_embedded_sharded_cluster(tmp_path: Path, version: str) -> None:
    binary = _binary(version)
    path = write_scenario(tmp_path, SCENARIO.format(binary=binary))
    out = tmp_path / "emb.json"
    r = run_loadtnt("run", path, "--out", out, "--verbose", timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    # aiotarantool is skipped with one line naming why (installed or not: no crud API first)
    (why,) = [ln for ln in r.stderr.splitlines() if "aiotarantool: skipped" in ln]
    assert "crud" in why
    how = "config.yaml" if version == "3.8" else "vshard.cfg"
    assert re.search(rf"embedded sharded cluster \(2 x 1 \+ 2 routers, {how}\)", r.stderr), \
        r.stderr
    res = read_json(out)
    runs = {e["op"]: e for e in res["runs"]}
    assert set(runs) == {"crud.get", "crud.upsert"}
    assert all(e["errors"] == 0 and e["requests"] > 10 for e in runs.values()), runs
    (window,) = res["server"]
    total = sum(e["requests"] for e in runs.values())
    assert sum(d["delta"]["CALL"] for d in window["routers"].values()) == total
    assert window["harness_calls"] == total
    assert list(window["storages"]) == ["storage-1-a", "storage-2-a"]
    assert sum(s["buckets"] for s in window["storages"].values()) == 200
    assert all(s["buckets"] > 0 for s in window["storages"].values())
    assert sum(s["rows_before"] for s in window["storages"].values()) >= 500
    env = res["environment"]["servers"]["embedded"]
    assert env["version"].startswith(version)
    assert set(env["sharded"]["storages"]) == {"storage-1-a", "storage-2-a"}
    assert res["scenario"]["servers"][0]["sharded"] == {
        "shards": 2, "replicas": 1, "routers": 2, "bucket_count": 200, "schema": None}
    assert "equal)" in r.stdout
    # the client-versus-cluster CPU line: the workers' CPU beside the routers' and storages'
    assert window["client_cpu_s"] > 0
    assert re.search(r"CPU, cores: client \(workers\) [\d.]+, routers [\d.]+, storages "
                     r"[\d.]+", r.stdout), r.stdout


def test_builtin_sharded_scenario_on_3x(tmp_path: Path) -> None:
    """``loadtnt run sharded``: YCSB B's shape (95% get / 5% update, zipfian) on 2 x 2 + 2
    routers of the 3.x server, its load phase first; shortened here."""
    if not HAS_38:
        pytest.skip(f"the built-in scenario `sharded` runs on Tarantool 3.x: 3.8 is not at {T38}")
    out = tmp_path / "sharded.json"
    r = run_loadtnt("run", "sharded", "--duration", "1s", "--warmup", "0.3s", "--out", out,
                    timeout=300, env={"LOADTNT_TARANTOOL_3": T38})
    assert r.returncode == 0, r.stdout + r.stderr
    res = read_json(out)
    runs = {e["op"]: e for e in res["runs"]}
    assert set(runs) == {"read", "update"}
    assert all(e["errors"] == 0 for e in runs.values()), runs
    share = runs["update"]["requests"] / sum(e["requests"] for e in runs.values())
    assert 0.02 < share < 0.09, share  # 5% updates
    (window,) = res["server"]
    assert len(window["storages"]) == 4 and len(window["routers"]) == 2
    masters = [window["storages"][f"storage-{s}-a"] for s in (1, 2)]
    assert sum(m["rows"] for m in masters) == 100_000  # the load phase wrote every record
    assert sum(m["buckets"] for m in masters) == 3000
    assert sum(d["delta"]["CALL"] for d in window["routers"].values()) == \
        sum(e["requests"] for e in runs.values()) == window["harness_calls"]
    assert res["environment"]["servers"]["3.x"]["version"].startswith("3.")


def test_builtin_sharded_scenario_without_3x_says_what_to_set(tmp_path: Path) -> None:
    """Where there is no 3.x server the set-up is skipped and the run says what to set."""
    env = {"LOADTNT_TARANTOOL_3": str(tmp_path / "no-tarantool")}
    r = run_loadtnt("run", "sharded", "--out", tmp_path / "x.json", timeout=60, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "LOADTNT_TARANTOOL_3" in r.stderr and "skipped (optional)" in r.stderr, r.stderr
    assert not (tmp_path / "x.json").exists()
