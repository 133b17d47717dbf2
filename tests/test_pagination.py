"""Pagination (Tarantool 2.11+, IPROTO feature ``pagination``): ``select(..., after=,
fetch_pos=True)``, ``response.position`` and ``conn.pages()``; the refusal on older servers."""
import asyncio

import msgpack
import pytest

from tests import _testbase as tb
from tests._fakeserver import BOUND, FakeServer, frame, greeting, read_request

pytestmark = tb.only_loadtnt

E = tb.exceptions
IPROTO_FETCH_POSITION, IPROTO_AFTER_POSITION, IPROTO_AFTER_TUPLE = 0x1F, 0x2E, 0x2F
IPROTO_POSITION = 0x35


def need_pagination(tnt):
    tb.need_version(tnt, (2, 11), "pagination")


def fill(tnt, count=10):
    """[i, 'n' .. i % 3] for i in 1..count, inserted server-side."""
    tb.admin_eval(tnt, "for i = 1, ... do box.space.tester:insert{i, 'n' .. i % 3} end", count)
    return [[i, f"n{i % 3}"] for i in range(1, count + 1)]


def ids(res):
    return [t[0] for t in res]


async def test_fetch_pos_returns_a_position(tnt, conn):
    need_pagination(tnt)
    fill(tnt)
    res = await conn.select("tester", limit=3, fetch_pos=True)
    assert ids(res) == [1, 2, 3]
    assert isinstance(res.position, bytes) and res.position
    assert (await conn.select("tester", limit=3)).position is None


async def test_after_position_gives_the_next_page(tnt, conn):
    need_pagination(tnt)
    fill(tnt)
    first = await conn.select("tester", limit=4, fetch_pos=True)
    second = await conn.select("tester", limit=4, after=first.position, fetch_pos=True)
    assert ids(second) == [5, 6, 7, 8]
    # as str too (a position someone decoded), and without fetching the next one
    third = await conn.select("tester", limit=4, after=second.position.decode())
    assert ids(third) == [9, 10]
    assert third.position is None


async def test_after_tuple(tnt, conn):
    need_pagination(tnt)
    fill(tnt)
    assert ids(await conn.select("tester", limit=3, after=[4, "n1"])) == [5, 6, 7]
    assert ids(await conn.select("tester", limit=3, after=(4, "n1"))) == [5, 6, 7]
    page = await conn.select("tester", limit=2)
    assert ids(await conn.select("tester", limit=2, after=page[-1])) == [3, 4]


@pytest.mark.parametrize("iterator, key, expected", [
    ("GE", [3], [[3, 4, 5], [6, 7, 8], [9, 10]]),
    ("GT", [3], [[4, 5, 6], [7, 8, 9], [10]]),
    ("LE", [8], [[8, 7, 6], [5, 4, 3], [2, 1]]),
    ("LT", [8], [[7, 6, 5], [4, 3, 2], [1]]),
    ("LE", None, [[10, 9, 8], [7, 6, 5], [4, 3, 2], [1]]),
])
async def test_iterators_page_by_position(tnt, conn, iterator, key, expected):
    need_pagination(tnt)
    fill(tnt)
    pages, after = [], None
    while True:
        res = await conn.select("tester", key, iterator=iterator, limit=3, after=after,
                                fetch_pos=True)
        if not len(res):
            break
        pages.append(ids(res))
        after = res.position
    assert pages == expected


async def test_empty_page_after_the_last_tuple(tnt, conn):
    need_pagination(tnt)
    fill(tnt, 3)
    res = await conn.select("tester", limit=3, fetch_pos=True)
    last = await conn.select("tester", limit=3, after=res.position, fetch_pos=True)
    assert list(last) == [] and last.position is None
    empty = await conn.select("tester", [100], iterator="GE", fetch_pos=True)
    assert list(empty) == [] and empty.position is None


async def test_non_unique_index_with_duplicates(tnt, conn):
    # the position of a non-unique index includes the primary key parts: the walk
    # neither repeats nor skips a tuple among equal secondary keys
    need_pagination(tnt)
    tb.admin_eval(tnt, "for i = 1, 23 do box.space.tester:insert{i, i % 2 == 0 and 'b' or 'a'} end")
    seen = []
    async for page in conn.pages("tester", index="txt", page_size=4):
        assert 0 < len(page) <= 4
        seen.extend((t[1], t[0]) for t in page)
    assert seen == sorted(seen) and len(seen) == 23 == len(set(seen))
    same = [t[0] async for page in conn.pages("tester", ["b"], index="txt", page_size=3)
            for t in page]
    assert same == list(range(2, 24, 2))
    after_tuple = await conn.select("tester", ["a"], index="txt", limit=2, after=[5, "a"])
    assert ids(after_tuple) == [7, 9]


