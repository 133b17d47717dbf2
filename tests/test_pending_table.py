"""The protocol's table of requests in flight (PendingTable, pending.pyx): a C array indexed by
sync, whose slot a request pending for long may still hold when the syncs come round to it
again; those go aside in a dict. Every reply must find its request, whichever place it is in,
and a timeout or a cancel must remove it from there.

The long-pending requests wait on a fiber channel on the server until the test releases them,
so no assertion depends on how fast the machine is."""
import asyncio

import pytest

from tests import _testbase as tb

GATE = "gate_pending_table"
HOLD = f"local v = {GATE}:get(30) return v"          # waits until released (30 s at most)
SLOW = "local d = ... require('fiber').sleep(d) return d"


@pytest.fixture
def gate(loop, conn):
    loop.run_until_complete(conn.eval(
        f"if {GATE} == nil then {GATE} = require('fiber').channel(1000) end"))

    async def release(n: int, value: object = "go") -> None:
        for _ in range(n):
            await conn.eval(f"{GATE}:put(...)", [value])

    yield release
    loop.run_until_complete(conn.eval(f"while {GATE}:has_readers() do {GATE}:put('end') end"))


async def test_a_held_request_keeps_its_slot_while_the_syncs_go_round(conn, gate):
    # the first table has 1024 slots: 3000 pings one after the other take the held request's
    # slot at least twice, and go aside then
    held = conn.eval(HOLD)
    for _ in range(3000):
        await conn.ping()
    assert tb.pending_count(conn) == 1
    await gate(1, "a")
    assert (await held)[0] == "a"
    assert tb.pending_count(conn) == 0


async def test_requests_aside_are_answered_and_counted(conn, gate):
    # several held ones, their slots taken by a crowd of pings in flight at once
    held = [conn.eval(HOLD) for _ in range(5)]
    crowd = await asyncio.gather(*(conn.ping() for _ in range(3000)))
    assert all(r.code == 0 for r in crowd)
    assert len({r.sync for r in crowd}) == 3000
    assert tb.pending_count(conn) == 5
    await gate(5, "b")
    assert [r[0] for r in await asyncio.gather(*held)] == ["b"] * 5
    assert tb.pending_count(conn) == 0


async def test_the_table_grows_with_what_is_in_flight(conn):
    # more requests in flight than half the first table's slots: it grows, and none is lost
    results = await asyncio.gather(*(conn.call('box.info') if i % 7 == 0 else conn.ping()
                                     for i in range(5000)))
    assert len(results) == 5000
    assert tb.pending_count(conn) == 0


async def test_a_timeout_removes_a_request_that_was_aside(conn, gate):
    # Syncs are handed out one after the other, so whichever request gets the sync 1024
    # after the held one's finds its slot taken: one of the 60 late requests is aside.
    held = conn.eval(HOLD)
    for _ in range(1000):
        await conn.ping()
    late = [conn.eval(SLOW, [5], timeout=0.05) for _ in range(60)]
    outcomes = await asyncio.gather(*late, return_exceptions=True)
    assert all(isinstance(o, asyncio.TimeoutError) for o in outcomes), outcomes
    assert tb.pending_count(conn) == 1
    await gate(1, "c")
    assert (await held)[0] == "c"
    assert tb.pending_count(conn) == 0


async def test_a_cancel_removes_requests_wherever_they_are(conn, gate):
    held = conn.eval(HOLD)
    for _ in range(1000):
        await conn.ping()
    doomed = [asyncio.ensure_future(conn.eval(SLOW, [5])) for _ in range(60)]
    await asyncio.sleep(0.01)
    assert tb.pending_count(conn) == 61
    for t in doomed:
        t.cancel()
    outcomes = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert tb.pending_count(conn) == 1
    await gate(1, "d")
    assert (await held)[0] == "d"
    assert tb.pending_count(conn) == 0
