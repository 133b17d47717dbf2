"""Request timeouts: per request and connection-wide, late replies, nothing left pending."""
import asyncio
import time

import pytest

from tests import _testbase as tb


async def test_per_request_timeout(conn):
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await conn.call("func_long", [3], timeout=0.1)
    assert time.monotonic() - started < 2.5  # raised by the timer, not by the late reply
    assert (await conn.call("func_hello")).body == ["hello"]


@pytest.mark.parametrize("op", ["ping", "select", "insert", "eval", "call16"])
async def test_timeout_on_every_request_type(tnt, conn, connect, op):
    # Block the whole server so that even ping cannot be answered in time.
    blocker = await connect(tnt)
    block = asyncio.ensure_future(blocker.call("func_block", [0.6]))
    await asyncio.sleep(0.1)
    request = {
        "ping": lambda: conn.ping(timeout=0.1),
        "select": lambda: conn.select("tester", timeout=0.1),
        "insert": lambda: conn.insert("tester", [1, "a"], timeout=0.1),
        "eval": lambda: conn.eval("return 1", timeout=0.1),
        "call16": lambda: conn.call16("func_hello", timeout=0.1),
    }[op]
    with pytest.raises(asyncio.TimeoutError):
        await request()
    assert (await block).body == ["unblocked"]


async def test_connection_request_timeout(tnt, connect):
    conn = await connect(tnt, request_timeout=0.1)
    with pytest.raises(asyncio.TimeoutError):
        await conn.call("func_long", [3])
    # A per-request timeout overrides the connection-wide one.
    res = await conn.call("func_long", [0.3], timeout=5)
    assert res.body == ["ok"]


async def test_no_timeout_by_default(conn):
    res = await conn.call("func_long", [0.3])
    assert res.body == ["ok"]


async def test_late_reply_discarded(conn):
    with pytest.raises(asyncio.TimeoutError):
        await conn.call("func_long", [0.2], timeout=0.05)
    await asyncio.sleep(0.4)  # the late reply has arrived by now
    res = await conn.call("func_param", ["fresh"])
    assert res.body == ["fresh"]


async def test_many_late_replies_do_not_confuse_syncs(conn):
    timed_out = await asyncio.gather(
        *(conn.call("func_long", [0.2], timeout=0.05) for _ in range(200)),
        return_exceptions=True)
    assert all(isinstance(r, asyncio.TimeoutError) for r in timed_out)
    # While the 200 late replies stream in, fresh requests get their own results.
    results = await asyncio.gather(*(conn.call("func_param", [i]) for i in range(500)))
    assert [r.body for r in results] == [[i] for i in range(500)]


async def test_cancelled_request_leaves_connection_usable(conn):
    task = asyncio.ensure_future(conn.call("func_long", [0.3]))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.4)  # its reply arrives for nobody
    assert (await conn.call("func_param", [1])).body == [1]


async def block_and_flood(tnt, conn, connect, count):
    """Block the server, send ``count`` pings that all time out, return their outcomes."""
    blocker = await connect(tnt)
    # long enough that building 10,000 requests and their 0.2 s timeouts on a starved
    # machine still ends before the server is back
    block = asyncio.ensure_future(blocker.call("func_block", [2.5]))
    await asyncio.sleep(0.1)
    outcomes = await asyncio.gather(*(conn.ping(timeout=0.2) for _ in range(count)),
                                    return_exceptions=True)
    return block, outcomes


@pytest.mark.async_timeout(60)
async def test_10000_timed_out_requests_late_replies(tnt, conn, connect):
    block, outcomes = await block_and_flood(tnt, conn, connect, 10_000)
    assert all(isinstance(r, asyncio.TimeoutError) for r in outcomes)
    assert (await block).body == ["unblocked"]
    # The server now answers 10,000 pings nobody waits for; then ours.
    res = await conn.call("func_param", ["after"], timeout=30)
    assert res.body == ["after"]


@tb.skip_asynctnt("drop the pending entry when a request times out (it waits for the reply)")
@pytest.mark.async_timeout(60)
async def test_10000_timed_out_requests_leave_nothing_pending(tnt, conn, connect):
    assert tb.pending_count(conn) == 0
    block, outcomes = await block_and_flood(tnt, conn, connect, 10_000)
    assert all(isinstance(r, asyncio.TimeoutError) for r in outcomes)
    # Before a single late reply arrived (the server is still blocked), nothing is pending.
    assert not block.done()
    assert tb.pending_count(conn) == 0
    timer_count = getattr(conn._protocol, "timer_count", None)
    if timer_count is not None:  # loadtnt's timer buckets expire by themselves
        assert timer_count() == 0
    await block
    res = await conn.call("func_param", ["after"], timeout=30)
    assert res.body == ["after"]
    assert tb.pending_count(conn) == 0


@tb.skip_asynctnt("expose a pending-request counter")
async def test_pending_count_tracks_in_flight(conn):
    calls = [asyncio.ensure_future(conn.call("func_long", [1])) for _ in range(10)]
    await asyncio.sleep(0.05)  # sent, and far from answered
    assert tb.pending_count(conn) == 10
    await asyncio.gather(*calls)
    assert tb.pending_count(conn) == 0
