"""ping: the smallest round trip."""
import asyncio

import pytest

from tests import _testbase as tb


async def test_ping(conn):
    res = await conn.ping()
    assert isinstance(res, tb.driver.Response)
    assert res.code == 0
    assert res.sync > 0
    assert res.body is None or len(res) == 0


async def test_ping_syncs_increase(conn):
    first = await conn.ping()
    second = await conn.ping()
    assert second.sync > first.sync


async def test_ping_with_timeout(conn):
    res = await conn.ping(timeout=5)
    assert res.code == 0


async def test_many_concurrent_pings(conn):
    results = await asyncio.gather(*(conn.ping() for _ in range(1000)))
    assert len({r.sync for r in results}) == 1000
    assert all(r.code == 0 for r in results)


async def test_ping_not_connected(tnt, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await conn.ping()
