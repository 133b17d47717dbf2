"""Type round trips through the real server, checked on the server side too."""
import asyncio
import decimal
import uuid

import pytest

from tests import _testbase as tb

DESCRIBE = """
local v = box.space.tester:get{...}[3]
if require('decimal').is_decimal(v) then return 'decimal', tostring(v) end
if type(v) == 'cdata' then
    local ctype = tostring(require('ffi').typeof(v))
    if ctype:find('uuid') then return 'uuid', v:str() end
    if ctype:find('varbinary') then return 'varbinary', #v end  -- MP_BIN on 3.x
    return 'cdata', tostring(v)
end
if type(v) == 'string' then return 'string', #v end
return type(v), v
"""


async def roundtrip(conn, value, key=1):
    res = await conn.insert("tester", [key, "v", value])
    inserted = res[0][2]
    selected = (await conn.select("tester", [key]))[0][2]
    return inserted, selected


@pytest.mark.parametrize(
    "value",
    ["", "ascii", "юникод ☃ \U0001f600", "nul\x00inside"],
    ids=["empty", "ascii", "unicode", "nul"],
)
async def test_str(tnt, conn, value):
    inserted, selected = await roundtrip(conn, value)
    assert inserted == selected == value
    assert type(selected) is str
    assert tb.admin_eval(tnt, DESCRIBE, 1) == ["string", len(value.encode())]


@pytest.mark.parametrize("value", [b"", b"\x00\xff\xfe binary", bytes(range(256))],
                         ids=["empty", "short", "all-bytes"])
async def test_bytes(tnt, conn, value):
    inserted, selected = await roundtrip(conn, value)
    assert inserted == selected == value
    assert type(selected) is bytes
    # a Lua string on 2.x; 3.x keeps MP_BIN apart as varbinary
    has_varbinary = tb.admin_eval(tnt, "return (pcall(require, 'varbinary'))")[0]
    binary = "varbinary" if has_varbinary else "string"
    assert tb.admin_eval(tnt, DESCRIBE, 1) == [binary, len(value)]


@pytest.mark.parametrize(
    ("value", "server"),
    [
        (0, ["number", 0]),
        (127, ["number", 127]),
        (-1, ["number", -1]),
        (-33, ["number", -33]),
        (2**32, ["number", 2**32]),
        (2**64 - 1, ["cdata", "18446744073709551615ULL"]),
        (-(2**63), ["cdata", "-9223372036854775808LL"]),
    ],
    ids=["zero", "fixint", "neg-fixint", "neg-int8", "uint64-small", "uint64-max", "int64-min"],
)
async def test_int(tnt, conn, value, server):
    inserted, selected = await roundtrip(conn, value)
    assert inserted == selected == value
    assert type(selected) is int
    assert tb.admin_eval(tnt, DESCRIBE, 1) == server


async def test_int_too_big(conn):
    with pytest.raises((OverflowError, TypeError, ValueError, tb.exceptions.TarantoolError)):
        await conn.insert("tester", [1, "v", 2**64])


@pytest.mark.parametrize("value", [0.0, 1.5, -2.25, 1e300, 2.0])
async def test_float(tnt, conn, value):
    inserted, selected = await roundtrip(conn, value)
    assert inserted == selected == value
    assert type(selected) is float
    assert tb.admin_eval(tnt, DESCRIBE, 1) == ["number", value]


@pytest.mark.parametrize("value", [True, False])
async def test_bool(tnt, conn, value):
    inserted, selected = await roundtrip(conn, value)
    assert inserted is value and selected is value
    assert tb.admin_eval(tnt, DESCRIBE, 1) == ["boolean", value]


async def test_none(tnt, conn):
    inserted, selected = await roundtrip(conn, None)
    assert inserted is None and selected is None
    assert tb.admin_eval(tnt, "return #box.space.tester:get{1}")[0] == 3


async def test_nested(tnt, conn):
    value = {"list": [1, [2, [3, None]], {"k": b"bin"}], "map": {"a": {"b": {"c": 1.5}}},
             "empty_list": [], "empty_map": {}, "flag": False}
    inserted, selected = await roundtrip(conn, value)
    assert inserted == selected == value
    assert tb.admin_eval(tnt, "return box.space.tester:get{1}[3].map.a.b.c") == [1.5]


async def test_tuple_as_list(conn):
    inserted, selected = await roundtrip(conn, (1, (2, 3)))
    assert inserted == selected == [1, [2, 3]]


async def test_int_map_keys(conn):
    inserted, selected = await roundtrip(conn, {1: "one", 2: "two"})
    assert inserted == selected == {1: "one", 2: "two"}


@pytest.mark.parametrize(
    ("value", "server"),
    [
        (decimal.Decimal("123.456"), "123.456"),
        (decimal.Decimal("-0.001"), "-0.001"),
        (decimal.Decimal("1E-30"), "0.000000000000000000000000000001"),
        (decimal.Decimal("12345678901234567890.123456789012345678"),
         "12345678901234567890.123456789012345678"),
        (decimal.Decimal(0), "0"),
    ],
    ids=["plain", "negative", "tiny", "38-digits", "zero"],
)
async def test_decimal(tnt, conn, value, server):
    inserted, selected = await roundtrip(conn, value)
    assert isinstance(selected, decimal.Decimal)
    assert inserted == selected == value
    kind, text = tb.admin_eval(tnt, DESCRIBE, 1)
    # the same digits and exponent (3.x prints 1E-30 where 2.x writes the zeros out)
    assert kind == "decimal"
    assert decimal.Decimal(text).as_tuple() == decimal.Decimal(server).as_tuple()


