"""Tarantool's extension types against the server's own encoding, both directions.

MP_ERROR (3), MP_DATETIME (4) and MP_INTERVAL (6), as asynctnt 2.4 maps them: ``IProtoError``
with its frames, ``datetime.datetime`` (a naive one is local time, as ``datetime.timestamp()``
takes it) and ``MPInterval`` with ``Adjust``. The server's side: Lua's ``msgpack.encode(v)``
returned as hex (text survives the test's admin client, raw bytes would not), and values the
driver sent inspected and re-encoded in Lua. Datetime and interval need Tarantool 2.10; the
tests say so and skip on older servers. Malformed extension bytes come from a fake server.
"""
import asyncio
import datetime
import zoneinfo

import msgpack
import pytest

from tests import _testbase as tb
from tests._fakeserver import BOUND, FakeServer, frame, read_request

D = tb.driver
E = tb.exceptions
UTC = datetime.timezone.utc

# the msgpack encoding of ``...`` (or of the expression put in its place), as hex
_HEX = ("(require('msgpack').encode(...)"
        ":gsub('.', function(c) return ('%02x'):format(c:byte()) end))")


def lua_hex(expr):
    return "return " + _HEX.replace("...", expr)


def server_hex(tnt, lua):
    """How the server encodes the Lua value ``lua``, as hex."""
    return tb.admin_eval(tnt, lua_hex(lua))[0]


async def driver_hex(conn, value):
    """How the driver encoded ``value``, as the server received it, as hex."""
    return (await conn.eval(f"return {_HEX}", [value]))[0]


@pytest.fixture(scope="module")
def server_version(tnt):
    text = str(tb.admin_eval(tnt, "return box.info.version")[0])
    return tuple(int(x) for x in text.split("-")[0].split(".")[:3]), text


def need(server_version, at_least, what):
    version, text = server_version
    if version < at_least:
        pytest.skip(f"needs Tarantool {'.'.join(map(str, at_least))}+ for {what}; "
                    f"this server is {text}")


@pytest.fixture
def dt_server(tnt, server_version):
    need(server_version, (2, 10, 0), "datetime and interval")
    return tnt


def local_naive(epoch, microsecond=0):
    """What asynctnt gives for an MP_DATETIME without an offset: local wall time."""
    return datetime.datetime.fromtimestamp(epoch).replace(microsecond=microsecond)


# --- MP_DATETIME: decode -------------------------------------------------------------------

MSK = datetime.timezone(datetime.timedelta(hours=3))
IST_WEST = datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))

Y9999 = "{year=9999, month=12, day=31, hour=23, min=59, sec=59, nsec=999999000, tzoffset=60}"

# Lua constructor -> the Python value it decodes to
DATETIMES = {
    "naive": ("{year=2024, month=1, day=2, hour=3, min=4, sec=5}",
              local_naive(1704164645)),
    "naive-usec": ("{year=2024, month=1, day=2, nsec=123456000}",
                   local_naive(1704153600, 123456)),
    "offset": ("{year=2024, month=6, day=30, hour=23, tzoffset=180}",
               datetime.datetime(2024, 6, 30, 23, tzinfo=MSK)),
    "negative-offset": ("{year=2024, month=2, day=29, hour=1, min=2, nsec=7000, tzoffset=-330}",
                        datetime.datetime(2024, 2, 29, 1, 2, 0, 7, tzinfo=IST_WEST)),
    "pre-1970-naive": ("{year=1969, month=12, day=31, hour=23, min=59, sec=59, nsec=500000000}",
                       local_naive(-1, 500000)),
    "pre-1970-offset": ("{year=1900, month=3, day=4, hour=5, nsec=250000000, tzoffset=60}",
                        datetime.datetime(1900, 3, 4, 5, 0, 0, 250000,
                                          tzinfo=datetime.timezone(datetime.timedelta(hours=1)))),
    "year-1": ("{year=1, month=1, day=2}", local_naive(-62135596800 + 86400)),
    "year-1-offset": ("{year=1, month=1, day=1, tzoffset=-60}",
                      datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(
                          datetime.timedelta(hours=-1)))),
    "year-9999": (Y9999,
                  datetime.datetime(9999, 12, 31, 23, 59, 59, 999999,
                                    tzinfo=datetime.timezone(datetime.timedelta(hours=1)))),
}


