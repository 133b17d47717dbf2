"""Names in requests (Tarantool 3.0+, IPROTO feature ``space_and_index_names``): with
``fetch_schema=False`` spaces and indexes given by name go as IPROTO_SPACE_NAME /
IPROTO_INDEX_NAME, so no schema is needed; with a schema, ids as before; a clear error on a
server without the feature."""
import asyncio

import msgpack
import pytest

from tests import _testbase as tb
from tests._fakeserver import BOUND, FakeServer, frame, greeting, read_request

pytestmark = tb.only_loadtnt

E = tb.exceptions
IPROTO_SPACE_ID, IPROTO_INDEX_ID = 0x10, 0x11
IPROTO_SPACE_NAME, IPROTO_INDEX_NAME = 0x5E, 0x5F


def need_names(tnt):
    tb.need_version(tnt, (3, 0), "space_and_index_names")


async def no_schema(tnt, connect, **kwargs):
    conn = await connect(tnt, fetch_schema=False, **kwargs)
    assert conn.schema.spaces == {}    # nothing was fetched
    return conn


def stored(tnt):
    return [list(t) for t in tb.admin_eval(tnt, "return box.space.tester:select()")[0]]


async def test_select_by_space_and_index_name(tnt, loop, connect):
    need_names(tnt)
    conn = await no_schema(tnt, connect)
    assert conn.features.space_and_index_names
    tb.admin_eval(tnt, "for i = 1, 5 do box.space.tester:insert{i, i % 2 == 0 and 'b' or 'a'} end")
    assert [list(t) for t in await conn.select("tester", [2])] == [[2, "b"]]
    assert [t[0] for t in await conn.select("tester", ["a"], index="txt")] == [1, 3, 5]
    assert [t[0] for t in await conn.select("tester", ["b"], index=1)] == [2, 4]
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    assert [t[0] for t in await conn.select(space_id, ["b"], index="txt")] == [2, 4]
    assert [t[0] for t in await conn.select("tester", [4], index="primary",
                                            iterator="LE")] == [4, 3, 2, 1]
    assert conn.schema.spaces == {}    # and still nothing: no refetch either


async def test_dml_by_name(tnt, loop, connect):
    need_names(tnt)
    conn = await no_schema(tnt, connect)
    assert [list(t) for t in await conn.insert("tester", [1, "one"])] == [[1, "one"]]
    await conn.replace("tester", [2, "two"])
    await conn.insert("tester", (3, "three"))
    assert stored(tnt) == [[1, "one"], [2, "two"], [3, "three"]]
    res = await conn.update("tester", [1], [["=", 1, "uno"]])
    assert list(res[0]) == [1, "uno"]
    # a field by name: the server resolves it (there is no format on the client)
    await conn.update("tester", [2], [["=", "name", "dos"]], index="primary")
    await conn.upsert("tester", [3, "x"], [["=", "name", "tres"]])
    await conn.upsert("tester", [4, "cuatro"], [["=", "name", "never"]])
    assert stored(tnt) == [[1, "uno"], [2, "dos"], [3, "tres"], [4, "cuatro"]]
    assert list((await conn.delete("tester", [1]))[0]) == [1, "uno"]
    assert list((await conn.delete("tester", [2], index="primary"))[0]) == [2, "dos"]
    assert stored(tnt) == [[3, "tres"], [4, "cuatro"]]
    assert conn.schema.spaces == {}


async def test_names_in_a_stream(tnt, loop, connect):
    need_names(tnt)
    conn = await no_schema(tnt, connect)
    s = conn.stream()    # its requests go by name too (no transaction: no mvcc here)
    await s.insert("tester", [7, "seven"])
    await s.replace("tester", [8, "eight"])
    assert len(await s.select("tester", ["seven"], index="txt")) == 1
    assert stored(tnt) == [[7, "seven"], [8, "eight"]]


async def test_unknown_names_are_the_servers_errors(tnt, loop, connect):
    need_names(tnt)
    conn = await no_schema(tnt, connect)
    with pytest.raises(E.TarantoolDatabaseError) as info:
        await conn.select("no_such_space")
    assert info.value.code == E.ErrorCode.ER_NO_SUCH_SPACE
    with pytest.raises(E.TarantoolDatabaseError, match="no_such_index"):
        await conn.select("tester", index="no_such_index")
    with pytest.raises(E.TarantoolDatabaseError):
        await conn.insert("no_such_space", [1])
    # what needs the space's format still needs the schema, and says so
    with pytest.raises(E.TarantoolSchemaError, match="format of space tester"):
        conn.insert("tester", {"id": 1, "name": "x"})
    with pytest.raises(E.TarantoolSchemaError, match="index parts"):
        conn.select("tester", {"id": 1})
    with pytest.raises(TypeError):
        conn.select("tester", index=1.5)
    assert tb.pending_count(conn) == 0
    assert (await conn.ping()).code == 0


async def test_with_a_schema_nothing_changes(tnt, conn):
    # the schema resolves names to ids, and a name the schema does not know
    # refetches it, as before
    await conn.insert("tester", [1, "a"])
    assert len(await conn.select("tester", ["a"], index="txt")) == 1
    tb.admin_eval(tnt, "box.schema.space.create('names_late', {if_not_exists = true})"
                       ":create_index('pk', {if_not_exists = true})")
    try:
        await conn.insert("names_late", [1])
        assert len(await conn.select("names_late", [1], index="pk")) == 1
        assert "names_late" in conn.schema.spaces
    finally:
        tb.admin_eval(tnt, "box.space.names_late:drop()")


