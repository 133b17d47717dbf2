"""The harness on an existing sharded cluster (issue 23 §1): ``server: {config: FILE.yaml,
routers: {...}}``, crud ops through the routers, per-router and per-storage box.stat, CPU,
buckets and rows in the result, the routers' CALL count equal to the harness's, the pre-flight
check of crud ops, and the per-storage chart of the report.

One real cluster per Tarantool version for the whole module (loadtnt.server.ShardedCluster,
2 replica sets x 2 + 2 routers). On 3.8 the cluster is the one its generated config.yaml
describes; on 2.6 (the classic vshard.cfg) the test writes a config.yaml that describes the same
instances, which is all ``server.config`` reads (addresses, sharding roles, credentials).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from loadtnt.server import ShardedCluster
from tests.harness.conftest import ROOT, read_json, run_loadtnt, unread_keys, write_scenario

T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(ROOT.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"))
VERSIONS = ["2.6", "3.8"]


def _binary(version: str) -> str:
    if version == "2.6":
        return "tarantool"
    if not os.access(T38, os.X_OK):
        pytest.skip(f"Tarantool 3.8 is not at {T38}: the 3.8 half of this test needs it")
    return T38


def _classic_config(cluster: ShardedCluster, path: Path) -> str:
    """A 3.x-style config.yaml naming the classic cluster's instances (what from_config reads)."""
    listen = {n: {"iproto": {"listen": [{"uri": cluster.endpoint(n)}]}} for n in cluster.names}
    config = {
        "credentials": {"users": {cluster.username: {"password": cluster.password}}},
        "groups": {
            "storages": {"sharding": {"roles": ["storage"]}, "replicasets": {
                f"storages-{s + 1}": {"instances": {n: listen[n] for n in rs}}
                for s, rs in enumerate(cluster.storage_names)}},
            "routers": {"sharding": {"roles": ["router"]}, "replicasets": {
                f"routers-{i + 1}": {"instances": {n: listen[n]}}
                for i, n in enumerate(cluster.router_names)}},
        },
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module", params=VERSIONS)
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ShardedCluster, str]]:
    """(the cluster, its config.yaml) on each version, started once for the module."""
    binary = _binary(request.param)
    with ShardedCluster(shards=2, replicas=2, routers=2, bucket_count=3000,
                        binary=binary) as c:
        config = c.config_path or _classic_config(
            c, tmp_path_factory.mktemp("classic") / "config.yaml")
        yield c, config


@pytest.fixture
def fresh(cluster: tuple[ShardedCluster, str]) -> tuple[ShardedCluster, str]:
    c, config = cluster
    for master in c.masters:
        c.eval(master, "box.space.customers:truncate()")
    return c, config


MIX = """
drivers: [loadtnt, asynctnt]
loops: [uvloop]
workers: 2
concurrency: 40
warmup: 0.3s
duration: 1.5s
before: "local crud = require('crud') for i = 1, 2000 do crud.replace('customers', {{i, box.NULL, 'n', 30}}) end"
server:
  config: {config}
  user: loadtnt                   # the password: from the config's credentials
operations:
  - {{op: crud.get, space: customers, key: {{zipf: [1, 2000, 0.99]}}, weight: 6}}
  - {{op: crud.update, space: customers, key: {{uniform: [1, 2000]}}, operations: [['=', 'name', {{string: 8}}]]}}
  - op: crud.insert_object
    space: customers
    object: {{id: {{sequential: 100000}}, name: x, age: {{uniform: [18, 90]}}}}
  - {{op: crud.select, space: customers, conditions: [['>=', 'age', {{uniform: [18, 90]}}]], first: 5}}
"""


def _no_password(c: ShardedCluster, *texts: str) -> None:
    for text in texts:
        assert c.password not in text