@pytest.mark.parametrize("name", list(DATETIMES))
async def test_datetime_decodes_and_goes_back_byte_for_byte(dt_server, conn, name):
    ctor, expected = DATETIMES[name]
    lua = f"require('datetime').new{ctor}"
    got = (await conn.eval(f"return {lua}"))[0]
    assert type(got) is datetime.datetime
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()
    if expected.tzinfo is not None:
        assert got.tzinfo == expected.tzinfo    # datetime.timezone, as asynctnt
    assert await driver_hex(conn, got) == server_hex(dt_server, lua)
    # and the server takes it for the same instant and offset
    same = (await conn.eval(f"local v = ... return v == {lua}, v.tzoffset", [got])).body
    assert same == [True, expected.utcoffset() // datetime.timedelta(minutes=1)
                    if expected.tzinfo else 0]


@pytest.mark.parametrize("tz", ["Europe/Moscow", "UTC", "America/New_York"])
async def test_datetime_tzindex_is_kept(dt_server, conn, tz):
    lua = f"require('datetime').new{{year=2024, month=7, day=1, hour=12, tz='{tz}'}}"
    got = (await conn.eval(f"return {lua}"))[0]
    index, offset = tb.admin_eval(dt_server, f"local d = {lua} return d.tzindex, d.tzoffset")
    assert index > 0
    assert type(got.tzinfo) is D.MPTimezone
    assert (got.tzinfo.tzindex, got.tzinfo.minutes) == (index, offset)
    assert got.replace(tzinfo=None) == datetime.datetime(2024, 7, 1, 12)
    assert got == datetime.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo(tz))
    assert await driver_hex(conn, got) == server_hex(dt_server, lua)
    assert (await conn.eval("return (...).tz", [got]))[0] == tz
    # made in Python, with the index the server uses
    made = datetime.datetime(2024, 7, 1, 12, tzinfo=D.MPTimezone(offset, index))
    assert await driver_hex(conn, made) == server_hex(dt_server, lua)


@pytest.mark.parametrize("nsec, usec, carry", [
    (123456789, 123457, 0), (123456499, 123456, 0), (500, 0, 0), (1500, 2, 0), (2500, 2, 0),
    (999999499, 999999, 0), (999999500, 0, 1), (999999999, 0, 1),
])
async def test_datetime_nanoseconds_round_to_microseconds(dt_server, conn, nsec, usec, carry):
    # asynctnt: fromtimestamp(seconds + nsec / 1e9), i.e. to the nearest, half to even
    got = (await conn.eval(f"return require('datetime').new{{year=2024, nsec={nsec}}}"))[0]
    assert got == local_naive(1704067200 + carry, usec)
    got = (await conn.eval(
        f"return require('datetime').new{{year=1960, nsec={nsec}, tzoffset=-60}}"))[0]
    assert got == datetime.datetime(1960, 1, 1, 0, 0, carry, usec, tzinfo=datetime.timezone(
        datetime.timedelta(hours=-1)))


@tb.only_loadtnt
@pytest.mark.parametrize("ctor", ["{year=10000}", "{year=-5, nsec=1, tzoffset=60}",
                                  "{year=0, month=12, day=31}"])
async def test_datetime_python_cannot_hold_stays_ext(dt_server, conn, ctor):
    lua = f"require('datetime').new{ctor}"
    got = (await conn.eval(f"return {lua}"))[0]
    assert type(got) is D.iproto.protocol.ExtType
    assert got.code == 4
    expected = server_hex(dt_server, lua)
    assert msgpack.ExtType(4, got.data) == msgpack.unpackb(bytes.fromhex(expected))
    assert await driver_hex(conn, got) == expected


