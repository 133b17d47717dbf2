"""A fake server that greets properly, then misbehaves: garbage, truncation, stalls.

The driver must raise a clean error (a TarantoolNetworkError, e.g. a protocol error) and close
the connection, or time out where the server merely stalls; never crash, never hang. Every
wait here is bounded.
"""
import asyncio
import struct

import msgpack
import pytest

from tests import _fakeserver
from tests import _testbase as tb
from tests._fakeserver import BOUND, frame, greeting, read_request

IPROTO_CODE, IPROTO_SYNC, IPROTO_SCHEMA_VERSION = 0x00, 0x01, 0x05
IPROTO_DATA, IPROTO_ERROR = 0x30, 0x31
LOST = tb.exceptions.TarantoolNetworkError


def packet(header, body=None, *, raw_body=None):
    payload = msgpack.packb(header)
    payload += raw_body if raw_body is not None else msgpack.packb(body if body else {})
    return frame(payload)


def ok(sync, data=None):
    body = {IPROTO_DATA: data} if data is not None else {}
    return packet({IPROTO_CODE: 0, IPROTO_SYNC: sync, IPROTO_SCHEMA_VERSION: 1}, body)


def FakeServer(behaviour, greet=None):
    """The shared fake server, serving every connection with ``behaviour(reader, writer)``."""
    return _fakeserver.FakeServer(lambda index, reader, writer: behaviour(reader, writer),
                                  greet=greet)


async def stall(reader, writer):
    """Behaviour: never answer (the server then waits for the client to close)."""


def replying(make_reply, then=None):
    """Behaviour: answer the first request with ``make_reply(sync)``, then close or stall."""
    async def behaviour(reader, writer):
        header, _ = await read_request(reader)
        writer.write(make_reply(header[IPROTO_SYNC]))
        await writer.drain()
        if then == "close":
            writer.close()
            return "closed"
        return None
    return behaviour


async def expect_clean_failure(server, request="call"):
    """The request raises a network/protocol error and the client closes the connection."""
    conn = server.connection()
    await asyncio.wait_for(conn.connect(), BOUND)
    try:
        coro = conn.call("f") if request == "call" else conn.ping()
        with pytest.raises(LOST):
            await asyncio.wait_for(coro, BOUND)
        await asyncio.wait_for(server.client_closed.wait(), BOUND)
        assert not conn.is_connected
        with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
            await conn.ping()
    finally:
        await asyncio.wait_for(conn.disconnect(), BOUND)


MALFORMED = {
    "garbage": lambda sync: b"\xc1" * 32,
    "length-not-an-integer": lambda sync: b"\xa3abc" + b"\x00" * 16,
    "header-not-a-map": lambda sync: packet([1, 2, 3], {}),
    "header-without-sync": lambda sync: packet({IPROTO_CODE: 0}, {}),
    "body-invalid-msgpack": lambda sync: packet({IPROTO_CODE: 0, IPROTO_SYNC: sync},
                                                raw_body=b"\x81\x30\xc1"),
    # The length prefix covers only part of the header: decoding must not run past it.
    "length-shorter-than-header": lambda sync: b"\xce" + struct.pack(">I", 3)
    + msgpack.packb({IPROTO_CODE: 0, IPROTO_SYNC: sync}) + msgpack.packb({}),
    "data-not-an-array": lambda sync: packet({IPROTO_CODE: 0, IPROTO_SYNC: sync},
                                             {IPROTO_DATA: 5}),
    # IPROTO_EVENT (0x4c) without IPROTO_EVENT_KEY (0x57), with a key that is not a
    # string, or with bytes after its body
    "event-without-key": lambda sync: packet({IPROTO_CODE: 0x4C, IPROTO_SYNC: 0}, {0x58: 1}),
    "event-key-not-a-string": lambda sync: packet({IPROTO_CODE: 0x4C}, {0x57: 5}),
    "event-trailing-bytes": lambda sync: packet({IPROTO_CODE: 0x4C, IPROTO_SYNC: 0},
                                                raw_body=msgpack.packb({0x57: "k"}) + b"\x00"),
}


@tb.skip_asynctnt("watchers (IPROTO_EVENT)")
async def test_event_for_a_key_not_watched_is_ignored(loop):
    # an event nobody asked for (or for a key just unwatched) changes nothing
    def reply(sync):
        return packet({IPROTO_CODE: 0x4C}, {0x57: "nobody", 0x58: [1]}) + ok(sync, ["fine"])

    async with FakeServer(replying(reply, then="stall")) as server:
        conn = server.connection()
        await asyncio.wait_for(conn.connect(), BOUND)
        try:
            assert (await asyncio.wait_for(conn.call("f"), BOUND)).body == ["fine"]
            assert conn.is_connected
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


