"""box.session.push: push_subscribe=True on call and eval, read with PushIterator.

The pushes of a request arrive as IPROTO_CHUNK packets before its final reply. PushIterator
yields each (a list: the packet's IPROTO_DATA) in order and ends at the final reply, which
awaiting the request returns; if the request failed (an error reply, a timeout, a lost
connection) it raises that error after the last push: an error reply once, a failure without
a reply (timeout, lost connection) on every later call, as asynctnt. It never hangs.
"""
import asyncio

import msgpack
import pytest

from loadtnt.instance import TarantoolInstance
from tests import _testbase as tb

PushIterator = tb.driver.PushIterator

PUSH_LUA = r"""
local fiber = require('fiber')
function push_n(n, prefix)
    for i = 1, n do box.session.push(prefix .. i) end
    return 'done', n
end
function push_values(...)
    for _, v in ipairs({...}) do box.session.push(v) end
    return 'ret'
end
-- pushes 1, 2, 3, says so in push_test_ready, then waits: the connection is lost meanwhile
function push_then_wait(t)
    push_test_ready = false
    for i = 1, 3 do box.session.push(i) end
    push_test_ready = true
    fiber.sleep(t)
    return 'late'
end
function push_wait_ready()
    while not push_test_ready do fiber.sleep(0.01) end
    return true
end
"""

INVALID = ("Future is invalid. Make sure to call with a future returned from a method with "
           "push_subscribe=True flag")


@pytest.fixture
def push_lua(tnt):
    tb.admin_eval(tnt, PUSH_LUA)


@pytest.fixture
def own_server():
    """A server of this test's own: the session server must not be killed."""
    with TarantoolInstance(lua=tb.INIT_LUA + PUSH_LUA) as server:
        yield server


async def read_all(it):
    return [entry async for entry in it]


async def test_many_pushes_then_final_result(conn, push_lua):
    fut = conn.call("push_n", [1000, "p"], push_subscribe=True)
    it = PushIterator(fut)
    assert not it.response.done()
    got = await read_all(it)
    assert got == [[f"p{i}"] for i in range(1, 1001)]
    res = await fut
    assert isinstance(res, tb.driver.Response)
    assert res.code == 0 and res.return_code == 0
    assert res.body == ["done", 1000]
    assert res.done() and it.response.done()
    assert res.sync == it.response.sync
    # exhausted: it stays so
    assert await read_all(it) == []


async def test_push_from_eval(conn):
    fut = conn.eval("""
        for i = 1, 5 do
            box.session.push('hello_' .. tostring(i))
            require('fiber').sleep(0.01)
        end
        return 'ret'
    """, push_subscribe=True)
    it = PushIterator(fut)
    assert [entry[0] async for entry in it] == [f"hello_{i}" for i in range(1, 6)]
    assert (await fut).body == ["ret"]


async def test_push_from_call_any_values(conn, push_lua):
    values = [1, "two", [3, 4], {"five": 5}, None, True, 2.5]
    fut = conn.call("push_values", values, push_subscribe=True)
    assert await read_all(PushIterator(fut)) == [[v] for v in values]
    assert (await fut).body == ["ret"]


async def test_push_with_pauses_between(conn):
    fut = conn.eval("""
        local fiber = require('fiber')
        box.session.push('a')
        fiber.sleep(0.05)
        box.session.push('b')
        fiber.sleep(0.3)
        box.session.push('c')
        return 'ret'
    """, push_subscribe=True)
    assert await read_all(PushIterator(fut)) == [["a"], ["b"], ["c"]]
    assert (await fut).body == ["ret"]


async def test_slow_consumer_loses_nothing(conn, push_lua):
    fut = conn.call("push_n", [300, "s"], push_subscribe=True)
    it = PushIterator(fut)
    got = []
    async for entry in it:
        got.append(entry[0])
        if len(got) % 50 == 0:
            await asyncio.sleep(0.02)
    assert got == [f"s{i}" for i in range(1, 301)]
    assert (await fut).body == ["done", 300]


async def test_pushes_buffered_until_read_after_the_final_reply(conn, push_lua):
    fut = conn.call("push_n", [500, "b"], push_subscribe=True)
    it = PushIterator(fut)
    res = await fut    # nobody read a push yet: all are kept
    assert res.body == ["done", 500]
    assert it.response is res
    assert await read_all(it) == [[f"b{i}"] for i in range(1, 501)]


