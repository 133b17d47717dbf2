"""Property-based and fuzz tests of the driver's wire path, with Hypothesis.

Round trip: values the driver encodes are read back by the msgpack library (the reference) as
the same values, and the msgpack library's encoding of them is decoded by the driver as the
same values, through one fake server that echoes what it was sent. Fuzz: whatever bytes a
server answers with (random, a valid reply cut short or with bytes changed), a request ends
with its result or one of the driver's errors within its timeout, the loop keeps running, and a
connection the driver gave up is closed. A fake server is used because a real one can send
neither arbitrary bytes nor a reference encoding.
"""
from __future__ import annotations

import asyncio
import decimal
import math
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import _fakeserver
from tests import _testbase as tb
from tests._fakeserver import BOUND, frame, read_request

IPROTO_CODE, IPROTO_SYNC, IPROTO_SCHEMA_VERSION = 0x00, 0x01, 0x05
IPROTO_TUPLE, IPROTO_DATA = 0x21, 0x30

pytestmark = tb.skip_asynctnt("fuzzing this project's decoder")

# --- values ---------------------------------------------------------------------------------

scalars = (st.none() | st.booleans()
           | st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1)
           | st.floats(allow_nan=False)
           | st.text(max_size=40) | st.binary(max_size=40))
keys = st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1) | st.text(max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20)
# the extension types the driver has: decimal (up to 38 digits), uuid


def _fits(d: decimal.Decimal) -> bool:
    t = d.as_tuple()
    return len(t.digits) <= 38 and isinstance(t.exponent, int) and -100 <= t.exponent <= 100


decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(_fits)
uuids = st.uuids()


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (True is not 1 here); a list stands for any array."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


# --- the echoing fake server ----------------------------------------------------------------


def _reference_unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, strict_map_key=False, raw=False)


class Echo:
    """Answers an insert with the tuple it carried: decoded by msgpack (what the driver sent,
    recorded in ``seen``) and packed again by msgpack (what the driver has to decode)."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def serve(self, index: int, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        while True:
            header, body = await read_request(reader)
            tup = body.get(IPROTO_TUPLE)
            self.seen.append(tup)
            payload = msgpack.packb({IPROTO_CODE: 0, IPROTO_SYNC: header[IPROTO_SYNC],
                                     IPROTO_SCHEMA_VERSION: 1})
            payload += msgpack.packb({IPROTO_DATA: [tup]})
            writer.write(frame(payload))
            await writer.drain()


class Loop:
    """One uvloop loop for a module: Hypothesis runs examples one after another in it."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, BOUND * 2))


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[Loop, Echo, Any]]:
    lp, server = Loop(), Echo()
    fake = _fakeserver.FakeServer(server.serve)
    lp.run(fake.__aenter__())
    conn = fake.connection(request_timeout=BOUND)
    lp.run(conn.connect())
    try:
        yield lp, server, conn
    finally:
        lp.run(conn.disconnect())
        lp.run(fake.__aexit__(None, None, None))
        lp.loop.close()


EXAMPLES = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@EXAMPLES
@given(tup=st.lists(values, max_size=6))
def test_values_round_trip_against_the_reference_msgpack(echo, tup) -> None:
    lp, server, conn = echo
    resp = lp.run(conn.insert(0, tup))
    sent = server.seen[-1]
    assert same(sent, tup), (sent, tup)  # the driver's encoding, as msgpack reads it
    assert len(resp) == 1
    assert same(list(resp[0]), tup), (list(resp[0]), tup)  # msgpack's encoding, as the driver reads it


@EXAMPLES
@given(tup=st.lists(decimals | uuids, min_size=1, max_size=4))
def test_extension_values_round_trip(echo, tup) -> None:
    lp, server, conn = echo
    resp = lp.run(conn.insert(0, tup))
    got = list(resp[0])
    assert all(isinstance(x, msgpack.ExtType) for x in server.seen[-1])  # sent as MP_EXT
    for want, have in zip(tup, got, strict=True):
        assert type(have) is type(want)
        if isinstance(want, decimal.Decimal):
            assert have.as_tuple() == want.as_tuple(), (want, have)  # digits and exponent
        else:
            assert isinstance(want, uuid.UUID) and have == want


@EXAMPLES
@given(n=st.integers(max_value=-(2 ** 63) - 1) | st.integers(min_value=2 ** 64))
def test_an_integer_msgpack_cannot_hold_is_refused_before_anything_is_sent(echo, n) -> None:
    lp, server, conn = echo
    before = len(server.seen)
    with pytest.raises(tb.exceptions.IntegerOutOfRangeError):
        lp.run(conn.insert(0, [n]))
    assert len(server.seen) == before
    assert lp.run(conn.insert(0, [1])) is not None  # the connection is still fine


