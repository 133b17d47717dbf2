"""Streams and interactive transactions (Tarantool 2.10+): asynctnt's Stream API."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from loadtnt.instance import TarantoolInstance, version_tuple
from tests import _testbase as tb

E = tb.exceptions


@pytest.fixture(scope="module")
def mvcc() -> Iterator[TarantoolInstance]:
    """A server of the suite's binary with the MVCC engine (isolation is visible there)."""
    instance = TarantoolInstance(lua=tb.INIT_LUA)
    if version_tuple(instance.binary) < (2, 10):
        pytest.skip(f"needs Tarantool 2.10+ for streams; {instance.binary} is older")
    instance._cfg["memtx_use_mvcc_engine"] = True
    with instance:
        yield instance


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "mvcc" in request.fixturenames:
        tb.truncate(request.getfixturevalue("mvcc"))


def _rows(tnt):
    return sorted(tuple(r) for r in tb.admin_eval(tnt, "return box.space.tester:select()")[0])


async def test_stream_has_every_request_method(mvcc, connect):
    conn = await connect(mvcc)
    s = conn.stream()
    assert s.stream_id > 0 and conn.stream().stream_id != s.stream_id
    for name in ("ping", "select", "insert", "replace", "update", "upsert", "delete", "call",
                 "call16", "eval", "execute", "begin", "commit", "rollback"):
        assert callable(getattr(s, name)), name
    assert (await s.ping()).code == 0
    assert (await s.call("func_hello"))[0] == "hello"


async def test_two_streams_see_writes_only_after_commit(mvcc, connect):
    conn = await connect(mvcc)
    a, b = conn.stream(), conn.stream()
    await a.begin(tb.driver.Isolation.READ_COMMITTED)
    await a.insert("tester", [1, "uncommitted"])
    assert [tuple(t) for t in await a.select("tester", [1])] == [(1, "uncommitted")]
    assert (await b.select("tester", [1])).rowcount == 0
    assert (await conn.select("tester", [1])).rowcount == 0
    assert _rows(mvcc) == []
    await a.commit()
    assert [tuple(t) for t in await b.select("tester", [1])] == [(1, "uncommitted")]
    assert _rows(mvcc) == [(1, "uncommitted")]


async def test_rollback_discards(mvcc, connect):
    conn = await connect(mvcc)
    s = conn.stream()
    await s.begin()
    await s.insert("tester", [1, "one"])
    await s.replace("tester", [2, "two"])
    await s.rollback()
    assert _rows(mvcc) == []


async def test_context_manager_commits_or_rolls_back(mvcc, connect):
    conn = await connect(mvcc)
    async with conn.stream() as s:
        await s.insert("tester", [1, "kept"])
    assert _rows(mvcc) == [(1, "kept")]
    with pytest.raises(RuntimeError):
        async with conn.stream() as s:
            await s.insert("tester", [2, "dropped"])
            raise RuntimeError("boom")
    assert _rows(mvcc) == [(1, "kept")]


@pytest.mark.parametrize("isolation", ["DEFAULT", "READ_COMMITTED", "READ_CONFIRMED",
                                       "BEST_EFFORT"])
async def test_every_isolation_level_is_accepted(mvcc, connect, isolation):
    conn = await connect(mvcc)
    s = conn.stream()
    await s.begin(isolation=tb.driver.Isolation[isolation], tx_timeout=5)
    await s.insert("tester", [1, isolation])
    await s.commit()
    assert _rows(mvcc) == [(1, isolation)]


async def test_tx_timeout_rolls_the_transaction_back(mvcc, connect):
    conn = await connect(mvcc)
    s = conn.stream()
    await s.begin(tx_timeout=0.1)
    await s.insert("tester", [1, "late"])
    await asyncio.sleep(0.3)
    with pytest.raises(E.TarantoolDatabaseError):
        await s.commit()
    assert _rows(mvcc) == []


async def test_requests_of_a_stream_carry_its_id(mvcc, connect):
    # the server runs a stream's requests inside its transaction: the id went along
    conn = await connect(mvcc)
    s = conn.stream()
    await s.begin()
    inside = await s.eval("return box.is_in_txn()")
    outside = await conn.eval("return box.is_in_txn()")
    await s.commit()
    assert inside[0] is True and outside[0] is False


async def test_bad_isolation_is_refused_before_sending(mvcc, connect):
    conn = await connect(mvcc)
    s = conn.stream()
    with pytest.raises(ValueError):
        s.begin(isolation=9)
    with pytest.raises(TypeError):
        s.begin(isolation="serializable")
    assert (await s.ping()).code == 0


async def test_many_transactions_concurrently(mvcc, connect):
    conn = await connect(mvcc)

    async def one(i):
        async with conn.stream() as s:
            await s.insert("tester", [2 * i, "a"])
            await s.insert("tester", [2 * i + 1, "b"])

    await asyncio.gather(*(one(i) for i in range(200)))
    assert len(_rows(mvcc)) == 400


async def test_server_without_streams_refuses_before_sending(tnt, conn):
    if tb.server_version(tnt) >= (2, 10):
        pytest.skip("needs a server before 2.10 (no streams), e.g. Debian's 2.6")
    with pytest.raises(E.TarantoolError, match="2.10"):
        conn.stream()
    assert not conn.features.streams
    assert (await conn.ping()).code == 0


async def test_pages_in_a_stream_walk_inside_its_transaction(mvcc, connect):
    tb.need_version(mvcc, (2, 11), "pagination")
    conn = await connect(mvcc)
    for i in range(1, 8):
        await conn.insert("tester", [i, f"c{i}"])
    async with conn.stream() as s:
        await s.insert("tester", [8, "mine"])          # uncommitted: this transaction's
        await s.delete("tester", [3])
        mine = [t[0] async for page in s.pages("tester", page_size=3) for t in page]
        theirs = [t[0] async for page in conn.pages("tester", page_size=3) for t in page]
        assert mine == [1, 2, 4, 5, 6, 7, 8]
        assert theirs == [1, 2, 3, 4, 5, 6, 7]
        sizes = [len(page) async for page in s.pages("tester", page_size=3, after=[2])]
        assert sizes == [3, 2]                        # 4 5 6, then 7 8
    assert [t[0] async for page in conn.pages("tester") for t in page] == [1, 2, 4, 5, 6, 7, 8]