def test_crud_mix_routers_calls_equal_the_harness_count(fresh: tuple[ShardedCluster, str],
                                                        tmp_path: Path) -> None:
    c, config = fresh
    path = write_scenario(tmp_path, MIX.format(config=config))
    out = tmp_path / "mix.json"
    r = run_loadtnt("run", path, "--out", out, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    # asynctnt skipped, in one line saying why
    (why,) = [ln for ln in r.stderr.splitlines() if "asynctnt: skipped" in ln]
    assert "no crud API" in why
    res = read_json(out)
    _no_password(c, out.read_text(), r.stdout, r.stderr)
    runs = {e["op"]: e for e in res["runs"]}
    assert set(runs) == {"crud.get", "crud.update", "crud.insert_object", "crud.select"}
    assert {e["driver"] for e in res["runs"]} == {"loadtnt"}
    for e in runs.values():
        assert e["errors"] == 0, e["errors_by_kind"]
        assert e["requests"] > 20
        assert not [w for w in e.get("warnings", []) if "disagree" in w], e["warnings"]
    (window,) = res["server"]
    total = sum(e["requests"] for e in runs.values())
    # every crud op is one CALL on a router: their sum is exactly the harness's count
    calls = [d["delta"]["CALL"] for d in window["routers"].values()]
    assert sum(calls) == total == window["harness_calls"] == window["delta"]["REQUESTS"]
    assert set(window["routers"]) == set(c.router_names)
    assert all(n > 0.3 * total / 2 for n in calls), calls  # the pool took turns
    storages = window["storages"]
    assert set(storages) == {n for rs in c.storage_names for n in rs}
    masters = [storages[rs[0]] for rs in c.storage_names]
    assert sum(m["buckets"] for m in masters) == c.bucket_count
    assert all(s["buckets"] == s["buckets_before"] for s in storages.values())
    # the rows the window's inserts added, exactly (the warm-up's were there before it)
    assert sum(m["rows"] - m["rows_before"] for m in masters) == \
        runs["crud.insert_object"]["ok"]
    assert sum(m["rows_before"] for m in masters) >= 2000
    for rs in c.storage_names:  # the replicas hold the rows too (replicated)
        assert storages[rs[1]]["spaces"]["customers"] == storages[rs[0]]["spaces"]["customers"]
    # the storages did the work: their CALLs (crud's storage functions) cover the load
    assert sum(s["delta"]["CALL"] for s in storages.values()) >= total
    for node in (*window["routers"].values(), *storages.values()):
        assert node["cpu_s"] >= 0
    assert sum(n["cpu_s"] for n in window["routers"].values()) > 0
    env = res["environment"]["servers"]["sharded"]
    assert env["sharded"]["routers"] == {n: c.endpoint(n) for n in c.router_names}
    assert res["scenario"]["server"]["config"] == config
    # the summary: the routers' CALLs against the harness's count, a row per instance
    m = re.search(r"routers' CALL router-1 ([\d,]+) \+ router-2 ([\d,]+) = ([\d,]+) \(the "
                  r"harness's crud and call requests: ([\d,]+), equal\)", r.stdout)
    assert m and m.group(3) == m.group(4) == f"{total:,}", r.stdout
    for name in storages:
        assert re.search(rf"^  {name} +[\d,]+ +[\d,]+ +[\d.]+ +[\d,]+ +[\d,]+$", r.stdout,
                         re.MULTILINE), r.stdout
    # the report draws the load per storage
    rep = run_loadtnt("report", out, "--out", tmp_path / "rep", timeout=180)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert (tmp_path / "rep" / "storages.png").stat().st_size > 10_000
    assert "data-chart='storages'" in (tmp_path / "rep" / "report.html").read_text()


def test_routers_by_filter_user_and_password(fresh: tuple[ShardedCluster, str],
                                             tmp_path: Path) -> None:
    """routers: one router by name; the user and password given (the password in no output)."""
    c, config = fresh
    text = MIX.format(config=config).replace(
        "  user: loadtnt ",
        f"  routers: {{instances: router-2}}\n  user: {c.username}\n"
        f"  password: {c.password} ").replace("drivers: [loadtnt, asynctnt]", "drivers: [loadtnt]")
    path = write_scenario(tmp_path, text)
    out = tmp_path / "one.json"
    r = run_loadtnt("run", path, "--out", out, "--duration", "0.5s", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    res = read_json(out)
    _no_password(c, json.dumps(res), r.stdout, r.stderr)
    (window,) = res["server"]
    assert list(window["routers"]) == ["router-2"]
    total = sum(e["requests"] for e in res["runs"])
    assert window["routers"]["router-2"]["delta"]["CALL"] == total == window["harness_calls"]
    assert res["scenario"]["server"]["routers"] == {"instances": ["router-2"]}
    assert "password" not in res["scenario"]["server"]


def test_preflight_checks_crud_ops_on_the_routers(fresh: tuple[ShardedCluster, str],
                                                  tmp_path: Path) -> None:
    c, config = fresh
    path = write_scenario(tmp_path, f"""
        drivers: [loadtnt]
        duration: 0.5s
        server: {{config: {config}, user: loadtnt}}
        operations:
          - {{op: crud.get, space: nope, key: 1}}
          - {{op: crud.update, space: customers, key: 1, operations: [['=', 'nam', 'x']]}}
          - {{op: crud.select, space: customers, conditions: [['>=', 'age_index', 3]]}}
          - {{op: crud.min, space: customers, index: nope}}
        """)
    r = run_loadtnt("run", path, "--out", tmp_path / "x.json", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr
    assert re.search(r"s\.yaml:5: operations\[0\] \(crud\.get\): space 'nope' is not in crud's "
                     r"schema: Space \"nope\" doesn't exist", err), err
    assert re.search(r"s\.yaml:6: operations\[1\] \(crud\.update\): space 'customers' has no "
                     r"field 'nam'", err), err
    assert "operations[2]" not in err  # an index name in a condition is fine
    assert re.search(r"s\.yaml:8: operations\[3\] \(crud\.min\): space 'customers' has no "
                     r"index 'nope'", err), err
    assert not (tmp_path / "x.json").exists()
    _no_password(c, r.stdout, err)


def test_crud_errors_are_counted_by_class(fresh: tuple[ShardedCluster, str],
                                          tmp_path: Path) -> None:
    """A duplicate key is crud's InsertError: counted as crud:InsertError, still one CALL."""
    _, config = fresh
    path = write_scenario(tmp_path, f"""
        drivers: [loadtnt]
        warmup: 0
        duration: 0.5s
        concurrency: 10
        before: "require('crud').replace('customers', {{1, box.NULL, 'a', 1}})"
        server: {{config: {config}, user: loadtnt}}
        operations:
          - {{op: crud.insert, space: customers, tuple: [1, null, 'b', 2]}}
          - {{op: crud.get, space: customers, key: 1, fields: [id, name], mode: read}}
        """)
    out = tmp_path / "err.json"
    r = run_loadtnt("run", path, "--out", out, timeout=120)
    assert r.returncode == 4, r.stdout + r.stderr  # every insert failed
    res = read_json(out)
    runs = {e["op"]: e for e in res["runs"]}
    ins = runs["crud.insert"]
    assert ins["errors"] == ins["requests"] > 0
    assert list(ins["errors_by_kind"]) == ["crud:InsertError"]
    assert "Duplicate key" in ins["error_messages"]["crud:InsertError"]
    assert runs["crud.get"]["errors"] == 0
    (window,) = res["server"]
    assert sum(d["delta"]["CALL"] for d in window["routers"].values()) == \
        ins["requests"] + runs["crud.get"]["requests"]


def test_bad_config_or_filter_is_an_error_at_its_line(tmp_path: Path,
                                                      fresh: tuple[ShardedCluster, str]) -> None:
    c, config = fresh
    for server, line, what in [
        (f"{{config: {config}, routers: {{instances: router-9}}}}", 3,
         "server.routers: ConfigError: the cluster config has no instances router-9"),
        (f"{{config: {config}, routers: {{flavour: x}}}}", 3,
         "server.routers.flavour: unknown filter"),
        ("{config: nowhere.yaml}", 3, "server.config: no such file"),
        ("{routers: {groups: routers}}", 3, "server.config: missing"),
    ]:
        path = write_scenario(tmp_path, f"""
            drivers: [loadtnt]
            server: {server}
            operations:
              - {{op: crud.get, space: customers, key: 1}}
            """)
        r = run_loadtnt("run", path, "--out", tmp_path / "x.json", timeout=60)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"s.yaml:{line - 1}: {what}" in r.stderr or f"s.yaml:{line}: {what}" in \
            r.stderr, r.stderr
        _no_password(c, r.stderr)


def test_crud_ops_validated_with_file_and_line(tmp_path: Path) -> None:
    """No cluster needed: the parser's checks of crud ops and sharded set-ups."""
    from loadtnt.scenario import parse
    from loadtnt.scenario.model import ScenarioError

    head = "drivers: [loadtnt]\nserver: {sharded: {shards: 2}}\noperations:\n"
    cases = [
        ("  - {op: crud.get, space: customers}\n", "s.yaml:4: operations[0].key: missing"),
        ("  - {op: crud.get, space: customers, key: 1, mode: rw}\n",
         "s.yaml:4: operations[0].mode: unknown crud mode 'rw'"),
        ("  - {op: crud.get, space: customers, key: 1, first: 3}\n",
         "s.yaml:4: operations[0].first: unknown key for op 'crud.get'"),
        ("  - {op: crud.select, space: {uniform: [1, 2]}}\n",
         "s.yaml:4: operations[0].space: must be a constant"),
    ]
    for text, message in cases:
        with pytest.raises(ScenarioError) as e:
            parse.loads(head + text, path="s.yaml")
        assert message in str(e.value), str(e.value)
    for server, message in [
        ("{sharded: {shards: 0}}", "s.yaml:2: server.sharded.shards: expected an integer"),
        ("{sharded: {shard: 2}}", "s.yaml:2: server.sharded.shard: unknown key"),
        ("{sharded: {schema: none.lua}}", "s.yaml:2: server.sharded.schema: no such file"),
        ("{sharded: {}, replicas: 2}", "s.yaml:2: server.replicas: a sharded cluster has no"),
    ]:
        with pytest.raises(ScenarioError) as e:
            parse.loads(head.replace("{sharded: {shards: 2}}", server)
                        + "  - {op: crud.len, space: customers}\n", path="s.yaml")
        assert message in str(e.value), str(e.value)
    # generators anywhere in crud's arguments and options
    sc = parse.loads(head + "  - {op: crud.select, space: customers, conditions: [['>=', "
                     "'age', {uniform: [18, 90]}]], first: {uniform: [1, 5]}}\n"
                     "  - {op: crud.upsert_object_many, space: customers, objects: [[{id: "
                     "{sequential: 1}, name: x, age: 3}, [['+', 'age', 1]]]]}\n", path="s.yaml")
    assert sc.sharded and [op.op for op in sc.operations] == ["crud.select",
                                                              "crud.upsert_object_many"]


KILL = """
drivers: [loadtnt]
loops: [uvloop]
workers: 1
concurrency: 300
warmup: 0
duration: 3s
before: "local crud = require('crud') for i = 1, 2000 do crud.replace('customers', {{i, box.NULL, 'n', 30}}) end"
server:
  config: {config}
  user: loadtnt
operations:
  - {{op: crud.get, space: customers, key: {{uniform: [1, 2000]}}, weight: 8}}
  - {{op: crud.update, space: customers, key: {{uniform: [1, 2000]}}, operations: [['+', 'age', 1]]}}
  - {{op: crud.insert_object, space: customers, object: {{id: {{sequential: 100000}}, name: x, age: 1}}}}
"""


def test_a_router_killed_under_load(fresh: tuple[ShardedCluster, str], tmp_path: Path) -> None:
    """§2.1: router-2 SIGKILLed under 300 coroutines of mixed crud, restarted 0.8 s later.
    Only the requests in flight on it fail (disconnect); the rest go on through router-1 (no
    second without successes); the restarted router is taken back (its new process served
    requests in the window)."""
    import subprocess
    import threading
    import time

    from tests.harness.conftest import loadtnt_cmd

    c, config = fresh
    path = write_scenario(tmp_path, KILL.format(config=config))
    out = tmp_path / "kill.json"
    proc = subprocess.Popen(loadtnt_cmd("run", path, "--out", out), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    times: dict[str, float] = {}

    def fault() -> None:
        calls = "return box.stat().CALL.total"
        base = c.eval("router-2", calls)[0]
        deadline = time.monotonic() + 60
        while c.eval("router-2", calls)[0] < base + 3000 and time.monotonic() < deadline:
            time.sleep(0.02)  # until the load has gone on for a while (the window started)
        times["kill"] = time.time()
        c.kill("router-2")
        time.sleep(0.8)
        c.restart("router-2")  # back on its port; returns once it sees every bucket
        times["back"] = time.time()

    t = threading.Thread(target=fault)
    t.start()
    try:
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        t.join(timeout=120)
        if not c.is_running("router-2"):
            c.restart("router-2")
    assert proc.returncode == 0, stdout + stderr
    assert "kill" in times and "back" in times, times
    res = read_json(out)
    runs = {e["op"]: e for e in res["runs"]}
    kinds: dict[str, int] = {}
    for e in runs.values():
        for k, n in e["errors_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + n
    # 3.x: a restarted router listens, and says it is writable, before its roles are applied
    # (config.info status 'startup_in_progress'); the pool takes it back only after that, so
    # no request meets crud's functions missing (ER_NO_SUCH_PROC, db:33) - before the pool
    # followed config.info, 2,400-3,800 of ~60,000 did
    assert set(kinds) <= {"disconnect"}, [e["error_messages"] for e in runs.values()]
    failed = kinds.get("disconnect", 0)
    assert 0 < failed <= 300, failed  # at most the requests in flight (300 coroutines)
    total = sum(e["requests"] for e in runs.values())
    assert failed < 0.05 * total
    # the rest went on: successes in every second of the window, the kill's too
    for e in runs.values():
        seconds = [p for p in e["timeline"] if p["t_s"] >= 0]
        assert all(p["requests"] > p["errors"] for p in seconds), (e["op"], seconds)
    (window,) = res["server"]
    r2 = window["routers"]["router-2"]
    assert r2.get("restarted") is True, window["routers"]
    assert r2["delta"]["CALL"] > 0  # taken back after its restart
    assert "router-2 (restarted)" in stdout
    assert "restarted or down in the window: router-2" in stdout
    print(f"router-2 back {times['back'] - times['kill']:.2f} s after its kill; {failed} of "
          f"{total:,} requests failed in flight; its new process served "
          f"{r2['delta']['CALL']:,} calls")


def test_a_master_switch_under_load_loses_no_acknowledged_write(
        fresh: tuple[ShardedCluster, str]) -> None:
    """§2.2: replica set 1's leader changed by a config reload (``replication.failover:
    manual``) under 300 coroutines of mixed crud through both routers (loadtnt.driver's
    Pool): writes to that shard fail for a moment, those to the other never, and every
    insert that was acknowledged is read back afterwards."""
    import asyncio
    import time

    from loadtnt import driver

    c, _ = fresh
    if not c.config:
        pytest.skip(f"a master switch by config reload needs Tarantool 3.x (config.yaml, "
                    f"replication.failover: manual); this cluster is Tarantool "
                    f"{'.'.join(map(str, c.version))}")
    c.eval("router-1", "local crud = require('crud') for i = 1, 2000 do "
           "crud.replace('customers', {i, box.NULL, 'n', 30}) end")

    async def load() -> tuple[list[int], list[tuple[float, str]], list[str], float, int]:
        pool = driver.Pool(c.router_endpoints, username=c.username, password=c.password,
                           fetch_schema=False, reconnect_timeout=0.2)
        await pool.connect()
        acked: list[int] = []
        failed_writes: list[tuple[float, str]] = []
        failed_reads: list[str] = []
        keys = iter(range(1_000_000, 10_000_000))
        stop = False

        async def user(i: int) -> None:
            while not stop:
                if i % 5 == 0:  # a fifth insert new keys, the rest read existing ones
                    k = next(keys)
                    try:
                        await pool.crud.insert_object(
                            "customers", {"id": k, "name": "w", "age": 1}, timeout=2)
                    except Exception as e:  # noqa: BLE001 - counted
                        failed_writes.append((time.monotonic(), str(e)))
                        await asyncio.sleep(0.01)
                    else:
                        acked.append(k)
                else:
                    try:
                        await pool.crud.get("customers", [1 + k_read(i)], timeout=2)
                    except Exception as e:  # noqa: BLE001 - counted
                        failed_reads.append(str(e))
                        await asyncio.sleep(0.01)

        def k_read(i: int) -> int:
            return (i * 7919 + len(acked)) % 2000

        users = [asyncio.create_task(user(i)) for i in range(300)]
        await asyncio.sleep(0.7)
        switched = await asyncio.to_thread(c.switch_leader, 1, "storage-1-b")
        await asyncio.sleep(0.7)
        stop = True
        await asyncio.gather(*users)
        # every acknowledged insert is there, read from the masters
        missing = await unread_keys(pool, acked)
        await pool.disconnect()
        return acked, failed_writes, failed_reads, switched, missing

    try:
        acked, failed_writes, failed_reads, switched, missing = asyncio.run(load())
        assert c.masters == ["storage-1-b", "storage-2-a"]
        assert c.eval("storage-1-a", "return box.info.ro")[0] is True
    finally:
        c.switch_leader(1, "storage-1-a")  # as the module's other tests expect it
    assert len(acked) > 1000
    assert missing == 0, f"{missing} of {len(acked)} acknowledged inserts lost"
    assert failed_writes, "the switch went unnoticed: no write failed"
    # only replica set 1's writes failed, for a moment
    assert all("storages-1" in why for _, why in failed_writes), failed_writes[:3]
    span = failed_writes[-1][0] - failed_writes[0][0]
    assert span < switched + 2.0, (span, switched)
    assert len(failed_reads) < 0.05 * (len(failed_reads) + 10_000), failed_reads[:3]
    print(f"master switch: writes to replica set 1 failed for {span:.2f} s "
          f"({len(failed_writes):,} failed; the switch took {switched:.2f} s); "
          f"{len(acked):,} acknowledged inserts, 0 lost; {len(failed_reads)} reads failed")