# --- whatever a server answers ----------------------------------------------------------------


def _valid_reply(sync: int, data: Any, fixed: bool = False) -> bytes:
    """A reply as msgpack packs it (shortest forms), or (``fixed``) in the layout Tarantool
    writes: the header's code, sync and schema version as uint32, uint64 and uint32, and
    IPROTO_DATA's array header as an array32 (reserved before the count is known)."""
    if not fixed:
        payload = msgpack.packb({IPROTO_CODE: 0, IPROTO_SYNC: sync, IPROTO_SCHEMA_VERSION: 1})
        return frame(payload + msgpack.packb({IPROTO_DATA: data}))
    header = (b"\x83" + bytes([IPROTO_CODE]) + b"\xce" + struct.pack(">I", 0)
              + bytes([IPROTO_SYNC]) + b"\xcf" + struct.pack(">Q", sync)
              + bytes([IPROTO_SCHEMA_VERSION]) + b"\xce" + struct.pack(">I", 1))
    body = (b"\x81" + bytes([IPROTO_DATA]) + b"\xdd" + struct.pack(">I", len(data))
            + b"".join(msgpack.packb(v) for v in data))
    return frame(header + body)


def _mutated(reply: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    b = bytearray(reply)
    for pos, byte in edits:
        b[pos % len(b)] = byte
    return bytes(b[:cut]) if cut is not None else bytes(b)


replies = st.one_of(
    st.binary(max_size=64),                                    # anything at all
    st.binary(max_size=48).map(frame),                         # a frame of anything
    st.builds(lambda data, edits, cut, fixed: (data, edits, cut, fixed),  # a valid reply,
              st.lists(values, max_size=3),                                # damaged
              st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=4),
              st.none() | st.integers(0, 40), st.booleans()),
)
CLEAN = (tb.exceptions.TarantoolError, asyncio.TimeoutError, ConnectionError)


def _answering(reply: Any) -> Any:
    async def serve(index: int, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> str:
        header, _ = await read_request(reader)
        if isinstance(reply, tuple):
            data, edits, cut, fixed = reply
            writer.write(_mutated(_valid_reply(header[IPROTO_SYNC], data, fixed), edits, cut))
        else:
            writer.write(reply)
        await writer.drain()
        await asyncio.sleep(0.05)  # let the client read it all before the end of the stream
        writer.close()
        return "closed"
    return serve


@pytest.fixture(scope="module")
def fuzz_loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.loop.close()


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=replies)
def test_any_reply_ends_the_request_cleanly(fuzz_loop, reply) -> None:
    async def one() -> None:
        async with _fakeserver.FakeServer(_answering(reply)) as server:
            conn = server.connection(request_timeout=1.0)
            await conn.connect()
            try:
                try:
                    await conn.call("f")
                except CLEAN:
                    pass
                # the stream ended: the connection knows it, and a new request fails at once
                for _ in range(100):
                    if not conn.is_connected:
                        break
                    await asyncio.sleep(0.01)
                assert not conn.is_connected
                with pytest.raises(tb.exceptions.TarantoolNetworkError):
                    await conn.ping()
            finally:
                await conn.disconnect()

    fuzz_loop.run(one())


def test_every_cut_of_tarantools_own_layout_ends_cleanly(fuzz_loop) -> None:
    """The header and IPROTO_DATA as Tarantool lays them out (fixed widths: the decoder reads
    them inline) cut at every byte: each cut ends the request with a clean error, the whole
    reply with its data."""
    whole = _valid_reply(0, [[1, "a"]], fixed=True)

    async def one(cut: int | None) -> Any:
        async def serve(index: int, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> str:
            header, _ = await read_request(reader)
            reply = _valid_reply(header[IPROTO_SYNC], [[1, "a"]], fixed=True)
            writer.write(reply if cut is None else reply[:cut])
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.close()
            return "closed"

        async with _fakeserver.FakeServer(serve) as server:
            conn = server.connection(request_timeout=1.0)
            await conn.connect()
            try:
                return await conn.call("f")
            finally:
                await conn.disconnect()

    assert list(fuzz_loop.run(one(None)).body[0]) == [1, "a"]
    for cut in range(len(whole)):
        with pytest.raises(CLEAN):
            fuzz_loop.run(one(cut))