async def test_refused_on_a_server_without_the_feature(tnt, loop, connect):
    if tb.server_version(tnt) >= (3, 0):
        pytest.skip("the server has space_and_index_names")
    conn = await no_schema(tnt, connect)
    assert not conn.features.space_and_index_names
    with pytest.raises(E.TarantoolSchemaError, match="3.0.*space_and_index_names"):
        conn.select("tester")
    with pytest.raises(E.TarantoolSchemaError, match="3.0"):
        conn.insert("tester", [1, "a"])
    with pytest.raises(E.TarantoolSchemaError, match="index 'txt'.*3.0"):
        conn.select(512, index="txt")
    assert tb.pending_count(conn) == 0
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    await conn.insert(space_id, [1, "a"])          # ids work as ever
    assert [list(t) for t in await conn.select(space_id, ["a"], index=1)] == [[1, "a"]]


# --- the wire, through a fake 3.0 server ---------------------------------------------------

VSPACE = [[512, 1, "tester", "memtx", 0, {}, [{"name": "id", "type": "unsigned"},
                                              {"name": "name", "type": "string"}]]]
VINDEX = [[512, 0, "primary", "tree", {"unique": True}, [[0, "unsigned"]]],
          [512, 1, "txt", "tree", {"unique": False}, [[1, "string"]]]]


def serve_recording(bodies, features):
    async def serve(index, reader, writer):
        while True:
            header, body = await read_request(reader)
            if header[0] in (0x4a, 0x4b):  # IPROTO_WATCH/UNWATCH (box.shutdown): no reply
                continue
            data = []
            if header[0] == 0x49:  # IPROTO_ID
                out = {0x54: 6, 0x55: features}
            else:
                if header[0] == 1 and body.get(IPROTO_SPACE_ID) == 281:
                    data = VSPACE
                elif header[0] == 1 and body.get(IPROTO_SPACE_ID) == 289:
                    data = VINDEX
                else:
                    bodies.append((header[0], body))
                out = {0x30: data}
            writer.write(frame(msgpack.packb({0: 0, 1: header[1], 5: 1}) + msgpack.packb(out)))
            await writer.drain()
    return serve


async def run_requests(conn):
    await asyncio.wait_for(conn.select("tester", ["a"], index="txt"), BOUND)
    await asyncio.wait_for(conn.select("tester"), BOUND)
    await asyncio.wait_for(conn.insert("tester", [1, "a"]), BOUND)
    await asyncio.wait_for(conn.replace("tester", [1, "a"]), BOUND)
    await asyncio.wait_for(conn.update("tester", [1], [["=", 1, "b"]], index="primary"), BOUND)
    await asyncio.wait_for(conn.upsert("tester", [1, "a"], [["=", 1, "b"]]), BOUND)
    await asyncio.wait_for(conn.delete("tester", ["a"], index="txt"), BOUND)
    await asyncio.wait_for(conn.select(512, index="txt"), BOUND)


def target(body):
    return {k: body[k] for k in (IPROTO_SPACE_ID, IPROTO_INDEX_ID, IPROTO_SPACE_NAME,
                                 IPROTO_INDEX_NAME) if k in body}


async def test_wire_names_without_a_schema(loop):
    bodies = []
    async with FakeServer(serve_recording(bodies, [0, 1, 2, 3, 4, 5, 6]),
                          greet=greeting("3.0.0")) as server:
        conn = server.connection()
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            await run_requests(conn)
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)
    assert [target(b) for _, b in bodies] == [
        {IPROTO_SPACE_NAME: "tester", IPROTO_INDEX_NAME: "txt"},
        {IPROTO_SPACE_NAME: "tester", IPROTO_INDEX_ID: 0},
        {IPROTO_SPACE_NAME: "tester"},
        {IPROTO_SPACE_NAME: "tester"},
        {IPROTO_SPACE_NAME: "tester", IPROTO_INDEX_NAME: "primary"},
        {IPROTO_SPACE_NAME: "tester"},
        {IPROTO_SPACE_NAME: "tester", IPROTO_INDEX_NAME: "txt"},
        {IPROTO_SPACE_ID: 512, IPROTO_INDEX_NAME: "txt"},
    ]
    assert [op for op, _ in bodies] == [1, 1, 2, 3, 4, 9, 5, 1]


async def test_wire_ids_with_a_schema(loop):
    bodies = []
    async with FakeServer(serve_recording(bodies, [0, 1, 2, 3, 4, 5, 6]),
                          greet=greeting("3.0.0")) as server:
        conn = server.connection(fetch_schema=True, auto_refetch_schema=True)
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            await run_requests(conn)
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)
    assert [target(b) for _, b in bodies] == [
        {IPROTO_SPACE_ID: 512, IPROTO_INDEX_ID: 1},
        {IPROTO_SPACE_ID: 512, IPROTO_INDEX_ID: 0},
        {IPROTO_SPACE_ID: 512},
        {IPROTO_SPACE_ID: 512},
        {IPROTO_SPACE_ID: 512, IPROTO_INDEX_ID: 0},
        {IPROTO_SPACE_ID: 512},
        {IPROTO_SPACE_ID: 512, IPROTO_INDEX_ID: 1},
        {IPROTO_SPACE_ID: 512, IPROTO_INDEX_ID: 1},
    ]