async def test_read_in_parts(conn, push_lua):
    fut = conn.call("push_n", [5, "hello_"], push_subscribe=True)
    it = PushIterator(fut)
    result = []
    async for entry in it:
        result.append(entry[0])
        if len(result) == 2:
            break
    async for entry in it:
        result.append(entry[0])
    assert result == [f"hello_{i}" for i in range(1, 6)]
    assert (await fut).body == ["done", 5]


async def test_two_iterators_share_the_pushes(conn):
    fut = conn.eval("for i = 1, 50 do box.session.push(i) end", push_subscribe=True)
    it1, it2 = PushIterator(fut), PushIterator(fut)
    res1, res2 = await asyncio.gather(read_all(it1), read_all(it2))
    assert sorted(e[0] for e in res1 + res2) == list(range(1, 51))
    assert (await fut).body == []


@tb.skip_asynctnt("an error reply that comes with pushes while the iterator waits drops them")
async def test_error_after_pushes(conn):
    fut = conn.eval("box.session.push(1) box.session.push(2) error('after pushes')",
                    push_subscribe=True)
    it = PushIterator(fut)
    assert await it.__anext__() == [1]
    assert await it.__anext__() == [2]
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await it.__anext__()
    assert "after pushes" in info.value.message
    assert await read_all(it) == []    # the error reply was raised: exhausted (as asynctnt)
    with pytest.raises(tb.exceptions.TarantoolDatabaseError):
        await fut


@tb.skip_asynctnt("read after the error reply arrived, it ends without raising the error")
async def test_error_after_pushes_read_late(conn):
    # the error reply arrived before anything was read: the pushes first, then the error
    fut = conn.eval("for i = 1, 3 do box.session.push(i) end box.error(box.error.ILLEGAL_PARAMS, 'x')",
                    push_subscribe=True)
    await asyncio.wait([fut])
    it = PushIterator(fut)
    got = []
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        async for entry in it:
            got.append(entry[0])
    assert got == [1, 2, 3]
    assert info.value.code == tb.exceptions.ErrorCode.ER_ILLEGAL_PARAMS
    assert it.response.done()
    with pytest.raises(tb.exceptions.TarantoolDatabaseError):
        await fut


async def test_error_without_pushes(conn):
    fut = conn.eval("error('some error')", push_subscribe=True)
    it = PushIterator(fut)
    with pytest.raises(tb.exceptions.TarantoolDatabaseError):
        await it.__anext__()
    with pytest.raises(tb.exceptions.TarantoolDatabaseError):
        await fut


async def test_invalid_futures(conn):
    with pytest.raises(ValueError) as info:
        PushIterator(asyncio.get_running_loop().create_future())
    assert str(info.value) == INVALID
    fut = conn.call("func_hello")
    with pytest.raises(ValueError) as info:
        PushIterator(fut)
    assert str(info.value) == INVALID
    assert (await fut).body == ["hello"]


async def test_sync_iteration_is_refused(conn):
    fut = conn.eval("box.session.push(1)", push_subscribe=True)
    it = PushIterator(fut)
    with pytest.raises(RuntimeError) as info:
        for _ in it:
            pass
    assert str(info.value) == "Cannot use iter with PushIterator - use aiter"
    with pytest.raises(RuntimeError):
        next(it)
    assert await read_all(it) == [[1]]
    await fut


async def test_push_subscribe_false_default(conn, push_lua):
    res = await conn.call("push_n", [3, "x"])
    assert res.body == ["done", 3]
    res = await conn.eval("box.session.push(1) return 2", push_subscribe=False)
    assert res.body == [2]
    assert res.done()


@tb.only_loadtnt
async def test_unsubscribed_pushes_are_dropped_and_counted(conn, push_lua):
    before = conn._protocol.dropped_pushes
    res = await conn.call("push_n", [7, "x"])
    assert res.body == ["done", 7]
    assert conn._protocol.dropped_pushes == before + 7
    # a subscribed request alongside an unsubscribed one: each gets its own
    a = conn.call("push_n", [4, "a"], push_subscribe=True)
    b = conn.call("push_n", [5, "b"])
    assert (await b).body == ["done", 5]
    assert await read_all(PushIterator(a)) == [[f"a{i}"] for i in range(1, 5)]
    assert conn._protocol.dropped_pushes == before + 12
    assert tb.pending_count(conn) == 0