# --- MP_DATETIME: encode -------------------------------------------------------------------

INSPECT_DT = """
local v = ...
if not require('datetime').is_datetime(v) then return type(v) end
return v.year, v.month, v.day, v.hour, v.min, v.sec, v.nsec, v.tzoffset, v.epoch
"""


def utc_fields(value, tzoffset):
    """(year, ..., nsec, tzoffset, epoch) as Lua sees a datetime sent with ``tzoffset``."""
    epoch = (value - datetime.datetime(1970, 1, 1, tzinfo=UTC)) // datetime.timedelta(seconds=1)
    wall = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=epoch + tzoffset * 60)
    return [wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second,
            value.microsecond * 1000, tzoffset, epoch]


@pytest.mark.parametrize("value, ctor", [
    (datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=MSK),
     "{year=2024, month=5, day=6, hour=7, min=8, sec=9, tzoffset=180}"),
    (datetime.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=IST_WEST),
     "{year=2024, month=5, day=6, hour=7, min=8, sec=9, nsec=10000, tzoffset=-330}"),
    (datetime.datetime(1901, 12, 13, 20, 45, 52, 999999, tzinfo=UTC),
     "{year=1901, month=12, day=13, hour=20, min=45, sec=52, nsec=999999000}"),
    (datetime.datetime(1969, 7, 20, 20, 17, 40, tzinfo=datetime.timezone(
        datetime.timedelta(hours=-4))),
     "{year=1969, month=7, day=20, hour=20, min=17, sec=40, tzoffset=-240}"),
    (datetime.datetime(2024, 1, 15, 9, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
     "{year=2024, month=1, day=15, hour=9, tzoffset=-300}"),
], ids=["offset", "negative-offset-usec", "pre-1970-utc", "pre-1970-offset", "zoneinfo"])
async def test_aware_datetime_encodes_as_lua(dt_server, conn, value, ctor):
    offset = value.utcoffset() // datetime.timedelta(minutes=1)
    assert (await conn.eval(INSPECT_DT, [value])).body == utc_fields(value, offset)
    lua = f"require('datetime').new{ctor}"
    assert await driver_hex(conn, value) == server_hex(dt_server, lua)
    back = (await conn.eval("return ...", [value]))[0]
    if offset:
        assert back == value and back.utcoffset() == value.utcoffset()
    else:   # offset 0 without a tz index: naive local time, as asynctnt
        assert back == local_naive(value.timestamp() // 1, value.microsecond)


@pytest.mark.parametrize("value", [
    datetime.datetime(2024, 5, 6, 7, 8, 9), datetime.datetime(2024, 5, 6, 7, 8, 9, 654321),
    datetime.datetime(1955, 11, 5, 6, 15, 0, 1), datetime.datetime(1, 1, 2),
], ids=["plain", "usec", "pre-1970", "year-1"])
async def test_naive_datetime_is_local_time(dt_server, conn, value):
    # asynctnt sends value.timestamp(): a naive datetime is the machine's local time
    epoch = int(value.replace(microsecond=0).timestamp())
    aware = datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(
        seconds=epoch, microseconds=value.microsecond)
    assert (await conn.eval(INSPECT_DT, [value])).body == utc_fields(aware, 0)
    lua = (f"require('datetime').new{{timestamp={epoch}, nsec={value.microsecond * 1000}}}")
    assert await driver_hex(conn, value) == server_hex(dt_server, lua)
    back = (await conn.eval("return ...", [value]))[0]
    assert back == value and back.tzinfo is None


async def test_utc_datetime_comes_back_naive_as_in_asynctnt(dt_server, conn):
    # Offset 0 without a tz index is what the server sends for "no timezone" too.
    value = datetime.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert await driver_hex(conn, value) == server_hex(
        dt_server, "require('datetime').new{year=2024, hour=12}")
    back = (await conn.eval("return ...", [value]))[0]
    assert back.tzinfo is None and back == local_naive(value.timestamp())


async def test_datetime_in_a_space(dt_server, conn):
    values = [datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=MSK),
              datetime.datetime(1950, 1, 1, 0, 0, 0, 1)]
    await conn.insert("tester", [1, "dt", values])
    assert (await conn.select("tester", [1]))[0][2] == values
    assert tb.admin_eval(dt_server, "local v = box.space.tester:get{1}[3] "
                         "return tostring(v[1]), v[2].nsec")[0] == "2024-01-02T03:04:05.000006+0300"


