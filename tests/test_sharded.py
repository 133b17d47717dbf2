"""loadtnt.server.ShardedCluster: a real vshard + crud cluster on loopback, on the server
$TARANTOOL names (a config.yaml on 3.x, the classic vshard.*.cfg on 2.x): every bucket on
every router, kill and restart of members and routers, the modules' lookup, and the
generated password kept out of reprs, errors and logs.
"""
from __future__ import annotations

import glob
import os
import signal
from typing import Any

import pytest
import yaml

from loadtnt.instance import version_tuple
from loadtnt.server import (
    MODULES_ENV,
    ModulesNotFoundError,
    ShardedCluster,
    ShardedClusterError,
    find_modules,
)
from tests import _testbase as tb

pytestmark = tb.only_loadtnt

S = "customers"


def binary() -> str:
    return os.environ.get("TARANTOOL") or "tarantool"


@pytest.fixture
def cluster(sharded_cluster: ShardedCluster) -> ShardedCluster:
    for name in sharded_cluster.names:
        if not sharded_cluster.is_running(name):
            sharded_cluster.restart(name)
    for master in sharded_cluster.masters:
        sharded_cluster.eval(master, "box.space.customers:truncate()")
    return sharded_cluster


async def router_conn(cluster: ShardedCluster, router: str = "router-1", **kw: Any) -> Any:
    conn = tb.driver.Connection(**cluster.connection_kwargs(router), reconnect_timeout=0.1,
                                **kw)
    await conn.connect()
    return conn


# --- the cluster as started ----------------------------------------------------------------


def test_every_bucket_on_every_router(cluster: ShardedCluster) -> None:
    assert len(cluster.router_names) == 2 and len(cluster.storage_names) == 2
    for router in cluster.router_names:
        assert cluster.available_rw(router) == cluster.bucket_count == 3000
        info = cluster.eval(router, "return require('vshard').router.info()")[0]
        assert info["bucket"]["unknown"] == 0 and info["bucket"]["available_ro"] == 0
    counts = cluster.bucket_counts()
    assert sum(counts) == 3000 and all(c > 0 for c in counts)
    # the replicas have the buckets and the schema too
    for rs in cluster.storage_names:
        master_count = cluster.eval(rs[0], "return box.space._bucket:count()")[0]
        for replica in rs[1:]:
            assert cluster.eval(replica, "return box.info.ro")[0] is True
            assert cluster.eval(replica, "return box.space.customers ~= nil")[0] is True
            assert cluster.eval(replica, "return box.space._bucket:count()")[0] == master_count


def test_described_as_users_describe_it(cluster: ShardedCluster) -> None:
    v = version_tuple(binary())
    if v < (3,):
        assert cluster.config is False and cluster.config_path is None
        # the classic way: one script per instance
        with open(os.path.join(cluster.work_dir or "", "storage-1-a", "init.lua")) as fh:
            script = fh.read()
        assert "vshard.storage.cfg(" in script and "crud.init_storage()" in script
        with open(os.path.join(cluster.work_dir or "", "router-1", "init.lua")) as fh:
            script = fh.read()
        assert "vshard.router.cfg(" in script and "crud.init_router()" in script
        pytest.skip(f"config.yaml clusters need Tarantool 3.x; the server is "
                    f"{'.'.join(map(str, v))} (the classic vshard.*.cfg was checked)")
    assert cluster.config is True
    path = cluster.config_path
    assert path is not None and os.stat(path).st_mode & 0o077 == 0
    with open(path) as fh:
        cfg = yaml.safe_load(fh)
    storages, routers = cfg["groups"]["storages"], cfg["groups"]["routers"]
    assert storages["sharding"]["roles"] == ["storage"]
    assert storages["roles"] == ["roles.crud-storage"]
    assert routers["sharding"]["roles"] == ["router"]
    assert routers["roles"] == ["roles.crud-router"]
    assert cfg["credentials"]["users"][cluster.username]["roles"] == ["super"]
    assert cfg["sharding"]["bucket_count"] == 3000
    # each instance runs as tarantool --name NAME --config FILE
    inst = cluster.instance("storage-2-b")
    assert inst is not None and inst.pid is not None
    with open(f"/proc/{inst.pid}/cmdline", "rb") as fh:
        argv = fh.read().split(b"\0")
    assert b"--name" in argv and b"storage-2-b" in argv and b"--config" in argv
    assert cluster.eval("storage-2-b", "return box.info.name")[0] == "storage-2-b"