@tb.skip_asynctnt("turn malformed packets into a TarantoolNetworkError and close")
@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_malformed_reply(loop, kind):
    async with FakeServer(replying(MALFORMED[kind], then="stall")) as server:
        await expect_clean_failure(server)


@pytest.mark.parametrize("cut", [1, 3, 5, 12])
async def test_truncated_reply_then_close(loop, cut):
    full = ok(1, ["never complete"])
    async with FakeServer(replying(lambda sync: ok(sync, ["never complete"])[:cut],
                                   then="close")) as server:
        assert cut < len(full)
        conn = server.connection()
        await conn.connect()
        try:
            with pytest.raises((LOST, ConnectionError)):
                await asyncio.wait_for(conn.call("f"), BOUND)
            assert not conn.is_connected
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


async def test_truncated_reply_then_stall(loop):
    async with FakeServer(replying(lambda sync: ok(sync, ["x" * 100])[:20],
                                   then="stall")) as server:
        conn = server.connection()
        await conn.connect()
        with pytest.raises(asyncio.TimeoutError):
            await conn.call("f", timeout=0.3)
        await asyncio.wait_for(conn.disconnect(), BOUND)
        await asyncio.wait_for(server.client_closed.wait(), BOUND)
        assert not conn.is_connected


async def test_stalled_server_times_out(loop):
    async with FakeServer(stall) as server:
        conn = server.connection(request_timeout=0.2)
        await conn.connect()
        for _ in range(3):
            with pytest.raises(asyncio.TimeoutError):
                await conn.ping()
        assert conn.is_connected  # a slow server is not a broken one
        await asyncio.wait_for(conn.disconnect(), BOUND)
        await asyncio.wait_for(server.client_closed.wait(), BOUND)


@tb.skip_asynctnt("survive a garbage length prefix (TypeError escapes data_received)")
async def test_huge_length_prefix(loop):
    async def behaviour(reader, writer):
        await read_request(reader)
        writer.write(b"\xce\xff\xff\xff\xff" + b"\x00" * 64)
        await writer.drain()

    async with FakeServer(behaviour) as server:
        conn = server.connection()
        await conn.connect()
        try:
            # Either refused outright as a protocol error, or waited for (and timed out).
            with pytest.raises((LOST, asyncio.TimeoutError)):
                await conn.call("f", timeout=1)
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


async def test_server_closes_with_requests_pending(loop):
    async def behaviour(reader, writer):
        for _ in range(10):
            await read_request(reader)
        writer.close()
        return "closed"

    async with FakeServer(behaviour) as server:
        conn = server.connection()
        await conn.connect()
        results = await asyncio.wait_for(
            asyncio.gather(*(conn.call("f") for _ in range(10)), return_exceptions=True), BOUND)
        assert all(isinstance(r, (LOST, ConnectionError)) for r in results), results
        assert not conn.is_connected
        await conn.disconnect()


async def test_unknown_sync_ignored(loop):
    async def behaviour(reader, writer):
        header, _ = await read_request(reader)
        sync = header[IPROTO_SYNC]
        writer.write(ok(sync + 1000, ["stray"]))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(ok(sync, ["right"]))
        await writer.drain()

    async with FakeServer(behaviour) as server:
        conn = server.connection()
        await conn.connect()
        res = await asyncio.wait_for(conn.call("f"), BOUND)
        assert res.body == ["right"]
        await conn.disconnect()


async def test_replies_byte_by_byte_and_out_of_order(loop):
    async def behaviour(reader, writer):
        syncs = [(await read_request(reader))[0][IPROTO_SYNC] for _ in range(3)]
        stream = b"".join(ok(s, [s]) for s in reversed(syncs))
        for i in range(len(stream)):
            writer.write(stream[i:i + 1])
            await writer.drain()
            await asyncio.sleep(0)

    async with FakeServer(behaviour) as server:
        conn = server.connection()
        await conn.connect()
        results = await asyncio.wait_for(
            asyncio.gather(*(conn.call("f") for _ in range(3))), BOUND)
        assert [r.body for r in results] == [[r.sync] for r in results]
        assert len({r.sync for r in results}) == 3
        await conn.disconnect()