@pytest.mark.parametrize("tz, match", [
    (datetime.timezone(datetime.timedelta(seconds=90)), "whole minutes"),
    (datetime.timezone(datetime.timedelta(hours=15)), "out of"),
    (datetime.timezone(datetime.timedelta(hours=-13)), "out of"),
])
async def test_datetime_offset_tarantool_cannot_keep_is_a_value_error(conn, tz, match):
    with pytest.raises(ValueError, match=match):
        conn.eval("return ...", [datetime.datetime(2024, 1, 1, tzinfo=tz)])
    assert (await conn.ping()).code == 0


@tb.only_loadtnt
def test_mptimezone():
    tz = D.MPTimezone(-330, 12)
    assert tz.utcoffset(None) == datetime.timedelta(hours=-5, minutes=-30)
    assert tz.tzname(None) == "UTC-05:30" and tz.dst(None) is None
    assert tz == D.MPTimezone(-330, 12) != D.MPTimezone(-330, 13)
    assert hash(tz) == hash(D.MPTimezone(-330, 12))
    moment = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    assert moment.astimezone(tz).replace(tzinfo=None) == datetime.datetime(2023, 12, 31, 18, 30)
    import copy
    import pickle
    assert pickle.loads(pickle.dumps(moment.astimezone(tz))).tzinfo == tz
    assert copy.deepcopy(tz) == tz
    with pytest.raises(ValueError):
        D.MPTimezone(900)
    with pytest.raises(ValueError):
        D.MPTimezone(0, -1)


RANDOM_DT_CHECK = """
local values, fields = ...
local datetime = require('datetime')
local bad = {}
for i, v in ipairs(values) do
    local f = fields[i]
    local made = datetime.new{year = f[1], month = f[2], day = f[3], hour = f[4], min = f[5],
                              sec = f[6], nsec = f[7], tzoffset = f[8]}
    if v ~= made or v.tzoffset ~= f[8] or v.nsec ~= f[7] then
        table.insert(bad, {i, tostring(v), tostring(made)})
    end
end
return bad
"""


