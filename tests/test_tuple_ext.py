"""MP_TUPLE (ext 7) with IPROTO_TUPLE_FORMATS (Tarantool 3.0+), opted in with
``Connection(tuple_extension=True)``: tuples keep their field names without a schema; the
formats are cached per connection by id; malformed MP_TUPLE bytes are a ProtocolError."""
import asyncio

import msgpack
import pytest

from tests import _testbase as tb
from tests._fakeserver import BOUND, FakeServer, frame, greeting, read_request

pytestmark = tb.only_loadtnt

D = tb.driver
E = tb.exceptions


def need_tuple_ext(tnt):
    tb.need_version(tnt, (3, 0), "the tuple extension (MP_TUPLE)")


async def ext_conn(tnt, connect, **kwargs):
    return await connect(tnt, fetch_schema=False, tuple_extension=True, **kwargs)


def named(t):
    return dict(t.items())


async def test_select_and_dml_keep_names_without_a_schema(tnt, loop, connect):
    need_tuple_ext(tnt)
    conn = await ext_conn(tnt, connect)
    assert conn.tuple_extension and conn.schema.spaces == {}
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'one'}")
    res = await conn.select("tester", [1])
    assert res[0]["name"] == "one" and named(res[0]) == {"id": 1, "name": "one"}
    assert named((await conn.insert("tester", [2, "two"]))[0]) == {"id": 2, "name": "two"}
    assert named((await conn.replace("tester", [2, "dos"]))[0]) == {"id": 2, "name": "dos"}
    assert (await conn.update("tester", [2], [["=", "name", "zwei"]]))[0]["name"] == "zwei"
    assert (await conn.delete("tester", [2]))[0]["name"] == "zwei"
    assert len(await conn.upsert("tester", [3, "x"], [])) == 0
    assert [t["name"] for t in await conn.select("tester")] == ["one", "x"]


async def test_call_and_eval_keep_names(tnt, loop, connect):
    need_tuple_ext(tnt)
    conn = await ext_conn(tnt, connect)
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'one'} box.space.tester:insert{2, 'two'}")
    res = await conn.call("func_tuples")
    assert [[named(t) for t in res[0]]] == [[{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]]
    res = await conn.eval("return box.space.tester:get(2), {nested = box.space.tester:get(1)}, "
                          "box.tuple.new({7, 'x'})")
    assert named(res[0]) == {"id": 2, "name": "two"}
    assert res[1]["nested"]["name"] == "one"
    anonymous = res[2]
    assert list(anonymous) == [7, "x"]
    with pytest.raises(ValueError):
        anonymous.keys()                   # a runtime tuple has no field names


async def test_formats_are_cached_and_follow_a_format_change(tnt, loop, connect):
    need_tuple_ext(tnt)
    tb.admin_eval(tnt, "local s = box.schema.space.create('fmt_change', {if_not_exists = true})"
                       " s:create_index('pk', {if_not_exists = true})"
                       " s:format({{'id', 'unsigned'}, {'a', 'string'}})"
                       " s:replace{1, 'x'}")
    try:
        conn = await ext_conn(tnt, connect)
        first = (await conn.select("fmt_change", [1]))[0]
        second = (await conn.select("fmt_change", [1]))[0]
        assert first["a"] == "x"
        assert first.metadata is second.metadata           # one Metadata per format
        tb.admin_eval(tnt, "box.space.fmt_change:format({{'id', 'unsigned'}, {'b', 'string'}})"
                           " box.space.fmt_change:replace{2, 'y'}")
        # each MP_TUPLE has its own tuple's format: a tuple stored before the change
        # keeps the old one, a new tuple has the new one
        old, new = await conn.select("fmt_change")
        assert old["a"] == "x" and new["b"] == "y" and "a" not in new
        assert old.metadata is first.metadata and new.metadata is not first.metadata
    finally:
        tb.admin_eval(tnt, "box.space.fmt_change:drop()")


async def test_with_a_schema_too(tnt, loop, connect):
    need_tuple_ext(tnt)
    conn = await connect(tnt, tuple_extension=True)
    await conn.insert("tester", {"id": 1, "name": "one"})
    assert named((await conn.select("tester", [1]))[0]) == {"id": 1, "name": "one"}
    assert (await conn.call("func_tuples"))[0][0]["name"] == "one"


async def test_off_by_default(tnt, loop, connect):
    conn = await connect(tnt, fetch_schema=False)
    assert not conn.tuple_extension
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'one'}")
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    res = await conn.select(space_id, [1])
    assert list(res[0]) == [1, "one"] and "name" not in res[0]
    assert (await conn.call("func_tuples"))[0] == [[1, "one"]]


async def test_harmless_on_an_older_server(tnt, loop, connect):
    if tb.server_version(tnt) >= (3, 0):
        pytest.skip("the server has the tuple extension")
    conn = await connect(tnt, tuple_extension=True)
    assert not conn.features.dml_tuple_extension
    await conn.insert("tester", [1, "one"])
    assert (await conn.select("tester", [1]))[0]["name"] == "one"    # by the schema
    assert (await conn.call("func_tuples"))[0] == [[1, "one"]]


# --- the wire, through a fake server -----------------------------------------------------

def mp_tuple(format_id, values):
    return msgpack.packb(msgpack.ExtType(7, msgpack.packb(format_id) + msgpack.packb(values)))


FORMATS = {5: [{"name": "id", "type": "unsigned"}, {"name": "title", "type": "string"}]}


