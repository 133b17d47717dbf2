"""Issue 21: the scenario is checked against every server before any load (a wrong name exits 2
naming the file, line, op and what is missing, and whether it is missing or invisible to the
user); errors keep their first message; the drivers' own schema requests are no disagreement."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from loadtnt.instance import TarantoolInstance
from loadtnt.results.entries import cross_check
from tests.harness.conftest import run_loadtnt, write_scenario

T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(Path(__file__).resolve().parents[3] / "shared/tarantool-3.8/bin/tarantool"))
BINARIES = [pytest.param(os.environ.get("TARANTOOL") or "tarantool", id="TARANTOOL"),
            pytest.param(T38, id="3.8", marks=pytest.mark.skipif(
                not os.access(T38, os.X_OK), reason=f"needs Tarantool 3.8 at {T38}"))]

HEAD = """
drivers: [loadtnt]
loops: [asyncio]
concurrency: 5
warmup: 0
duration: 1s
"""

# a user `app` that may eval (the harness's box.stat() needs it), one space it cannot see, one
# it may only read, a function in box.func it has no grant on, a global Lua function
SERVER_LUA = """
box.schema.user.create('app', {password = 'pf-secret-pw'})
box.schema.user.grant('app', 'execute', 'universe')
local s = box.schema.space.create('secret', {format = {{'id', 'unsigned'}, {'name', 'string'}}})
s:create_index('primary')
local r = box.schema.space.create('readonly', {format = {{'id', 'unsigned'}, {'name', 'string'}}})
r:create_index('primary')
r:create_index('txt', {parts = {'name'}, unique = false})
box.schema.user.grant('app', 'read', 'space', 'readonly')
local w = box.schema.space.create('open', {format = {{'id', 'unsigned'}, {'name', 'string'}}})
w:create_index('primary')
box.schema.user.grant('app', 'read,write', 'space', 'open')
function global_fn() return 1 end
box.schema.user.create('noeval', {password = 'pf-secret-pw'})
"""


def test_wrong_names_exit_2_before_any_load(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, HEAD + """
before: prepare(10)
operations:
  - op: select
    space: testr
    key: [1]
  - op: update
    name: upd
    space: tester
    index: txt
    key: [1]
    operations: [['=', 'nme', 'x']]
  - op: call
    function: no_such_func
  - op: call
    name: fine
    function: func_load
  - op: insert
    space: tester
    tuple: [{sequential: 1000}, 'x']
""")
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert not out.exists() and "req/s" not in proc.stderr  # nothing measured, nothing written
    lines = proc.stderr.strip().splitlines()
    lines = [ln for ln in lines if not ln.startswith("embedded")]
    assert lines[0].startswith("loadtnt: error: ")
    lines[0] = lines[0].removeprefix("loadtnt: error: ")
    server = r", on server 'embedded' \(127\.0\.0\.1:\d+\)$"
    expect = [
        rf"{path}:9: operations\[0\] \(select\): space 'testr' does not exist{server}",
        (rf"{path}:12: operations\[1\] \(update 'upd'\): space 'tester' has no index 'txt' "
        rf"\(its indexes: primary\){server}"),
        (rf"{path}:12: operations\[1\] \(update 'upd'\): space 'tester' has no field 'nme' "
        rf"\(its fields: id, name\){server}"),
        (rf"{path}:18: operations\[2\] \(call\): function 'no_such_func' does not exist "
        rf"\(neither in box.func nor a global Lua function\){server}"),
    ]
    assert len(lines) == len(expect), lines
    for line, pattern in zip(lines, expect, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


@pytest.mark.parametrize("binary", BINARIES)
def test_missing_and_invisible_are_told_apart_for_the_runs_user(tmp_path: Path,
                                                               binary: str) -> None:
    path = write_scenario(tmp_path, HEAD + """
operations:
  - {op: select, space: secret, key: [1]}
  - {op: select, name: nothere, space: nothere, key: [1]}
  - {op: select, name: ro, space: readonly, key: [1], index: txt}
  - {op: replace, space: readonly, tuple: [1, 'a']}
  - {op: replace, name: ok, space: open, tuple: [1, 'a']}
  - {op: call, function: global_fn}
  - {op: call, name: none, function: none_fn}