async def test_crud_through_each_router(cluster: ShardedCluster, loop: Any) -> None:
    for i, router in enumerate(cluster.router_names):
        conn = await router_conn(cluster, router)
        try:
            await conn.crud.insert_object(S, {"id": i + 1, "name": router, "age": 20})
            res = await conn.crud.select(S, None, mode="write")
            assert [r["name"] for r in res] == cluster.router_names[:i + 1]
        finally:
            await conn.disconnect()


# --- kill and restart ----------------------------------------------------------------------


@pytest.mark.async_timeout(90)
async def test_kill_and_restart_a_master(cluster: ShardedCluster, loop: Any) -> None:
    conn = await router_conn(cluster)
    try:
        rows = [list((await conn.crud.insert(S, [i, None, f"n{i}", i]))[0])
                for i in range(1, 41)]
        master = cluster.masters[0]
        on_master = {r[0] for r in rows if cluster.eval(
            master, f"return box.space._bucket:get({r[1]}) ~= nil")[0]}
        assert 0 < len(on_master) < 40
        key = min(on_master)
        cluster.kill(master)
        assert not cluster.is_running(master)
        # crud 1.7 may wait for the dead master's connection 3-4 s whatever its timeout= (in
        # crud.common.utils.get_spaces), then says so (or that the call failed)
        with pytest.raises(tb.driver.CrudError) as info:
            await conn.crud.replace(S, [key, None, "while down", 0])
        assert info.value.class_name == "ReplaceError"
        # the other replica set is untouched - but crud 1.7 may not serve it meanwhile: it
        # takes a space's schema from one replica set's master, and when that is the dead one
        # every operation fails with GetSpaceError (seen on 3.8), so ask the storage itself
        other = min(set(range(1, 41)) - on_master)
        assert cluster.eval(cluster.masters[1],
                            f"return box.space.customers:get({other}).name")[0] == f"n{other}"
        await loop.run_in_executor(None, cluster.restart, master)
        assert cluster.is_running(master)
        # its data came back from its files, and it takes writes again
        assert (await conn.crud.get(S, key, mode="write"))[0]["name"] == f"n{key}"
        await conn.crud.replace(S, [key, None, "after", 0])
        assert (await conn.crud.get(S, key, mode="write"))[0]["name"] == "after"
        assert cluster.available_rw("router-2") == cluster.bucket_count
    finally:
        await conn.disconnect()


@pytest.mark.async_timeout(90)
async def test_kill_and_restart_a_replica_and_a_router(cluster: ShardedCluster,
                                                       loop: Any) -> None:
    replica = cluster.storage_names[1][1]
    cluster.kill(replica)
    await loop.run_in_executor(None, cluster.restart, replica)
    assert cluster.eval(replica, "return box.info.ro")[0] is True
    assert cluster.eval(replica, "return box.info.status")[0] == "running"

    conn = await router_conn(cluster, "router-2")
    try:
        await conn.crud.insert(S, [1, None, "a", 1])
        inst = cluster.instance("router-2")
        assert inst is not None
        old_pid = inst.pid
        cluster.kill("router-2")
        with pytest.raises((tb.exceptions.TarantoolNetworkError, OSError)):
            await conn.crud.get(S, 1, timeout=1)
        await loop.run_in_executor(None, cluster.restart, "router-2")
        assert inst.pid != old_pid
        assert cluster.available_rw("router-2") == cluster.bucket_count
        # the connection came back by itself; the router starts afresh and serves crud
        for _ in range(100):
            if conn.is_fully_connected:
                break
            await __import__("asyncio").sleep(0.05)
        assert (await conn.crud.get(S, 1, mode="write"))[0]["name"] == "a"
    finally:
        await conn.disconnect()


def test_stop_stops_everything() -> None:
    c = ShardedCluster(shards=1, replicas=2, routers=1, bucket_count=30)
    c.start()
    pids = [inst.pid for inst in (c.instance(n) for n in c.names) if inst is not None]
    root = c.work_dir
    assert len(pids) == 3 and root is not None and os.path.isdir(root)
    c.stop()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not os.path.exists(root)
    c.stop()  # twice: nothing to do


def test_a_failed_start_stops_everything() -> None:
    started: list[Any] = []

    class Recording(ShardedCluster):
        def _spawn(self, name: str) -> None:
            super()._spawn(name)
            started.append(self.instance(name))

    c = Recording(shards=1, replicas=1, routers=1, bucket_count=30,
                  schema="error('the schema failed here')", start_timeout=3)
    with pytest.raises(ShardedClusterError, match="the schema failed here") as info:
        c.start()
    assert c.password not in str(info.value)
    assert started and all(not inst.is_running for inst in started)
    assert c.work_dir is None


def test_crud_safe_mode_switch(cluster: ShardedCluster) -> None:
    before = cluster.crud_safe_mode()
    try:
        assert cluster.crud_safe_mode(False) == [False, False]
        assert cluster.crud_safe_mode(True) == [True, True]
    finally:
        cluster.crud_safe_mode(before[0])