async def test_many_replies_in_one_write(loop):
    async def behaviour(reader, writer):
        syncs = [(await read_request(reader))[0][IPROTO_SYNC] for _ in range(500)]
        writer.write(b"".join(ok(s, [s, "x" * (s % 50)]) for s in syncs))
        await writer.drain()

    async with FakeServer(behaviour) as server:
        conn = server.connection()
        await conn.connect()
        results = await asyncio.wait_for(
            asyncio.gather(*(conn.call("f") for _ in range(500))), BOUND)
        assert all(r.body == [r.sync, "x" * (r.sync % 50)] for r in results)
        await conn.disconnect()


async def test_error_reply_without_message(loop):
    reply = replying(lambda sync: packet({IPROTO_CODE: 0x8000 | 3, IPROTO_SYNC: sync}, {}),
                     then="stall")
    async with FakeServer(reply) as server:
        conn = server.connection()
        await conn.connect()
        with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
            await asyncio.wait_for(conn.call("f"), BOUND)
        assert info.value.code == 3
        await conn.disconnect()


@pytest.mark.parametrize(
    "greet",
    [
        b"HTTP/1.1 400 Bad Request\r\n".ljust(128, b" "),
        b"Tarantool 2.6.0 (Binary) uuid\n".ljust(128, b"\x00"),  # no salt line
        b"\x00" * 128,
    ],
    ids=["http", "no-salt", "zeros"],
)
@tb.skip_asynctnt("survive a bad greeting (AssertionError escapes data_received)")
async def test_bad_greeting(loop, greet):
    async with FakeServer(stall, greet=greet) as server:
        conn = server.connection(username="t1", password="t1")
        with pytest.raises((tb.exceptions.TarantoolError, asyncio.TimeoutError, ValueError)):
            await asyncio.wait_for(conn.connect(), BOUND)
        assert not conn.is_connected
        await asyncio.wait_for(conn.disconnect(), BOUND)


async def test_short_greeting_then_close(loop):
    async def close_now(reader, writer):
        writer.close()
        return "closed"

    async with FakeServer(close_now, greet=greeting()[:50]) as server:
        conn = server.connection()
        with pytest.raises((tb.exceptions.TarantoolError, ConnectionError,
                            asyncio.TimeoutError)):
            await asyncio.wait_for(conn.connect(), BOUND)
        assert not conn.is_connected
        await asyncio.wait_for(conn.disconnect(), BOUND)


async def test_connect_timeout_on_silent_server(loop):
    async with FakeServer(stall, greet=b"") as server:
        conn = server.connection(connect_timeout=0.3)
        with pytest.raises((asyncio.TimeoutError, tb.exceptions.TarantoolError)):
            await asyncio.wait_for(conn.connect(), BOUND)
        assert not conn.is_connected
        await asyncio.wait_for(conn.disconnect(), BOUND)


@tb.skip_asynctnt("send IPROTO_SCHEMA_VERSION and resend on ER_WRONG_SCHEMA_VERSION")
async def test_wrong_schema_version_resent_exactly_once(loop):
    seen = {"insert": 0, "schema_versions": []}

    async def behaviour(reader, writer):
        while True:
            try:
                header, body = await read_request(reader)
            except asyncio.IncompleteReadError:
                return "closed"
            sync = header[IPROTO_SYNC]
            if header[IPROTO_CODE] == 0x01 and body.get(0x10) in (281, 289):  # _vspace/_vindex
                writer.write(packet({IPROTO_CODE: 0, IPROTO_SYNC: sync,
                                     IPROTO_SCHEMA_VERSION: 5}, {IPROTO_DATA: []}))
            else:
                seen["insert"] += 1
                seen["schema_versions"].append(header.get(IPROTO_SCHEMA_VERSION))
                writer.write(packet({IPROTO_CODE: 0x8000 | 109, IPROTO_SYNC: sync,
                                     IPROTO_SCHEMA_VERSION: 5},
                                    {IPROTO_ERROR: "Wrong schema version, current: 6"}))
            await writer.drain()

    async with FakeServer(behaviour) as server:
        conn = server.connection(fetch_schema=True, auto_refetch_schema=True)
        await asyncio.wait_for(conn.connect(), BOUND)
        with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
            await asyncio.wait_for(conn.insert(512, [1, "a"]), BOUND)
        assert info.value.code == tb.exceptions.ErrorCode.ER_WRONG_SCHEMA_VERSION
        assert seen["insert"] == 2  # sent, refetched, resent once, then the error
        assert seen["schema_versions"] == [5, 5]
        assert tb.pending_count(conn) == 0
        await conn.disconnect()