def body(data_raw, formats=FORMATS, formats_first=False):
    """A reply body {IPROTO_DATA: data, IPROTO_TUPLE_FORMATS: formats} (the server writes the
    formats after the data)."""
    data = b"\x30" + data_raw
    fmts = b"\x60" + (formats if isinstance(formats, bytes) else msgpack.packb(formats))
    return b"\x82" + (fmts + data if formats_first else data + fmts)


def serve_replies(make_body, ids_seen=None):
    async def serve(index, reader, writer):
        while True:
            header, req = await read_request(reader)
            if header[0] == 0x49:
                if ids_seen is not None:
                    ids_seen.append(req.get(0x55))
                payload = msgpack.packb({0x54: 6, 0x55: [0, 1, 2, 3, 4, 5, 6, 7, 8]})
            else:
                payload = make_body(header[0])
            writer.write(frame(msgpack.packb({0: 0, 1: header[1], 5: 1}) + payload))
            await writer.drain()
    return serve


async def test_id_announces_the_features(loop):
    # streams, transactions, error_extension, watchers, pagination, space_and_index_names,
    # watch_once; with tuple_extension, dml_tuple_extension and call_ret_tuple_extension too
    for flag, expected in ((False, [0, 1, 2, 3, 4, 5, 6]), (True, [0, 1, 2, 3, 4, 5, 6, 7, 8])):
        seen = []
        async with FakeServer(serve_replies(lambda op: b"\x80", seen),
                              greet=greeting("3.0.0")) as server:
            conn = server.connection(tuple_extension=flag)
            await asyncio.wait_for(conn.connect(), BOUND)
            await asyncio.wait_for(conn.disconnect(), BOUND)
        assert seen == [expected]


@pytest.mark.parametrize("formats_first", [False, True])
async def test_well_formed_from_a_fake_server(loop, formats_first):
    rows = b"\x92" + mp_tuple(5, [1, "a"]) + b"\x93\x02\xa1b\x03"   # MP_TUPLE, and a plain array
    nested = b"\x91\x81\xa1t" + mp_tuple(5, [9, "deep"])

    def make(op):
        return body(rows if op == 1 else nested, formats_first=formats_first)

    async with FakeServer(serve_replies(make)) as server:
        conn = server.connection(tuple_extension=True)
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            res = await asyncio.wait_for(conn.select(512), BOUND)
            assert named(res[0]) == {"id": 1, "title": "a"}
            assert list(res[1]) == [2, "b", 3] and isinstance(res[1], D.TarantoolTuple)
            res = await asyncio.wait_for(conn.call("f"), BOUND)
            assert res[0]["t"]["title"] == "deep"
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


async def test_without_the_option_an_mp_tuple_stays_an_ext_type(loop):
    raw = msgpack.packb(5) + msgpack.packb([1, "a"])
    async with FakeServer(serve_replies(lambda op: body(b"\x91" + mp_tuple(5, [1, "a"])))) \
            as server:
        conn = server.connection()
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            res = await asyncio.wait_for(conn.call("f"), BOUND)
            assert res[0] == D.iproto.protocol.ExtType(7, raw)
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


def ext7(payload):
    return msgpack.packb(msgpack.ExtType(7, payload))


MALFORMED = {
    "empty": body(b"\x91" + ext7(b"")),
    "no-array": body(b"\x91" + ext7(b"\x05")),
    "id-not-uint": body(b"\x91" + ext7(b"\xa1x\x90")),
    "not-an-array": body(b"\x91" + ext7(b"\x05\x81\x01\x02")),
    "lying-array-length": body(b"\x91" + ext7(b"\x05\xdd\xff\xff\xff\xff\x01")),
    "truncated-field": body(b"\x91" + ext7(b"\x05\x92\x01\xa5ab")),
    "trailing": body(b"\x91" + ext7(b"\x05\x91\x01\x01")),
    "unknown-format-id": body(b"\x91" + mp_tuple(6, [1])),
    "no-formats": b"\x81\x30\x91" + mp_tuple(5, [1]),
    "formats-not-a-map": body(b"\x90", formats=msgpack.packb([1, 2])),
    "format-not-an-array": body(b"\x91" + mp_tuple(5, [1]), formats=msgpack.packb({5: "x"})),
    "format-id-not-uint": body(b"\x90", formats=msgpack.packb({"5": []})),
    "formats-truncated": body(b"\x90", formats=b"\x81\x05\x92\x80"),
    "row-not-a-tuple": body(b"\x91\x05"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_malformed_mp_tuple(loop, kind):
    op_of_request = 1 if kind == "row-not-a-tuple" else None
    async with FakeServer(serve_replies(lambda op: MALFORMED[kind])) as server:
        conn = server.connection(tuple_extension=True)
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            with pytest.raises(E.TarantoolNetworkError) as info:
                if op_of_request == 1:
                    await asyncio.wait_for(conn.select(512), BOUND)
                else:
                    await asyncio.wait_for(conn.call("f"), BOUND)
            assert isinstance(info.value, E.ProtocolError) or isinstance(
                info.value.__cause__, E.ProtocolError), repr(info.value)
            await asyncio.wait_for(server.client_closed.wait(), BOUND)
            assert not conn.is_connected
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


def test_the_plain_protocol_refuses_the_option(loop):
    # the plain Protocol's reply path has no MP_TUPLE branch: only TupleExtProtocol takes it
    proto = D.iproto.protocol
    with pytest.raises(ValueError, match="TupleExtProtocol"):
        proto.Protocol(loop=loop, tuple_extension=True)
    proto.TupleExtProtocol(loop=loop, tuple_extension=True)
