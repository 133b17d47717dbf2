"""conn.crud / pool.crud against a real vshard + crud cluster (tests/conftest.py's
``sharded_cluster``: 2 replica sets × 2 instances + 2 routers, on the server $TARANTOOL
names), each result compared with the same crud call made by Tarantool's own net.box from a
Lua client (tests/lua/crud_reference.lua, run by the same tarantool binary): the reference.

A sequence of crud calls is run twice from an empty space - once through loadtnt, once through
net.box - and the outcomes compared step by step: rows, metadata, plain values, crud's errors
(class, message, the row of a failed ``*_many`` row) and Lua errors raised on the router.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from typing import Any

import pytest

from loadtnt.driver import CrudError, CrudManyError, CrudResponse
from loadtnt.driver.exceptions import TarantoolDatabaseError
from tests import _testbase as tb

pytestmark = tb.only_loadtnt

REFERENCE = os.path.join(os.path.dirname(__file__), "lua", "crud_reference.lua")
S = "customers"


def ref(step: int, row: int = 0) -> dict[str, Any]:
    """In a step's arguments: row ``row`` of step ``step``'s result (in the same run)."""
    return {"$ref": [step, row]}


# [crud function, its arguments (opts last), client timeout]; steps are numbered from 0.
# Reads go to the masters (mode='write'; crud's default 'read' may pick a replica that has not
# applied the step before yet); the one that reads replicas (10) reads rows written long before.
STEPS: list[list[Any]] = [
    # 0-3: inserts, bucket_id computed by crud
    ["crud.insert", [S, [1, None, "Elizabeth", 23], {}], None],
    ["crud.insert_object", [S, {"id": 2, "name": "Mary", "age": 46}, {}], None],
    ["crud.insert_many", [S, [[3, None, "David", 33], [4, None, "William", 81]], {}], None],
    ["crud.insert_object_many", [S, [{"id": 5, "name": "Jack", "age": 35},
                                     {"id": 6, "name": "Fedor", "age": 18}], {}], None],
    # 4-6: errors: a duplicate key, a partly failing insert_many, an unknown space
    ["crud.insert", [S, [1, None, "Again", 1], {}], None],
    ["crud.insert_many", [S, [[7, None, "Ann", 50], [2, None, "Dup", 1],
                              [8, None, "Bob", 60]], {}], None],
    ["crud.insert", ["no_such_space", [1, None, "x", 1], {}], None],
    # 7-12: get: plain, fields, mode='write', a replica, a missing key, noreturn insert
    ["crud.get", [S, 1, {"mode": "write"}], None],
    ["crud.get", [S, 2, {"fields": ["id", "name"], "mode": "write"}], None],
    ["crud.get", [S, 3, {"mode": "write"}], None],
    ["crud.get", [S, 4, {"prefer_replica": True, "balance": True}], None],
    ["crud.get", [S, 999, {}], None],
    ["crud.insert", [S, [9, None, "Quiet", 40], {"noreturn": True}], None],
    # 13: an explicit bucket_id (in the tuple), then read with it
    ["crud.insert", [S, [100, 7, "Bucketed", 50], {}], None],
    ["crud.get", [S, 100, {"bucket_id": 7, "mode": "write"}], None],
    # 15-22: replace, update, upsert, delete
    ["crud.replace", [S, [1, None, "Elizabeth", 24], {}], None],
    ["crud.replace_object", [S, {"id": 10, "name": "New", "age": 10}, {}], None],
    ["crud.replace_many", [S, [[11, None, "R11", 11], [12, None, "R12", 12]], {}], None],
    ["crud.replace_object_many", [S, [{"id": 13, "name": "R13", "age": 13}], {}], None],
    ["crud.update", [S, 2, [["+", "age", 1], ["=", "name", "Maria"]], {}], None],
    ["crud.update", [S, 998, [["+", "age", 1]], {}], None],
    ["crud.upsert", [S, [14, None, "U14", 14], [["+", "age", 1]], {}], None],
    ["crud.upsert_object", [S, {"id": 14, "name": "U14", "age": 14}, [["+", "age", 1]],
                            {}], None],
    # 23-25
    ["crud.upsert_many", [S, [[[15, None, "U15", 15], [["+", "age", 1]]],
                              [[14, None, "U14", 14], [["+", "age", 1]]]], {}], None],
    ["crud.upsert_object_many", [S, [[{"id": 16, "name": "U16", "age": 16},
                                      [["+", "age", 1]]]], {}], None],
    ["crud.delete", [S, 13, {}], None],
    # 26-33: select: all, a secondary index condition, fields, first/after across shards
    ["crud.select", [S, None, {"mode": "write"}], None],
    ["crud.select", [S, [[">=", "age", 30]], {"mode": "write"}], None],
    ["crud.select", [S, [[">=", "age", 30], ["<", "id", 100]], {"fields": ["id", "age"],
                                                                   "mode": "write"}], None],
    ["crud.select", [S, None, {"first": 3, "mode": "write"}], None],
    ["crud.select", [S, None, {"first": 3, "after": ref(29, 2), "mode": "write"}], None],
    ["crud.select", [S, [[">=", "age", 18]], {"first": 4, "mode": "write"}], None],
    ["crud.select", [S, [[">=", "age", 18]], {"first": 4, "after": ref(31, 3), "mode": "write"}], None],
    ["crud.select", [S, None, {"first": -2, "after": ref(30, 1), "mode": "write"}], None],
    # 34-37: bucket_id, mode='write', fullscan, batch_size
    ["crud.select", [S, None, {"bucket_id": 7, "mode": "write"}], None],
    ["crud.select", [S, [["==", "age", 46]], {"mode": "write"}], None],
    ["crud.select", [S, [["<", "name", "M"]], {"fullscan": True, "mode": "write"}], None],
    ["crud.select", [S, [[">", "id", 3]], {"batch_size": 2, "first": 5, "mode": "write"}], None],
    # 38-41: min, max, count, len
    ["crud.min", [S, "age_index", {"mode": "write"}], None],
    ["crud.max", [S, "age_index", {"fields": ["id", "age"], "mode": "write"}], None],
    ["crud.count", [S, [[">=", "age", 30]], {"mode": "write"}], None],
    ["crud.len", [S, {}], None],
    # 42-46: bad conditions and operations, wrong argument types
    ["crud.select", [S, [["=", "no_such_field", 1]], {}], None],
    ["crud.select", [S, [["~", "age", 1]], {}], None],
    ["crud.select", [S, "not conditions", {}], None],
    ["crud.update", [S, 1, [["+", "no_such_field", 1]], {}], None],
    ["crud.get", [S, 1, {"no_such_option": 1}], None],
    # 47-49: noreturn on many, errors of noreturn many, truncate, then the count
    ["crud.insert_many", [S, [[20, None, "A", 1], [21, None, "B", 2]], {"noreturn": True}],
     None],
    ["crud.insert_many", [S, [[20, None, "A", 1], [22, None, "C", 3]],
                          {"noreturn": True}], None],
    ["crud.count", [S, None, {"mode": "write"}], None],
    ["crud.truncate", [S, {}], None],
    ["crud.count", [S, None, {"mode": "write"}], None],
]


def normalize(value: Any) -> Any:
    """As the reference prints it: JSON (lists for tuples, string keys)."""
    return json.loads(json.dumps(value, default=lambda o: list(o)))


def crud_error_map(e: CrudError) -> dict[str, Any]:
    return {"class_name": e.class_name, "err": e.err, "str": str(e),
            "operation_data": e.operation_data}


def response_map(res: Any) -> Any:
    if isinstance(res, CrudResponse):
        return {"metadata": res.metadata, "rows": [list(r) for r in res.rows]}
    return res


def comparable(outcome: dict[str, Any]) -> dict[str, Any]:
    """The parts of an outcome both clients must agree on (an error's stack, file and line
    are where it was made, not what it says)."""
    if not outcome["ok"]:
        return outcome
    res, err = outcome["values"]

    def clean(e: Any) -> Any:
        if isinstance(e, dict):
            return {k: e.get(k) for k in ("class_name", "err", "str", "operation_data")}
        return e
    if isinstance(err, list):
        err = sorted((clean(e) for e in err), key=json.dumps)
    else:
        err = clean(err)
    if isinstance(res, dict) and ("rows" in res or "metadata" in res):
        res = {"metadata": [{k: f.get(k) for k in ("name", "type")} for f in
                            res.get("metadata") or []] or None, "rows": res.get("rows") or []}
    return {"ok": True, "values": [res, err]}


def resolve(value: Any, results: list[Any]) -> Any:
    if isinstance(value, dict):
        if "$ref" in value:
            step, row = value["$ref"]
            return results[step].rows[row]
        return {k: resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, results) for v in value]
    return value


async def run_loadtnt(crud: Any, steps: list[list[Any]]) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any]] = []
    results: list[Any] = []
    for func, args, _ in steps:
        args = resolve(args, results)
        method = getattr(crud, func.split(".", 1)[1])
        *positional, opts = args
        res: Any = None
        try:
            res = await method(*positional, **opts)
            outcome = {"ok": True, "values": [response_map(res), None]}
        except CrudManyError as e:
            outcome = {"ok": True, "values": [response_map(e.rows),
                                              [crud_error_map(x) for x in e.errors]]}
        except CrudError as e:
            outcome = {"ok": True, "values": [None, crud_error_map(e)]}
        except TarantoolDatabaseError as e:
            outcome = {"ok": False, "error": e.message}
        results.append(res)
        outcomes.append(normalize(outcome))
    return outcomes


def run_reference(cluster: Any, steps: list[list[Any]], router: str = "router-1",
                  timeout: float = 60.0) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(steps, fh)
        path = fh.name
    try:
        env = dict(os.environ, LOADTNT_ROUTER=cluster.endpoint(router),
                   LOADTNT_USER=cluster.username, LOADTNT_PASSWORD=cluster.password)
        proc = subprocess.run([cluster.binary, REFERENCE, path], env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)
    finally:
        os.unlink(path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and len(lines) == len(steps), (proc.stdout, proc.stderr)
    return [json.loads(ln) for ln in lines]


def truncate(cluster: Any) -> None:
    for master in cluster.masters:
        cluster.eval(master, "box.space.customers:truncate()")


@pytest.fixture
def cluster(sharded_cluster: Any) -> Any:
    for name in sharded_cluster.names:
        if not sharded_cluster.is_running(name):
            sharded_cluster.restart(name)
    truncate(sharded_cluster)
    return sharded_cluster


async def connect_router(cluster: Any, router: str = "router-1", **kwargs: Any) -> Any:
    conn = tb.driver.Connection(**cluster.connection_kwargs(router), **kwargs)
    await conn.connect()
    return conn


# --- every operation against net.box ---------------------------------------------------


@pytest.mark.async_timeout(60)
async def test_every_operation_as_netbox(cluster: Any, loop: Any) -> None:
    conn = await connect_router(cluster)
    try:
        mine = await run_loadtnt(conn.crud, STEPS)
    finally:
        await conn.disconnect()
    truncate(cluster)
    theirs = await loop.run_in_executor(None, run_reference, cluster, STEPS)
    assert len(mine) == len(theirs) == len(STEPS)
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        assert comparable(a) == comparable(b), f"step {i}: {STEPS[i]}"
    # the steps did what they say (not merely the same thing twice)
    assert mine[0]["values"][0]["rows"][0][:1] == [1]
    assert mine[4]["values"][1]["class_name"] == "InsertError"
    assert "Duplicate key" in mine[4]["values"][1]["err"]
    assert [r[0] for r in mine[5]["values"][0]["rows"]] == [7, 8]
    assert len(mine[5]["values"][1]) == 1 and mine[5]["values"][1][0]["operation_data"][0] == 2
    assert "no_such_space" in mine[6]["values"][1]["err"]
    assert mine[8]["values"][0]["rows"] == [[2, "Mary"]]
    assert mine[11]["values"][0]["rows"] == []
    assert mine[14]["values"][0]["rows"] == [[100, 7, "Bucketed", 50]]
    ids_all = [r[0] for r in mine[26]["values"][0]["rows"]]
    assert ids_all == sorted(ids_all) and len(ids_all) >= 15
    page1 = [r[0] for r in mine[29]["values"][0]["rows"]]
    page2 = [r[0] for r in mine[30]["values"][0]["rows"]]
    assert page1 + page2 == ids_all[:6]
    # bucket_id routes a select to the storage of that bucket; it does not filter by it (crud
    # 1.7): the rows of every bucket of that replica set come back
    in_rs = [r[0] for r in mine[34]["values"][0]["rows"]]
    assert 100 in in_rs and len(in_rs) < len(ids_all)
    assert mine[39]["values"][0]["metadata"][1]["name"] == "age"
    # crud 1.7: a condition on a field the space does not have selects nothing, no error
    assert mine[42]["values"] == [{"metadata": mine[26]["values"][0]["metadata"], "rows": []},
                                  None]
    assert mine[43]["values"][1]["class_name"] == "SelectError"
    assert mine[45]["values"][1]["class_name"] == "UpdateError"
    assert not mine[46]["ok"] and "no_such_option" in mine[46]["error"]   # crud's checks
    assert mine[48]["values"][0] is None and len(mine[48]["values"][1]) == 1
    assert mine[50]["values"][0] is True and mine[51]["values"][0] == 0


async def test_rows_are_named_by_crud_metadata(cluster: Any, loop: Any) -> None:
    conn = await connect_router(cluster, fetch_schema=False)
    try:
        res = await conn.crud.insert_object(S, {"id": 1, "name": "Elizabeth", "age": 23})
        assert isinstance(res, CrudResponse) and len(res) == 1
        row = res[0]
        assert row["name"] == "Elizabeth" and row["age"] == 23 and row[0] == 1
        assert list(row.keys()) == ["id", "bucket_id", "name", "age"]
        assert [f["name"] for f in res.metadata] == ["id", "bucket_id", "name", "age"]
        got = await conn.crud.get(S, 1, fields=["name", "id"])
        assert dict(got[0].items()) == {"name": "Elizabeth", "id": 1}
        assert list(iter(got)) == got.rows and got.objects() == [{"name": "Elizabeth", "id": 1}]
        assert await conn.crud.count(S) == 1 and await conn.crud.len(S) == 1
        schema = await conn.crud.schema(S)
        assert schema["format"][0]["name"] == "id"
        info = await conn.crud.storage_info()
        assert len(info) == cluster.shards * cluster.replicas
        assert all(v["status"] == "running" for v in info.values())
        stats = await conn.crud.stats()
        assert isinstance(stats, dict)
    finally:
        await conn.disconnect()


async def test_errors_are_crud_errors(cluster: Any, loop: Any) -> None:
    conn = await connect_router(cluster)
    try:
        await conn.crud.insert(S, [1, None, "a", 1])
        with pytest.raises(CrudError) as info:
            await conn.crud.insert(S, [1, None, "a", 1])
        e = info.value
        assert isinstance(e, tb.exceptions.TarantoolError)
        assert e.class_name == "InsertError" and "Duplicate key" in e.err
        assert str(e).startswith("InsertError: ")
        with pytest.raises(CrudManyError) as many:
            await conn.crud.insert_many(S, [[1, None, "a", 1], [2, None, "b", 2],
                                            [3, None, "c", 3]])
        assert [r[0] for r in many.value.rows] == [2, 3]
        assert len(many.value.errors) == 1
        assert many.value.errors[0].operation_data[0] == 1
        assert many.value.errors[0].class_name == "CallError"   # crud's, from the storage
        with pytest.raises(CrudError, match="no_such_space"):
            await conn.crud.get("no_such_space", 1)
    finally:
        await conn.disconnect()


# --- timeouts ------------------------------------------------------------------------------


@pytest.mark.async_timeout(60)
async def test_timeout_is_cruds_own_as_netbox(cluster: Any, loop: Any) -> None:
    """A storage that does not answer: crud's timeout error (not the client's
    asyncio.TimeoutError) arrives, as net.box sees it."""
    conn = await connect_router(cluster)
    try:
        res = await conn.crud.insert(S, [1, None, "a", 1])
        bucket = res[0]["bucket_id"]
        # the master that holds the row's bucket
        owner = next(m for m in cluster.masters if cluster.eval(
            m, f"return box.space._bucket:get({bucket}) ~= nil")[0])
        inst = cluster.instance(owner)
        steps = [["crud.get", [S, 1, {"timeout": 0.3, "mode": "write"}], 5.0]]
        inst.pause()
        try:
            t0 = loop.time()
            with pytest.raises(CrudError) as info:
                await conn.crud.get(S, 1, timeout=0.3, mode="write")
            elapsed = loop.time() - t0
            theirs = await loop.run_in_executor(None, run_reference, cluster, steps)
        finally:
            inst.resume()
        assert 0.25 < elapsed < 0.3 * 1.1 + 0.5
        mine = normalize({"ok": True, "values": [None, crud_error_map(info.value)]})
        assert comparable(mine) == comparable(theirs[0])
        assert info.value.class_name == "GetError"
    finally:
        await conn.disconnect()


async def test_client_bound_is_a_little_later(cluster: Any, loop: Any) -> None:
    """With the router itself stalled, the client's bound (timeout * 1.1 + 0.5 s) ends it."""
    conn = await connect_router(cluster)
    inst = cluster.instance("router-1")
    try:
        inst.pause()
        t0 = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await conn.crud.get(S, 1, timeout=0.2)
        elapsed = loop.time() - t0
        assert 0.2 * 1.1 + 0.5 - 0.05 < elapsed < 2.0
    finally:
        inst.resume()
        await conn.disconnect()


