"""Reconnect: kill -9 the real server under load, restart it on the same port.

Every test here owns a function-scoped server (never the session one). After the restart the
server's Lua creates another space first, so `tester` gets a different id: a driver that does
not refetch the schema on reconnect sends requests to the wrong space.
"""
import asyncio
import collections
import logging
import time

import pytest

from loadtnt.instance import TarantoolInstance
from tests import _testbase as tb

RESTART_LUA = """
box.schema.space.create('pushes_tester_id')  -- takes id 512
""" + tb.INIT_LUA + """
connects = 0
box.session.on_connect(function() connects = connects + 1 end)
"""

ALLOWED = (tb.exceptions.TarantoolNotConnectedError, tb.exceptions.TarantoolNetworkError,
           asyncio.TimeoutError)
# The error an in-flight request gets when the server dies: loadtnt's contract is a
# TarantoolNetworkError; asynctnt 2.4 passes some raw OS errors through (BrokenPipeError).
LOST = tb.exceptions.TarantoolNetworkError
if tb.IS_ASYNCTNT:
    ALLOWED += (ConnectionError,)
    LOST = (LOST, ConnectionError)


@pytest.fixture
def server():
    instance = TarantoolInstance(lua=tb.INIT_LUA, cfg=tb.SERVER_CFG)
    with instance:
        yield instance


def restart_with_new_schema(server):
    """After a kill: start again on the same port with `tester` at another id."""
    server.lua = RESTART_LUA
    server.start()
    assert tb.admin_eval(server, "return box.space.tester.id")[0] != 512