async def test_random_datetimes_agree_with_lua(dt_server, conn):
    # A seeded spread over years 1..9999 and every offset Tarantool allows, both directions.
    import random
    rnd = random.Random(8)
    values = []
    for _ in range(300):
        offset = rnd.randrange(-720, 841) or 60    # offset 0 comes back naive (asynctnt)
        tz = datetime.timezone(datetime.timedelta(minutes=offset))
        moment = datetime.datetime(rnd.randrange(2, 9999), rnd.randrange(1, 13),
                                   rnd.randrange(1, 29), rnd.randrange(24), rnd.randrange(60),
                                   rnd.randrange(60), rnd.choice([0, rnd.randrange(10**6)]),
                                   tzinfo=tz)
        values.append(moment)
    fields = [[v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond * 1000,
               v.utcoffset() // datetime.timedelta(minutes=1)] for v in values]
    assert (await conn.eval(RANDOM_DT_CHECK, [values, fields]))[0] == []
    back = (await conn.eval("return ...", [values]))[0]
    assert back == values
    assert [b.utcoffset() for b in back] == [v.utcoffset() for v in values]


# --- MP_INTERVAL -----------------------------------------------------------------------------

INTERVAL_FIELDS = ["year", "month", "week", "day", "hour", "min", "sec", "nsec"]

INSPECT_IV = """
local v = ...
return v.year, v.month, v.week, v.day, v.hour, v.min, v.sec, v.nsec, tonumber(v.adjust)
"""


def lua_interval(iv):
    adjust = {0: "excess", 1: "none", 2: "last"}[int(iv.adjust)]
    fields = ", ".join(f"{f}={getattr(iv, f)}" for f in INTERVAL_FIELDS)
    return f"require('datetime').interval.new{{{fields}, adjust='{adjust}'}}"


INTERVALS = [
    D.MPInterval(),
    D.MPInterval(adjust=D.Adjust.EXCESS),
    D.MPInterval(adjust=D.Adjust.LAST),
    *[D.MPInterval(**{f: v}) for f in INTERVAL_FIELDS for v in (1, -1, 300, -70000)],
    D.MPInterval(year=1, month=-2, week=3, day=-4, hour=5, min=-6, sec=70000, nsec=-8,
                 adjust=D.Adjust.LAST),
    D.MPInterval(year=5000000, sec=10_000_000_000, nsec=999_999_999, adjust=D.Adjust.EXCESS),
]


def iv_id(iv):
    set_fields = [f"{f}={getattr(iv, f)}" for f in INTERVAL_FIELDS if getattr(iv, f)]
    return ",".join(set_fields + [iv.adjust.name])


@pytest.mark.parametrize("iv", INTERVALS, ids=iv_id)
async def test_interval_both_ways_byte_for_byte(dt_server, conn, iv):
    lua = lua_interval(iv)
    expected = server_hex(dt_server, lua)
    got = (await conn.eval(f"return {lua}"))[0]
    assert type(got) is D.MPInterval
    assert got == iv
    assert type(got.adjust) is D.Adjust
    assert await driver_hex(conn, iv) == expected
    assert (await conn.eval(INSPECT_IV, [iv])).body == [
        *(getattr(iv, f) for f in INTERVAL_FIELDS), int(iv.adjust)]
    assert (await conn.eval(f"return ... == {lua}", [iv]))[0] is True


async def test_interval_arithmetic_on_the_server(dt_server, conn):
    # adjust decides where 2024-01-31 + 1 month lands, on the server
    start = datetime.datetime(2024, 1, 31, tzinfo=MSK)
    got = [(await conn.eval("local d, i = ... return d + i",
                            [start, D.MPInterval(month=1, adjust=a)]))[0]
           for a in (D.Adjust.EXCESS, D.Adjust.NONE, D.Adjust.LAST)]
    assert [d.replace(tzinfo=None) for d in got] == [
        datetime.datetime(2024, 3, 2), datetime.datetime(2024, 2, 29),
        datetime.datetime(2024, 2, 29)]
    diff = (await conn.eval("local a, b = ... return a - b",
                            [datetime.datetime(2024, 3, 1, 12, tzinfo=UTC),
                             datetime.datetime(2024, 2, 28, tzinfo=UTC)]))[0]
    assert type(diff) is D.MPInterval


def test_interval_api_as_asynctnt():
    iv = D.MPInterval(1, 2, 3, 4, 5, 6, 7, 8)
    assert [getattr(iv, f) for f in INTERVAL_FIELDS] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert iv.adjust == D.Adjust.NONE
    assert D.MPInterval() == D.MPInterval(adjust=D.Adjust.NONE) != D.MPInterval(
        adjust=D.Adjust.EXCESS)
    assert (D.MPInterval() == 0) is False
    iv.sec = -5
    assert iv == D.MPInterval(1, 2, 3, 4, 5, 6, -5, 8)
    with pytest.raises(TypeError):
        hash(iv)
    assert [a.value for a in D.Adjust] == [0, 1, 2]
    assert [a.name for a in D.Adjust] == ["EXCESS", "NONE", "LAST"]


@tb.only_loadtnt
def test_interval_loadtnt_specifics():
    iv = D.MPInterval(adjust=2)
    assert iv.adjust is D.Adjust.LAST           # an int is taken as the Adjust it names
    with pytest.raises(ValueError):
        D.MPInterval(adjust=3)
    big = D.MPInterval(sec=2**40)               # beyond asynctnt's C int
    assert big.sec == 2**40
    with pytest.raises(OverflowError):
        D.MPInterval(year=2**63)
    assert "year=1" in repr(D.MPInterval(year=1))


# --- MP_ERROR ----------------------------------------------------------------------------------

# An error and its cause, made in one place so that file and line are the same for every caller.
MAKE_ERROR = """
rawset(_G, 'ext_test_error', function()
    local e = box.error.new{code = 4242, reason = 'outer', type = 'MyError'}
    local cause = box.error.new{code = 77, reason = 'inner'}
    e:set_prev(cause)
    return e
end)
"""

DESCRIBE_ERROR = """
local out = {}
local e = ext_test_error()
while e ~= nil do
    table.insert(out, {e.base_type or e.type, e.trace[1].file, e.trace[1].line, e.message,
                       e.errno or 0, e.code, e.custom_type or box.NULL})
    e = e.prev
end
return out
"""

# A returned box.error: MP_ERROR when the session wants it (2.4.1 - 2.11: a session setting;
# 3.x: the IPROTO_ID feature), else the server's own encoding, sent as it is (2.11+).
RETURN_ERROR = """
local e = ext_test_error()
local settings = box.session.settings
local ok, marshal = pcall(function() return settings.error_marshaling_enabled end)
if ok and marshal ~= nil then
    settings.error_marshaling_enabled = true
    return e, {err = e, list = {e, 1}}
end
local msgpack = require('msgpack')
local raw = msgpack.object_from_raw(msgpack.encode(e))
return raw, {err = raw, list = {raw, 1}}
"""


@pytest.fixture
def err_server(tnt, server_version):
    need(server_version, (2, 4, 1), "MP_ERROR (box.error with set_prev, IPROTO_ERROR)")
    tb.admin_eval(tnt, MAKE_ERROR)
    return tnt


def check_frames(trace, described):
    assert len(trace) == len(described) == 2
    for frame_, (base_type, file, line, message, errno, code, custom_type) in zip(
            trace, described, strict=True):
        assert type(frame_) is D.IProtoErrorStackFrame
        assert frame_.message == message
        assert frame_.code == code
        assert frame_.file == file and frame_.line == line
        assert frame_.err_no == errno
        assert frame_.error_type == ("CustomError" if custom_type else base_type)
        if custom_type:
            assert frame_.fields["custom_type"] == custom_type


async def test_error_reply_carries_the_whole_error_and_its_cause(err_server, conn):
    described = tb.admin_eval(err_server, DESCRIBE_ERROR)[0]
    with pytest.raises(E.TarantoolDatabaseError) as info:
        await conn.eval("error(ext_test_error())")
    exc = info.value
    assert exc.code == 4242 and exc.message == "outer"
    assert type(exc.error) is D.IProtoError
    check_frames(exc.error.trace, described)
    assert exc.error.trace[1].code == 77


async def test_error_reply_as_the_server_encodes_it(err_server, conn, server_version):
    # 2.10+: msgpack.encode(box.error) is MP_ERROR, the map IPROTO_ERROR carries
    need(server_version, (2, 10, 0), "msgpack.encode of a box.error as MP_ERROR in Lua")
    raw = bytes.fromhex(server_hex(err_server, "ext_test_error()"))
    ext = msgpack.unpackb(raw)
    assert ext.code == 3
    stack = msgpack.unpackb(ext.data, strict_map_key=False)[0]
    with pytest.raises(E.TarantoolDatabaseError) as info:
        await conn.eval("error(ext_test_error())")
    trace = info.value.error.trace
    keys = ["error_type", "file", "line", "message", "err_no", "code", "fields"]
    assert [{k: getattr(f, k) for k in keys} for f in trace] == [
        {k: fr.get(i, 0 if k in ("line", "err_no", "code") else None) for i, k in enumerate(keys)}
        for fr in stack]


async def test_error_inside_returned_values(err_server, conn, server_version):
    version, _ = server_version
    if version >= (3, 0, 0) and not getattr(getattr(conn, "features", None), "error_extension",
                                            False):
        need(server_version, (2, 11, 0), "msgpack.object_from_raw")
    described = tb.admin_eval(err_server, DESCRIBE_ERROR)[0]
    err, nested = (await conn.eval(RETURN_ERROR)).body
    assert type(err) is D.IProtoError
    check_frames(err.trace, described)
    assert type(nested["err"]) is D.IProtoError and nested["list"][1] == 1
    check_frames(nested["list"][0].trace, described)


@tb.only_loadtnt
async def test_error_frames_from_a_newer_server(loop):
    # keys the driver does not know are skipped, missing ones keep asynctnt's defaults
    frames = [{0: "ClientError", 3: "m", 5: 7, 0x7f: [1, {2: 3}]}, {3: "cause"}]
    err = msgpack.packb({0: frames, 9: "x"})
    body = {0x30: [msgpack.ExtType(3, err)], 0x52: {0: frames}}

    def reply(header):
        return frame(msgpack.packb({0: 0, 1: header[1], 5: 1}) + msgpack.packb(body))

    async with FakeServer(serve_with(reply)) as server:
        conn = server.connection()
        await conn.connect()
        try:
            value = (await asyncio.wait_for(conn.call("f"), BOUND))[0]
            assert [(f.error_type, f.message, f.code, f.line, f.err_no, f.fields)
                    for f in value.trace] == [("ClientError", "m", 7, 0, 0, None),
                                              (None, "cause", 0, 0, 0, None)]
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


# --- malformed extension bytes: a clean ProtocolError and a closed connection -----------------

def ext(code, data):
    return msgpack.packb(msgpack.ExtType(code, data))


def error_ext(stack_map):
    return ext(3, msgpack.packb(stack_map))


DT = (1_700_000_000).to_bytes(8, "little", signed=True)

MALFORMED_EXT = {
    "datetime-12-bytes": ext(4, DT + b"\0" * 4),
    "datetime-4-bytes": ext(4, b"\0" * 4),
    "datetime-nsec-1e9": ext(4, DT + (10**9).to_bytes(4, "little") + b"\0" * 4),
    "datetime-nsec-negative": ext(4, DT + (-1).to_bytes(4, "little", signed=True) + b"\0" * 4),
    "datetime-offset-900": ext(4, DT + b"\0" * 4 + (900).to_bytes(2, "little") + b"\0\0"),
    "datetime-tzindex-negative": ext(4, DT + b"\0" * 6 + (-3).to_bytes(2, "little", signed=True)),
    "interval-empty": ext(6, b""),
    "interval-field-9": ext(6, b"\x01\x09\x01"),
    "interval-adjust-3": ext(6, b"\x01\x08\x03"),
    "interval-count-too-big": ext(6, b"\x02\x00\x01"),
    "interval-trailing": ext(6, b"\x01\x00\x01\x00"),
    "interval-value-not-int": ext(6, b"\x01\x00\xa1x"),
    "interval-value-truncated": ext(6, b"\x01\x00\xcd\x01"),
    "interval-value-beyond-int64": ext(6, b"\x01\x06\xcf" + b"\xff" * 8),
    "error-empty": ext(3, b""),
    "error-not-a-map": ext(3, msgpack.packb([1, 2])),
    "error-truncated": ext(3, msgpack.packb({0: [{3: "message"}]})[:-3]),
    "error-trailing": ext(3, msgpack.packb({0: []}) + b"\x00"),
    "error-stack-not-an-array": error_ext({0: {1: 2}}),
    "error-frame-not-a-map": error_ext({0: ["frame"]}),
    "error-type-not-a-string": error_ext({0: [{0: 5}]}),
    "error-line-negative": error_ext({0: [{2: -1}]}),
    "error-code-not-an-int": error_ext({0: [{5: "42"}]}),
    "error-fields-not-a-map": error_ext({0: [{6: [1]}]}),
    "error-lying-array-length": ext(3, b"\x81\x00\xdd\xff\xff\xff\xff"),
}


def serve_with(make_reply):
    async def serve(index, reader, writer):
        while True:
            header, _ = await read_request(reader)
            writer.write(make_reply(header))
            await writer.drain()
    return serve


def data_reply(raw_value):
    def make(header):
        return frame(msgpack.packb({0: 0, 1: header[1], 5: 1}) + b"\x81\x30\x91" + raw_value)
    return make


async def expect_protocol_error(server):
    conn = server.connection()
    await asyncio.wait_for(conn.connect(), BOUND)
    try:
        with pytest.raises(E.TarantoolNetworkError) as info:
            await asyncio.wait_for(conn.call("f"), BOUND)
        assert isinstance(info.value, E.ProtocolError) or isinstance(
            info.value.__cause__, E.ProtocolError), repr(info.value)
        await asyncio.wait_for(server.client_closed.wait(), BOUND)
        assert not conn.is_connected
    finally:
        await asyncio.wait_for(conn.disconnect(), BOUND)


@tb.skip_asynctnt("turn malformed extension bytes into a ProtocolError and close")
@pytest.mark.parametrize("kind", list(MALFORMED_EXT))
async def test_malformed_ext_value(loop, kind):
    async with FakeServer(serve_with(data_reply(MALFORMED_EXT[kind]))) as server:
        await expect_protocol_error(server)


@tb.skip_asynctnt("turn a value cut short inside its header into a ProtocolError and close")
@pytest.mark.parametrize("raw", [
    b"\xc7\x00", b"\xc7\x05\x01\x00", b"\xc8\x00", b"\xc9\x00\x00\x00\x01\x04",
    b"\xd9", b"\xd9\x05ab", b"\xda\x00", b"\xdb\x00\x00\x00\x09abc", b"\xc4\x03a", b"\xc6\x01",
], ids=["ext8-no-type", "ext8-short", "ext16-length", "ext32-short", "str8-length", "str8-short",
        "str16-length", "str32-short", "bin8-short", "bin32-length"])
async def test_value_cut_short_in_its_sized_header(loop, raw):
    # the packet ends inside the value: its length (or an ext's type byte) is not all there
    async with FakeServer(serve_with(data_reply(raw))) as server:
        await expect_protocol_error(server)


@tb.skip_asynctnt("turn a malformed IPROTO_ERROR into a ProtocolError and close")
@pytest.mark.parametrize("raw", [
    b"\x93\x01\x02\x03", b"\x81\x00\x91\x05", b"\x81\x00\x91\x81\x00\xc3", b"\x81\x00\x92\x80",
], ids=["array", "frame-int", "type-bool", "truncated"])
async def test_malformed_iproto_error(loop, raw):
    def make(header):
        return frame(msgpack.packb({0: 0x8000 | 32, 1: header[1], 5: 1})
                     + b"\x82\x31\xa4boom\x52" + raw)
    async with FakeServer(serve_with(make)) as server:
        await expect_protocol_error(server)


@tb.only_loadtnt
@pytest.mark.parametrize("raw, expected", [
    (ext(4, DT), datetime.datetime.fromtimestamp(1_700_000_000)),
    (ext(6, b"\x00"), D.MPInterval(adjust=D.Adjust.EXCESS)),
    (ext(6, b"\x02\x00\xcc\x05\x00\xd0\xfe"), D.MPInterval(year=-2, adjust=D.Adjust.EXCESS)),
    (ext(5, b"\x01"), D.iproto.protocol.ExtType(5, b"\x01")),
], ids=["datetime-8-bytes", "interval-zero", "interval-repeated-field-last-wins", "other-ext"])
async def test_well_formed_ext_from_a_fake_server(loop, raw, expected):
    async with FakeServer(serve_with(data_reply(raw))) as server:
        conn = server.connection()
        await conn.connect()
        try:
            assert (await asyncio.wait_for(conn.call("f"), BOUND))[0] == expected
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)