""")
    with TarantoolInstance(lua=SERVER_LUA, binary=binary) as srv:
        env = {"LOADTNT_PASSWORD": "pf-secret-pw"}
        proc = run_loadtnt_env(env, "run", path, "--server", f"127.0.0.1:{srv.port}",
                               "--user", "app", "--out", tmp_path / "o.json")
        assert proc.returncode == 2, proc.stderr
        text = proc.stderr
        assert "pf-secret-pw" not in proc.stdout + text
        assert not (tmp_path / "o.json").exists()
        found = [re.sub(r", on server 'external' \(127\.0\.0\.1:\d+\)$", "",
                        ln.removeprefix("loadtnt: error: ").removeprefix(f"{path}:"))
                 for ln in text.strip().splitlines()]
        assert found == [
            ("8: operations[0] (select): space 'secret' exists but is invisible to user 'app': "
            "the user has no privilege on it (box.schema.user.grant('app', 'read', 'space', "
            "'secret'))"),
            "9: operations[1] (select 'nothere'): space 'nothere' does not exist",
            ("11: operations[3] (replace): user 'app' may not write space 'readonly': Write "
            "access to space 'readonly' is denied for user 'app'"),
            ("14: operations[6] (call 'none'): function 'none_fn' does not exist (neither in "
            "box.func nor a global Lua function)"),
        ], text

        # a user who may not eval: the harness cannot read box.stat(); one line says so
        proc = run_loadtnt_env(env, "run", path, "--server", f"127.0.0.1:{srv.port}",
                               "--user", "noeval", "--out", tmp_path / "o.json")
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert "user 'noeval' may not eval on server 'external'" in line
        assert "box.schema.user.grant('noeval', 'execute', 'universe')" in line
        assert "pf-secret-pw" not in line


def test_every_instance_of_a_replica_set_is_checked(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, HEAD + """
server: {replicas: 2}
operations:
  - {op: select, space: testr, key: [1]}
""")
    proc = run_loadtnt("run", path, "--out", tmp_path / "o.json", timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    uris = {re.search(r"instance (127\.0\.0\.1:\d+)$", ln).group(1) for ln in lines}
    assert len(uris) == 2
    assert all("space 'testr' does not exist, on server 'embedded' instance" in ln
               for ln in lines)


def run_loadtnt_env(env: dict[str, str], *args):
    import subprocess

    from tests.harness.conftest import ROOT, loadtnt_cmd

    return subprocess.run(loadtnt_cmd(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=90, check=False, env={**os.environ, **env})


def test_the_drivers_schema_requests_are_no_disagreement() -> None:
    # the run: every select named a missing space; the driver refetched its schema
    # (SELECTs on _vspace and _vindex) and raised TarantoolSchemaError, sending nothing
    entry = {"op": "select", "requests": 1350, "ok": 0,
             "errors_by_kind": {"other:TarantoolSchemaError": 1350}}
    assert cross_check([entry], {"select": "select"}, {"REQUESTS": 72, "SELECT": 72}) == []
    # requests that did reach the server and are not in its count still disagree
    ok = {"op": "select", "requests": 1000, "ok": 1000, "errors_by_kind": {}}
    assert cross_check([ok], {"select": "select"}, {"REQUESTS": 900, "SELECT": 900}) == [
        "client and server disagree: the client counted 1,000 requests, the server 900",
        "client and server disagree: the client sent 1,000 SELECT, the server counted 900"]
    # more on the server than the load and the schema SELECTs explain: disagree
    ping = {"op": "ping", "requests": 1000, "ok": 1000, "errors_by_kind": {}}
    assert cross_check([ping], {"ping": "ping"}, {"REQUESTS": 1100, "SELECT": 4}) == [
        "client and server disagree: the client counted 1,000 requests, the server 1,100"]
    assert cross_check([ping], {"ping": "ping"}, {"REQUESTS": 1004, "SELECT": 4}) == []


@pytest.mark.parametrize("binary", BINARIES)
def test_an_sql_query_is_prepared_before_any_load(tmp_path: Path, binary: str) -> None:
    path = write_scenario(tmp_path, HEAD + """
operations:
  - op: execute
    query: SELECT * FROM nope WHERE id = ?
    args: [1]
  - op: execute
    name: good
    query: 'SELECT * FROM "tester" WHERE "id" = ?'
    args: [1]
""")
    proc = run_loadtnt("run", path, "--tarantool", binary, "--out", tmp_path / "o.json")
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert re.fullmatch(rf"loadtnt: error: {path}:8: operations\[0\] \(execute\): the SQL query "
                        r"does not prepare: Space '(NOPE|nope)' does not exist, on server "
                        r"'tarantool-[\d.]+' \(127\.0\.0\.1:\d+\)", line), line