async def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def wait_for_success(conn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await conn.call("func_param", ["back"], timeout=1)
        except ALLOWED:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@pytest.mark.async_timeout(60)
async def test_kill_and_restart_under_load(server, connect):
    conn = await connect(server, reconnect_timeout=0.1, request_timeout=2)
    stop = asyncio.Event()
    outcomes = collections.Counter()
    after_restart = {"ok": 0}
    restarted = asyncio.Event()
    hung = []

    async def worker(n):
        i = 0
        while not stop.is_set():
            i += 1
            kind = i % 3
            try:
                # 5 s bound above the 2 s request timeout: anything slower is a hang.
                if kind == 0:
                    fut = conn.ping()
                elif kind == 1:
                    fut = conn.call("func_param", [n, i])
                else:
                    fut = conn.select("tester", [n])
                res = await asyncio.wait_for(fut, 5)
                if kind == 1:
                    assert res.body == [n, i]
                outcomes["ok"] += 1
                if restarted.is_set():
                    after_restart["ok"] += 1
            except asyncio.TimeoutError:
                outcomes["timeout"] += 1
            except ALLOWED as e:
                outcomes[type(e).__name__] += 1
                await asyncio.sleep(0.01)
            except Exception as e:  # noqa: BLE001 - every other outcome is a failure
                hung.append(repr(e))
                outcomes["unexpected"] += 1
                await asyncio.sleep(0.01)

    workers = [asyncio.ensure_future(worker(n)) for n in range(300)]
    await asyncio.sleep(0.5)
    assert outcomes["ok"] > 0
    server.kill()
    await asyncio.sleep(0.5)
    restart_with_new_schema(server)
    restarted.set()
    assert await wait_until(lambda: after_restart["ok"] >= 300, 15), outcomes
    stop.set()
    done, pending = await asyncio.wait(workers, timeout=10)
    assert not pending, f"{len(pending)} workers hung"
    for task in done:
        task.result()
    assert outcomes["unexpected"] == 0, hung[:5]
    assert sum(n for kind, n in outcomes.items() if kind != "ok") > 0, "the kill went unnoticed"
    # Back to normal: auth restored and the new schema fetched.
    assert (await conn.call("box.session.user")).body == [tb.USER]
    assert conn.schema.spaces["tester"].sid == tb.admin_eval(server, "return box.space.tester.id")[0]
    await conn.insert("tester", [1, "after"])
    assert tb.admin_eval(server, "return box.space.tester:get{1}.name") == ["after"]
    assert conn.is_fully_connected


async def test_in_flight_requests_fail_fast_on_kill(server, connect):
    conn = await connect(server, reconnect_timeout=0.1)
    calls = [asyncio.ensure_future(conn.call("func_long", [30])) for _ in range(50)]
    await asyncio.sleep(0.1)
    started = time.monotonic()
    server.kill()
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert time.monotonic() - started < 5
    assert all(isinstance(r, LOST) for r in results), results
    if not tb.IS_ASYNCTNT and conn._protocol is not None:
        assert tb.pending_count(conn) == 0  # the failed requests left nothing behind


@pytest.mark.async_timeout(30)
async def test_reconnects_by_itself(server, connect):
    conn = await connect(server, reconnect_timeout=0.1)
    assert (await conn.ping()).code == 0
    server.kill()
    assert await wait_until(lambda: not conn.is_connected, 5)
    with pytest.raises(tb.exceptions.TarantoolNetworkError):
        await conn.ping()
    restart_with_new_schema(server)
    res = await wait_for_success(conn)
    assert res.body == ["back"]
    assert conn.state == tb.connection_state().CONNECTED
    assert (await conn.eval("return box.session.user()")).body == [tb.USER]
    res = await conn.insert("tester", [5, "five"])
    assert tb.admin_eval(server, "return box.space.tester:len()") == [1]


@pytest.mark.async_timeout(30)
async def test_graceful_stop_and_restart(server, connect):
    conn = await connect(server, reconnect_timeout=0.1)
    server.stop()
    restart_with_new_schema(server)
    assert (await wait_for_success(conn)).body == ["back"]
    assert (await conn.select("tester")).rowcount == 0


@pytest.mark.async_timeout(30)
async def test_disconnect_stops_reconnecting(server, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(server, reconnect_timeout=0.05))
    await conn.connect()
    server.kill()
    await asyncio.sleep(0.3)  # it is retrying now
    await asyncio.wait_for(conn.disconnect(), 5)
    assert conn.state == tb.connection_state().DISCONNECTED
    restart_with_new_schema(server)
    before = tb.admin_eval(server, "return connects")[0]
    await asyncio.sleep(1.0)  # 20 reconnect periods
    assert not conn.is_connected
    assert conn.state == tb.connection_state().DISCONNECTED
    # Only our own admin connection reached the restarted server meanwhile.
    assert tb.admin_eval(server, "return connects")[0] == before + 1
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await conn.ping()


@pytest.mark.async_timeout(30)
async def test_no_reconnect_when_disabled(server, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(server, reconnect_timeout=0))
    await conn.connect()
    try:
        server.kill()
        assert await wait_until(lambda: not conn.is_connected, 5)
        restart_with_new_schema(server)
        before = tb.admin_eval(server, "return connects")[0]
        await asyncio.sleep(0.5)
        assert not conn.is_connected
        with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
            await conn.ping()
        assert tb.admin_eval(server, "return connects")[0] == before + 1
        # An explicit connect() works again.
        await conn.connect()
        assert (await conn.call("func_hello")).body == ["hello"]
    finally:
        await conn.disconnect()


@pytest.mark.async_timeout(30)
async def test_connect_waits_for_server_with_reconnect(server, loop):
    server.kill()
    conn = tb.driver.Connection(**tb.conn_kwargs(server, reconnect_timeout=0.05,
                                                 connect_timeout=10))
    try:
        connecting = asyncio.ensure_future(conn.connect())
        await asyncio.sleep(0.3)
        assert not connecting.done()
        restart_with_new_schema(server)
        await asyncio.wait_for(connecting, 10)
        assert conn.is_fully_connected
        assert (await conn.call("func_hello")).body == ["hello"]
    finally:
        await conn.disconnect()


@pytest.mark.async_timeout(30)
async def test_auth_failure_on_reconnect_does_not_leak_password(server, loop, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Old-Secret-4-t2"
    server.lua = tb.INIT_LUA + f"box.schema.user.create('t2', {{password = '{secret}'}})"
    server.restart()
    conn = tb.driver.Connection(host=server.host, port=server.port, username="t2",
                                password=secret, reconnect_timeout=0.05)
    await conn.connect()
    try:
        server.kill()
        server.lua = tb.INIT_LUA + "box.schema.user.create('t2', {password = 'changed'})"
        server.start()
        await asyncio.sleep(0.5)  # several failed reconnect attempts
        assert not conn.is_fully_connected
        with pytest.raises(tb.exceptions.TarantoolError):
            await conn.ping()
    finally:
        await asyncio.wait_for(conn.disconnect(), 5)
    assert secret not in caplog.text
    assert secret not in repr(conn)


@tb.skip_asynctnt("drop a connection whose background ping times out (requests hang)")
@pytest.mark.async_timeout(30)
async def test_stalled_server_detected_by_ping(server, connect):
    conn = await connect(server, ping_timeout=0.3, reconnect_timeout=0.1)
    server.pause()  # SIGSTOP: the socket stays open, nothing is answered
    try:
        started = time.monotonic()
        calls = [asyncio.ensure_future(conn.call("func_hello")) for _ in range(20)]  # no timeout
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        assert time.monotonic() - started < 10
        assert all(isinstance(r, LOST) for r in results), results
    finally:
        server.resume()
    assert (await wait_for_success(conn)).body == ["back"]
    assert conn.is_fully_connected


@pytest.mark.async_timeout(30)
async def test_reconnect_over_unix_socket(connect):
    with TarantoolInstance(unix_socket=True, lua=tb.INIT_LUA) as unix_server:
        conn = await connect(host="unix/", port=unix_server.unix_path, username=tb.USER,
                             password=tb.PASSWORD, reconnect_timeout=0.1)
        assert (await conn.call("func_hello")).body == ["hello"]
        unix_server.kill()
        assert await wait_until(lambda: not conn.is_connected, 5)
        restart_with_new_schema(unix_server)
        assert (await wait_for_success(conn)).body == ["back"]
        await conn.insert("tester", [1, "unix"])
        assert tb.admin_eval(unix_server, "return box.space.tester:get{1}.name") == ["unix"]
        await conn.disconnect()


@tb.skip_asynctnt("stop the old background ping task on reconnect (they accumulate)")
@pytest.mark.async_timeout(60)
async def test_repeated_restarts_leak_no_tasks(server, connect):
    conn = await connect(server, reconnect_timeout=0.05, ping_timeout=0.5)
    await conn.ping()
    baseline = len(asyncio.all_tasks())
    for _ in range(5):
        server.kill()
        assert await wait_until(lambda: not conn.is_connected, 5)
        server.start()
        assert (await wait_for_success(conn)).body == ["back"]
    await asyncio.sleep(0.1)
    assert len(asyncio.all_tasks()) <= baseline
    assert conn.is_fully_connected
    if not tb.IS_ASYNCTNT:
        # The background ping (every 0.5 s) may be in flight at any instant;
        # a leaked request would stay pending for good, the ping is answered.
        assert await wait_until(lambda: tb.pending_count(conn) == 0, 5)