# --- the modules ---------------------------------------------------------------------------


def test_missing_modules_say_where_to_get_them(tmp_path: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ModulesNotFoundError) as info:
        ShardedCluster(modules=missing)
    text = str(info.value)
    assert str(missing) in text and "the modules argument" in text
    assert MODULES_ENV in text and "vshard 0.1.42" in text and "crud 1.7.5" in text
    assert "share/lua/5.1" in text and "rocks install" in text
    assert isinstance(info.value, FileNotFoundError)

    monkeypatch.setenv(MODULES_ENV, str(missing))
    with pytest.raises(ModulesNotFoundError, match=f"\\${MODULES_ENV}"):
        find_modules()
    # the variable, when it points at a tree, is taken; so is the tree's share/lua/5.1 itself
    monkeypatch.delenv(MODULES_ENV)
    default = find_modules()      # ../shared/tarantool-modules beside the checkout
    assert (default / "vshard" / "init.lua").is_file()
    monkeypatch.setenv(MODULES_ENV, str(default.parent.parent.parent))
    assert find_modules() == default
    assert find_modules(default) == default


# --- the password --------------------------------------------------------------------------


def test_password_not_in_reprs_errors_or_logs(cluster: ShardedCluster) -> None:
    pw = cluster.password
    assert len(pw) >= 20
    assert pw not in repr(cluster)
    assert pw not in repr(cluster.instance("router-1"))
    with pytest.raises(ShardedClusterError) as info:
        cluster.eval("router-1", "error('boom')")
    assert pw not in str(info.value)
    # a Lua error that quotes it (a URI in a message) is masked
    with pytest.raises(ShardedClusterError, match="<password>") as quoted:
        cluster.eval("router-1", f"error('uri u:{pw}@host')")
    assert pw not in str(quoted.value)
    with pytest.raises(KeyError) as missing:
        cluster.eval("router-9", "return 1")
    assert pw not in str(missing.value)
    # the servers' own logs (every instance, after starts, restarts and kills)
    logs = glob.glob(os.path.join(cluster.work_dir or "", "*", "tarantool.log"))
    assert len(logs) == len(cluster.names)
    for path in logs:
        with open(path, errors="replace") as fh:
            assert pw not in fh.read(), path
    # the work directory is private
    assert os.stat(cluster.work_dir or "").st_mode & 0o077 == 0


def test_interrupted_member_is_reported_down(cluster: ShardedCluster) -> None:
    name = cluster.storage_names[0][1]
    inst = cluster.instance(name)
    assert inst is not None and inst.pid is not None
    os.kill(inst.pid, signal.SIGKILL)
    inst._proc.wait()                       # type: ignore[union-attr]
    assert not cluster.is_running(name)
    assert f"{name} {cluster.port(name)} down" in repr(cluster)
    cluster.restart(name)
    assert cluster.is_running(name)


ORDERS = """
local s = box.schema.space.create('orders', {if_not_exists = true, format = {
    {name = 'id', type = 'string'}, {name = 'bucket_id', type = 'unsigned'},
    {name = 'total', type = 'number'}}})
s:create_index('pk', {parts = {{field = 'id'}}, if_not_exists = true})
s:create_index('bucket_id', {parts = {{field = 'bucket_id'}}, unique = false,
                             if_not_exists = true})
"""


async def test_a_schema_of_ones_own_and_the_classic_cfg_on_any_version(
        tmp_path: Any, loop: Any) -> None:
    """A user's schema from a file; on 3.x the classic vshard.*.cfg too (config=False)."""
    path = tmp_path / "orders.lua"
    path.write_text(ORDERS)
    v = version_tuple(binary())
    c = ShardedCluster(shards=2, replicas=1, routers=1, bucket_count=60, schema=path,
                       config=False if v >= (3,) else None)
    await loop.run_in_executor(None, c.start)
    try:
        assert c.config is False and c.bucket_counts() == [30, 30]
        conn = tb.driver.Connection(**c.connection_kwargs())
        await conn.connect()
        try:
            for i in range(10):
                await conn.crud.insert_object("orders", {"id": f"o{i}", "total": i / 2})
            res = await conn.crud.select("orders", [[">=", "id", "o5"]], mode="write")
            assert [(r["id"], r["total"]) for r in res] == [(f"o{i}", i / 2) for i in
                                                            range(5, 10)]
            assert sum(c.eval(m, "return box.space.orders:len()")[0] for m in c.masters) == 10
        finally:
            await conn.disconnect()
    finally:
        await loop.run_in_executor(None, c.stop)
