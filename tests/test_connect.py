"""Connecting: greeting, auth, unix sockets, timeouts, lifecycle."""
import asyncio
import logging
import socket
import time

import pytest

from loadtnt.instance import TarantoolInstance
from tests import _testbase as tb

SECRET = "s3cr3t-Do-Not-Log"


@pytest.fixture(scope="module")
def unix_tnt():
    with TarantoolInstance(unix_socket=True, lua=tb.INIT_LUA) as instance:
        yield instance


async def test_connect_reads_greeting(tnt, connect):
    conn = await connect(tnt)
    assert conn.is_connected
    assert conn.is_fully_connected
    assert conn.state == tb.connection_state().CONNECTED
    assert tuple(conn.version) == tb.server_version(tnt)[:len(conn.version)]


async def test_connect_as_guest(tnt, connect):
    conn = await connect(host=tnt.host, port=tnt.port)
    assert conn.username is None
    res = await conn.eval("return box.session.user()")
    assert res.body == ["guest"]


async def test_connect_with_password(tnt, connect):
    conn = await connect(tnt)
    assert conn.username == tb.USER
    res = await conn.eval("return box.session.user()")
    assert res.body == [tb.USER]


async def test_wrong_password_raises_without_leaking_it(tnt, loop, caplog):
    caplog.set_level(logging.DEBUG)
    conn = tb.driver.Connection(host=tnt.host, port=tnt.port, username=tb.USER,
                                password=SECRET, reconnect_timeout=0)
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.connect()
    err = info.value
    assert err.code == tb.exceptions.ErrorCode.ER_PASSWORD_MISMATCH
    # 2.6: "Incorrect password supplied for user 't1'"; 3.x does not say which was wrong
    text = err.message.lower()
    assert "password" in text or "credentials are invalid" in text
    for text in (str(err), repr(err), err.message, repr(err.args)):
        assert SECRET not in text
    assert not conn.is_connected
    await conn.disconnect()
    assert SECRET not in caplog.text


async def test_unknown_user_raises(tnt, loop):
    conn = tb.driver.Connection(host=tnt.host, port=tnt.port, username="nobody",
                                password=SECRET, reconnect_timeout=0)
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.connect()
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    await conn.disconnect()


async def test_connection_repr_has_no_password(tnt, loop):
    conn = tb.driver.Connection(host=tnt.host, port=tnt.port, username=tb.USER, password=SECRET)
    assert SECRET not in repr(conn)
    assert SECRET not in str(conn)


async def test_unix_socket(unix_tnt, connect):
    assert unix_tnt.host == "unix/"
    conn = await connect(host="unix/", port=unix_tnt.unix_path,
                         username=tb.USER, password=tb.PASSWORD)
    res = await conn.call("func_hello")
    assert res.body == ["hello"]
    res = await conn.select("tester")
    assert res.rowcount == 0


async def test_connect_timeout_when_no_greeting(loop):
    # A listening socket that accepts (kernel backlog) but never sends a greeting.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
        conn = tb.driver.Connection(host="127.0.0.1", port=port, connect_timeout=0.3,
                                    reconnect_timeout=0)
        started = time.monotonic()
        with pytest.raises((asyncio.TimeoutError, tb.exceptions.TarantoolError)):
            await conn.connect()
        assert time.monotonic() - started < 5
        assert not conn.is_connected
        await conn.disconnect()


async def test_connect_refused(loop):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        conn = tb.driver.Connection(host="127.0.0.1", port=port, connect_timeout=1,
                                    reconnect_timeout=0)
        with pytest.raises((OSError, tb.exceptions.TarantoolNetworkError)):
            await conn.connect()
        assert not conn.is_connected


async def test_async_with(tnt, loop):
    async with tb.driver.Connection(**tb.conn_kwargs(tnt)) as conn:
        assert conn.is_connected
        res = await conn.ping()
        assert res.code == 0
    assert not conn.is_connected
    assert conn.state == tb.connection_state().DISCONNECTED


async def test_connect_disconnect_repeated(tnt, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
    for i in range(10):
        await conn.connect()
        assert conn.is_connected
        res = await conn.call("func_param", [i])
        assert res.body == [i]
        await conn.disconnect()
        assert not conn.is_connected
        assert conn.state == tb.connection_state().DISCONNECTED
    await conn.disconnect()  # twice is harmless


async def test_connect_twice_is_idempotent(tnt, connect):
    conn = await connect(tnt)
    await conn.connect()
    assert conn.is_connected
    assert (await conn.ping()).code == 0


async def test_request_after_disconnect_raises(tnt, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
    await conn.connect()
    await conn.disconnect()
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await conn.ping()


async def test_module_connect_shorthand(tnt, loop):
    conn = await tb.driver.connect(**tb.conn_kwargs(tnt))
    try:
        assert conn.is_connected
    finally:
        await conn.disconnect()


async def test_no_fetch_schema_uses_numeric_ids(tnt, connect):
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    conn = await connect(tnt, fetch_schema=False, auto_refetch_schema=False)
    assert conn.fetch_schema is False
    await conn.insert(space_id, [1, "one"])
    res = await conn.select(space_id, [1])
    assert res.rowcount == 1
    assert list(res[0]) == [1, "one"]
    res = await conn.select(space_id, ["one"], index=1)
    assert [list(t) for t in res] == [[1, "one"]]
    if getattr(conn.features, "space_and_index_names", False) and not tb.IS_ASYNCTNT:
        # 3.0+: the name goes on the wire (tests/test_names_in_requests.py)
        assert (await conn.select("tester")).rowcount == 1
    else:
        with pytest.raises(tb.exceptions.TarantoolSchemaError):
            await conn.select("tester")


async def test_properties(tnt, connect):
    conn = await connect(tnt, connect_timeout=2.5, request_timeout=7,
                         reconnect_timeout=0.5)
    assert conn.host == tnt.host
    assert conn.port == tnt.port
    assert conn.connect_timeout == 2.5
    assert conn.request_timeout == 7
    assert conn.reconnect_timeout == 0.5
    assert conn.encoding == "utf-8"
    assert conn.schema_id > 0


async def test_disconnect_fails_pending_requests(tnt, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
    await conn.connect()
    calls = [asyncio.ensure_future(conn.call("func_long", [30])) for _ in range(20)]
    await asyncio.sleep(0.05)
    await asyncio.wait_for(conn.disconnect(), 5)
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, tb.exceptions.TarantoolNetworkError) for r in results), results
    assert not conn.is_connected


async def test_close_is_immediate(tnt, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
    await conn.connect()
    assert conn.close() is None  # not a coroutine
    assert conn.state == tb.connection_state().DISCONNECTED
    assert not conn.is_connected
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await conn.ping()
    await asyncio.sleep(0.05)  # let the transport finish closing


async def test_reconnect_method(tnt, connect):
    conn = await connect(tnt)
    await conn.reconnect()
    assert conn.is_fully_connected
    assert (await conn.call("func_hello")).body == ["hello"]


async def test_connection_states(tnt, loop):
    state = tb.connection_state()
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
    assert conn.state == state.DISCONNECTED
    connecting = asyncio.ensure_future(conn.connect())
    await asyncio.sleep(0)
    assert conn.state in (state.CONNECTING, state.CONNECTED)
    await connecting
    assert conn.state == state.CONNECTED
    await conn.disconnect()
    assert conn.state == state.DISCONNECTED
    assert {s.name for s in state} >= {"CONNECTING", "CONNECTED", "RECONNECTING",
                                       "DISCONNECTING", "DISCONNECTED"}