@pytest.mark.parametrize("page_size", [1, 3, 5, 10, 11, 1000])
async def test_pages_walks_the_whole_index(tnt, conn, page_size):
    need_pagination(tnt)
    data = fill(tnt)
    pages = [page async for page in conn.pages("tester", page_size=page_size)]
    assert [list(t) for page in pages for t in page] == data
    assert all(len(page) == page_size for page in pages[:-1])
    assert len(pages) == -(-len(data) // page_size)


async def test_pages_with_iterator_key_and_resume(tnt, conn):
    need_pagination(tnt)
    fill(tnt)
    walk = conn.pages("tester", [7], iterator="LE", page_size=2)
    first = await walk.__anext__()
    assert ids(first) == [7, 6]
    await walk.aclose()
    rest = [ids(p) async for p in conn.pages("tester", [7], iterator=tb.driver.Iterator.LE,
                                               page_size=2, after=first.position)]
    assert rest == [[5, 4], [3, 2], [1]]


async def test_pages_of_an_empty_space(tnt, conn):
    need_pagination(tnt)
    assert [p async for p in conn.pages("tester")] == []


async def test_bad_arguments(tnt, conn):
    need_pagination(tnt)
    with pytest.raises(TypeError):
        conn.select("tester", after=5)
    with pytest.raises(TypeError):
        conn.select("tester", after={"id": 1})
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            await conn.pages("tester", page_size=bad).__anext__()
    assert tb.pending_count(conn) == 0


async def test_refused_before_sending_on_a_server_without_pagination(tnt, conn):
    if tb.server_version(tnt) >= (2, 11):
        pytest.skip("the server has pagination")
    assert not conn.features.pagination
    with pytest.raises(E.TarantoolError, match="pagination.*2.11"):
        conn.select("tester", fetch_pos=True)
    with pytest.raises(E.TarantoolError, match="pagination.*2.11"):
        conn.select("tester", after=b"xyz")
    with pytest.raises(E.TarantoolError, match="pages.*2.11"):
        await conn.pages("tester").__anext__()
    assert tb.pending_count(conn) == 0
    await conn.insert("tester", [1, "a"])
    assert ids(await conn.select("tester")) == [1]    # nothing else was sent


# --- the wire, through a fake 2.11 server --------------------------------------------------

def serve_pagination(bodies, reply_body):
    async def serve(index, reader, writer):
        while True:
            header, body = await read_request(reader)
            if header[0] in (0x4a, 0x4b):  # IPROTO_WATCH/UNWATCH (box.shutdown): no reply
                continue
            if header[0] == 0x49:  # IPROTO_ID
                out = {0x54: 4, 0x55: [0, 1, 2, 3, 4]}
            else:
                bodies.append(body)
                out = None
            payload = msgpack.packb({0: 0, 1: header[1], 5: 1})
            payload += msgpack.packb(out) if out is not None else reply_body
            writer.write(frame(payload))
            await writer.drain()
    return serve


async def test_wire_keys(loop):
    bodies = []
    reply = msgpack.packb({0x30: [[1, "a"]], IPROTO_POSITION: b"\x00pos\xff"}, use_bin_type=False)
    async with FakeServer(serve_pagination(bodies, reply),
                          greet=greeting("2.11.0")) as server:
        conn = server.connection()
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            res = await asyncio.wait_for(conn.select(512, limit=1, fetch_pos=True), BOUND)
            assert res.position == b"\x00pos\xff"      # raw bytes, never decoded as text
            await asyncio.wait_for(conn.select(512, after=b"pos-1"), BOUND)
            await asyncio.wait_for(conn.select(512, after=[1, "a"], fetch_pos=True), BOUND)
            await asyncio.wait_for(conn.select(512), BOUND)
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)
    assert bodies[0][IPROTO_FETCH_POSITION] is True
    assert IPROTO_AFTER_POSITION not in bodies[0] and IPROTO_AFTER_TUPLE not in bodies[0]
    assert bodies[1][IPROTO_AFTER_POSITION] == "pos-1"    # an MP_STR
    assert IPROTO_FETCH_POSITION not in bodies[1]
    assert bodies[2][IPROTO_AFTER_TUPLE] == [1, "a"] and bodies[2][IPROTO_FETCH_POSITION] is True
    assert not {IPROTO_FETCH_POSITION, IPROTO_AFTER_POSITION, IPROTO_AFTER_TUPLE} & set(bodies[3])


@pytest.mark.parametrize("reply", [
    b"\x82\x30\x90\x35\x01", b"\x82\x30\x90\x35\x91\x01", b"\x82\x30\x90\x35\xa5ab",
    b"\x82\x30\x90\x35\xd9", b"\x83\x30\x90\x35\xa1p\x43\x01", b"\x83\x30\x90\x43\x01\x35\xa1p",
], ids=["int", "array", "truncated", "truncated-header", "and-stmt-id", "after-stmt-id"])
async def test_malformed_position(loop, reply):
    async with FakeServer(serve_pagination([], reply), greet=greeting("2.11.0")) as server:
        conn = server.connection()
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            with pytest.raises(E.TarantoolNetworkError) as info:
                await asyncio.wait_for(conn.select(512, fetch_pos=True), BOUND)
            assert isinstance(info.value, E.ProtocolError) or isinstance(
                info.value.__cause__, E.ProtocolError), repr(info.value)
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)
