"""Many coroutines on one connection: every reply reaches its own request.

Payload sizes vary from bytes to ~200 KB so replies straddle read-buffer boundaries and
requests pile up in one coalesced write.
"""
import asyncio
import random

import pytest

from tests import _testbase as tb


@pytest.mark.async_timeout(60)
async def test_300_coroutines_mixed_operations(tnt, conn):
    rng = random.Random(42)
    sizes = [rng.choice([0, 1, 10, 100, 1000, 10_000, 200_000]) for _ in range(300)]

    async def worker(n):
        payload = "p" * sizes[n]
        for i in range(10):
            key = n * 100 + i
            res = await conn.insert("tester", [key, f"name-{key}", payload])
            assert res[0][0] == key and res[0][2] == payload
            res = await conn.select("tester", [key])
            assert list(res[0]) == [key, f"name-{key}", payload]
            res = await conn.update("tester", [key], [["=", 1, f"upd-{key}"]])
            assert res[0][1] == f"upd-{key}"
            res = await conn.call("func_param", [key, payload])
            assert res.body == [key, payload]
            res = await conn.delete("tester", [key])
            assert res[0]["name"] == f"upd-{key}"
        return n

    done = await asyncio.gather(*(worker(n) for n in range(300)))
    assert done == list(range(300))
    assert tb.admin_eval(tnt, "return box.space.tester:len()") == [0]


@pytest.mark.async_timeout(60)
async def test_50000_pings_in_one_burst(conn):
    results = await asyncio.gather(*(conn.ping() for _ in range(50_000)))
    assert len({r.sync for r in results}) == 50_000
    assert all(r.code == 0 for r in results)


async def test_two_connections_are_independent(tnt, connect):
    a = await connect(tnt)
    b = await connect(tnt)
    ra, rb = await asyncio.gather(
        asyncio.gather(*(a.call("func_param", ["a", i]) for i in range(500))),
        asyncio.gather(*(b.call("func_param", ["b", i]) for i in range(500))))
    assert [r.body for r in ra] == [["a", i] for i in range(500)]
    assert [r.body for r in rb] == [["b", i] for i in range(500)]
    await a.disconnect()
    assert (await b.ping()).code == 0


@tb.skip_asynctnt("coalesce writes (it writes once per request)")
async def test_requests_of_one_loop_turn_are_written_in_64s(conn, loop):
    # On 2.10+ the driver watches box.shutdown: let that watch's first event arrive
    # and its acknowledgement go out, so that only the requests below are written.
    await conn.ping()
    if conn.features.watchers:
        st = conn._watchers._states["box.shutdown"]
        for _ in range(500):
            if st.has_value and st.acked:
                break
            await asyncio.sleep(0.01)
        assert st.has_value and st.acked
    await asyncio.sleep(0.05)  # the acknowledgement's write goes out at the end of its turn
    transport = conn._transport
    try:
        original = transport.write
        writes = []

        def counting_write(data):
            writes.append(len(data))
            return original(data)

        transport.write = counting_write
    except AttributeError:
        pytest.skip("this loop's transport cannot be instrumented (uvloop)")
    try:
        futures = [conn.ping() for _ in range(1000)]  # one loop turn, no await in between
        futures += [conn.call("func_param", [i]) for i in range(1000)]
        results = await asyncio.gather(*futures)
    finally:
        del transport.write
    assert len(results) == 2000
    # coalesced: a write per 64 requests of the turn (the server starts on them while the
    # rest are made), the remainder when the turn ends; never a write per request
    assert len(writes) == -(-2000 // 64), writes[:10]