# --- pairs ---------------------------------------------------------------------------------


@pytest.mark.async_timeout(60)
async def test_pairs_pages_with_after(cluster: Any, loop: Any) -> None:
    conn = await connect_router(cluster)
    try:
        await conn.crud.insert_many(S, [[i, None, f"n{i}", i % 50] for i in range(1, 238)])
        all_rows = [list(r) for r in await conn.crud.select(S, None, first=1000)]
        by_age = [list(r) for r in await conn.crud.select(S, [[">=", "age", 20]], first=1000)]
        theirs = await loop.run_in_executor(None, run_reference, cluster, [
            ["crud.select", [S, None, {"first": 1000}], None],
            ["crud.select", [S, [[">=", "age", 20]], {"first": 1000}], None]])
        assert theirs[0]["values"][0]["rows"] == all_rows and len(all_rows) == 237
        assert theirs[1]["values"][0]["rows"] == by_age

        walked = [list(r) async for r in conn.crud.pairs(S, batch_size=10)]
        assert walked == all_rows
        walked = [list(r) async for r in conn.crud.pairs(S, [[">=", "age", 20]],
                                                          batch_size=7)]
        assert walked == by_age
        first = [list(r) async for r in conn.crud.pairs(S, None, batch_size=10, first=25)]
        assert first == all_rows[:25]
        objs = [o async for o in conn.crud.pairs(S, [["<=", "id", 3]], use_tomap=True,
                                                  fields=["id", "name"])]
        # '<=' walks the primary index down, as crud.select does
        assert objs == [{"id": i, "name": f"n{i}"} for i in (3, 2, 1)]
        resumed = [list(r) async for r in conn.crud.pairs(S, None, after=all_rows[99],
                                                           batch_size=50)]
        assert resumed == all_rows[100:]
        with pytest.raises(ValueError):
            conn.crud.pairs(S, batch_size=0)
    finally:
        await conn.disconnect()


# --- Pool ----------------------------------------------------------------------------------


async def test_pool_crud_goes_to_routers_in_turn(cluster: Any, loop: Any) -> None:
    Pool = tb.driver.Pool

    def calls() -> list[int]:
        return [int(cluster.eval(r, "return box.stat().CALL.total")[0])
                for r in cluster.router_names]

    async with Pool(cluster.router_endpoints, username=cluster.username,
                    password=cluster.password) as pool:
        await pool.crud.insert(S, [1, None, "a", 1])
        before = calls()
        for _ in range(10):
            res = await pool.crud.get(S, 1)
            assert res[0]["name"] == "a"
        after = calls()
        assert [a - b for a, b in zip(after, before, strict=True)] == [5, 5]
        rows = [r async for r in pool.crud.pairs(S)]
        assert [list(r) for r in rows] == [[1, rows[0]["bucket_id"], "a", 1]]
        assert cluster.password not in repr(pool)