async def test_decimal_from_server(tnt, conn):
    res = await conn.eval("return require('decimal').new('-98765.4321')")
    assert res.body == [decimal.Decimal("-98765.4321")]
    assert isinstance(res[0], decimal.Decimal)


async def test_uuid(tnt, conn):
    value = uuid.uuid4()
    inserted, selected = await roundtrip(conn, value)
    assert isinstance(selected, uuid.UUID)
    assert inserted == selected == value
    assert tb.admin_eval(tnt, DESCRIBE, 1) == ["uuid", str(value)]


async def test_uuid_from_server(conn):
    res = await conn.eval("return require('uuid').fromstr('d7b5e4f1-2a3c-4e5f-8a9b-0c1d2e3f4a5b')")
    assert res.body == [uuid.UUID("d7b5e4f1-2a3c-4e5f-8a9b-0c1d2e3f4a5b")]


@pytest.mark.async_timeout(60)
async def test_multi_megabyte_values(tnt, conn):
    big_str = "x" * (4 * 1024 * 1024) + "end"
    big_bin = bytes(range(256)) * (12 * 1024)  # 3 MB
    await conn.insert("tester", [1, big_str, big_bin])
    assert tb.admin_eval(tnt, "local t = box.space.tester:get{1} return #t[2], #t[3]") == [
        len(big_str), len(big_bin)]
    t = (await conn.select("tester", [1]))[0]
    assert t[1] == big_str
    assert t[2] == big_bin
    res = await conn.call("func_param", [big_str])
    assert res.body == [big_str]


async def test_tens_of_thousands_of_values(conn):
    res = await conn.eval("local t = {} for i = 1, 50000 do t[i] = i end return t")
    assert res[0] == list(range(1, 50001))


async def test_tens_of_thousands_of_tuples(tnt, conn):
    tb.admin_eval(tnt, "for i = 1, 40000 do box.space.tester:insert{i, 'n', {i}} end")
    res = await conn.select("tester")
    assert len(res) == 40000
    assert all(t[0] == i + 1 and t[2] == [i + 1] for i, t in enumerate(res))


class Unencodable:
    pass


@pytest.mark.parametrize(
    "bad",
    [
        Unencodable(),
        ["x" * 1000, {"deep": [1, 2, Unencodable()]}],  # fails after many bytes were encoded
        2**64,
        -(2**63) - 1,
        decimal.Decimal("NaN"),
        decimal.Decimal("Infinity"),
    ],
    ids=["object", "deep-object", "uint64-overflow", "int64-underflow", "decimal-nan",
         "decimal-inf"],
)
async def test_unencodable_value_leaves_connection_intact(tnt, conn, bad):
    # A good request before and after the bad one, in the same loop turn: a driver that
    # coalesces writes must not leave half of the bad request in the shared write buffer.
    before = asyncio.ensure_future(conn.insert("tester", [1, "before"]))
    with pytest.raises((TypeError, ValueError, OverflowError, tb.exceptions.TarantoolError)):
        await conn.insert("tester", [2, "bad", bad])
    after = asyncio.ensure_future(conn.insert("tester", [3, "after"]))
    assert list((await before)[0]) == [1, "before"]
    assert list((await after)[0]) == [3, "after"]
    assert tb.admin_eval(tnt, "return box.space.tester:len()") == [2]
    assert (await conn.call("func_param", ["ok"])).body == ["ok"]
    if not tb.IS_ASYNCTNT:
        assert tb.pending_count(conn) == 0


async def test_unencodable_in_every_request_type(conn):
    bad = Unencodable()
    attempts = [
        lambda: conn.select("tester", [bad]),
        lambda: conn.insert("tester", [1, "a", bad]),
        lambda: conn.replace("tester", [1, "a", bad]),
        lambda: conn.update("tester", [1], [["=", 2, bad]]),
        lambda: conn.upsert("tester", [1, "a"], [["=", 2, bad]]),
        lambda: conn.delete("tester", [bad]),
        lambda: conn.call("func_param", [bad]),
        lambda: conn.call16("func_param", [bad]),
        lambda: conn.eval("return ...", [bad]),
        lambda: conn.execute("SELECT ?", [bad]),
    ]
    for attempt in attempts:
        with pytest.raises((TypeError, ValueError)):
            await attempt()
    assert (await conn.ping()).code == 0
    assert (await conn.call("func_hello")).body == ["hello"]


async def test_custom_encoding(tnt, connect):
    conn = await connect(tnt, encoding="cp1251")
    assert conn.encoding == "cp1251"
    res = await conn.insert("tester", [1, "привет"])
    assert res[0][1] == "привет"
    # Stored as cp1251: one byte per letter.
    assert tb.admin_eval(tnt, "return #box.space.tester:get{1}[2]") == [6]
    assert (await conn.select("tester", ["привет"], index="txt"))[0][0] == 1


async def test_tiny_initial_read_buffer_grows(tnt, connect):
    conn = await connect(tnt, initial_read_buffer_size=64)
    big = "y" * (2 * 1024 * 1024)
    await conn.insert("tester", [1, "big", big])
    tb.admin_eval(tnt, "for i = 2, 5001 do box.space.tester:insert{i, 'n'} end")
    for _ in range(2):  # the buffer may shrink back between replies
        res = await conn.select("tester")
        assert len(res) == 5001
        assert res[0][2] == big
        assert list(res[-1]) == [5001, "n"]
    results = await asyncio.gather(*(conn.call("func_param", ["z" * i]) for i in range(300)))
    assert [r[0] for r in results] == ["z" * i for i in range(300)]