@tb.skip_asynctnt("a timed-out push request leaves its iterator waiting (asynctnt #17)")
async def test_timeout_ends_the_iteration(conn):
    fut = conn.eval("box.session.push('first') require('fiber').sleep(5) return 'late'",
                    push_subscribe=True, timeout=0.3)
    it = PushIterator(fut)
    assert await asyncio.wait_for(it.__anext__(), 5) == ["first"]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(it.__anext__(), 5)
    with pytest.raises(asyncio.TimeoutError):
        await fut


@tb.skip_asynctnt("a cancelled push request leaves its iterator waiting")
async def test_cancelled_request_ends_the_iteration(conn):
    fut = conn.eval("box.session.push(1) require('fiber').sleep(3)", push_subscribe=True)
    it = PushIterator(fut)
    assert await it.__anext__() == [1]
    waiting = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.05)
    fut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    assert tb.pending_count(conn) == 0


async def test_cancelled_consumer_leaves_the_pushes_to_another(conn):
    fut = conn.eval("""
        box.session.push(1)
        require('fiber').sleep(1)
        box.session.push(2)
        box.session.push(3)
        return 'ret'
    """, push_subscribe=True)
    it = PushIterator(fut)
    assert await it.__anext__() == [1]
    consumer = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.02)  # waiting, well before push 2
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert await read_all(PushIterator(fut)) == [[2], [3]]
    assert (await fut).body == ["ret"]


async def test_disconnect_mid_iteration(tnt, connect, push_lua):
    conn = await connect(tnt, reconnect_timeout=0)
    fut = conn.call("push_then_wait", [3], push_subscribe=True)
    it = PushIterator(fut)
    assert await it.__anext__() == [1]
    assert await it.__anext__() == [2]
    assert await it.__anext__() == [3]
    waiting = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.05)
    await conn.disconnect()
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await fut


@pytest.mark.async_timeout(30)
async def test_server_killed_while_the_iterator_waits(own_server, connect):
    conn = await connect(own_server, reconnect_timeout=0)
    fut = conn.call("push_then_wait", [30], push_subscribe=True)
    it = PushIterator(fut)
    got = [await it.__anext__() for _ in range(3)]
    assert got == [[1], [2], [3]]
    waiting = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    own_server.kill()
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await asyncio.wait_for(waiting, 10)
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await fut
    # no reply came: the error again on every call (as asynctnt)
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await it.__anext__()


@pytest.mark.async_timeout(30)
async def test_server_killed_with_pushes_unread(own_server, connect):
    conn = await connect(own_server, reconnect_timeout=0)
    fut = conn.call("push_then_wait", [30], push_subscribe=True)
    it = PushIterator(fut)
    # this reply comes after the three pushes on the same connection: they were received
    assert (await conn.call("push_wait_ready")).body == [True]
    own_server.kill()
    got = []
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        async for entry in it:
            got.append(entry[0])
    assert got == [1, 2, 3]
    assert not it.response.done()
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await fut


@tb.only_loadtnt
async def test_malformed_push_closes_the_connection_cleanly(loop):
    # A fake server: one good push, one for a sync nobody sent, then a chunk without
    # IPROTO_DATA. The iterator yields the good one, then the protocol error; nothing hangs.
    from tests import _fakeserver

    def packet(header, body):
        return _fakeserver.frame(msgpack.packb(header) + msgpack.packb(body))

    async def serve(index, reader, writer):
        header, _ = await _fakeserver.read_request(reader)
        sync = header[_fakeserver.IPROTO_SYNC]
        writer.write(packet({0x00: 0x80, 0x01: sync}, {0x30: ["good"]}))
        writer.write(packet({0x00: 0x80, 0x01: sync + 1000}, {0x30: ["stray"]}))
        writer.write(packet({0x00: 0x80, 0x01: sync}, {0x31: "no data"}))
        await writer.drain()

    async with _fakeserver.FakeServer(serve) as server:
        conn = server.connection()
        await asyncio.wait_for(conn.connect(), _fakeserver.BOUND)
        try:
            proto = conn._protocol
            fut = conn.call("f", push_subscribe=True)
            it = PushIterator(fut)
            assert await asyncio.wait_for(it.__anext__(), _fakeserver.BOUND) == ["good"]
            with pytest.raises(tb.exceptions.ProtocolError, match="IPROTO_DATA"):
                await asyncio.wait_for(it.__anext__(), _fakeserver.BOUND)
            with pytest.raises(tb.exceptions.ProtocolError):
                await fut
            assert proto.dropped_pushes == 1    # the stray one
            await asyncio.wait_for(server.client_closed.wait(), _fakeserver.BOUND)
        finally:
            await conn.disconnect()
