"""The defects a second review of the Cython core found (issue 15), each with its test.

Every test here failed on the core as it was before the fix (the commit that adds this file
says how), and runs against the real session server; the fake server only stands in for a
server that lies about a packet's length.
"""
from __future__ import annotations

import asyncio
import decimal
import gc
import os
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from tests import _testbase as tb
from tests._fakeserver import FakeServer

E = tb.exceptions
pytestmark = tb.only_loadtnt


def _rows(tnt):
    return sorted(tuple(r) for r in tb.admin_eval(tnt, "return box.space.tester:select()")[0])


# --- 1. the encoder is re-entrant ----------------------------------------------------


async def test_request_sent_from_user_code_during_encoding_goes_on_its_own(tnt, conn):
    inner = []

    class Sneaky(int):
        # int() of it runs user code in the middle of encoding the outer insert
        def __int__(self):
            inner.append(conn.replace("tester", [6, "inner"]))
            return int.__int__(self)

    await conn.insert("tester", [Sneaky(5), "outer"])
    await inner[0]
    assert _rows(tnt) == [(5, "outer"), (6, "inner")]
    assert conn.is_fully_connected


async def test_request_from_a_finalizer_run_during_encoding(tnt, conn):
    fired = []

    class Finalized:
        def __del__(self):
            fired.append(conn.replace("tester", [7, "from __del__"]))

    class Digit(int):
        def __int__(self):
            # drop the last reference mid-encoding, as a GC pass would
            holder.clear()
            return int.__int__(self)

    holder = [Finalized()]
    await conn.insert("tester", [Digit(8), "outer"])
    assert len(fired) == 1
    await fired[0]
    assert _rows(tnt) == [(7, "from __del__"), (8, "outer")]


def test_decimal_digits_that_send_a_big_request_do_not_crash(tnt):
    # Before the fix put_decimal held a pointer into the write buffer across
    # int() of each digit; a digit that sends a 4 MB request moves the buffer
    # and the encoder wrote through freed memory. Run in a child: a crash is a
    # failure of this test, not of the suite.
    script = textwrap.dedent(f"""
        import asyncio, decimal, sys
        from loadtnt import driver

        async def main():
            conn = driver.Connection(host={tnt.host!r}, port={tnt.port}, username='t1',
                                     password='t1')
            await conn.connect()
            sent = []

            class Digit:
                # a digit object: reading it as a C integer runs this
                def __init__(self, v):
                    self.v = v

                def __int__(self):
                    if not sent:
                        sent.append(conn.replace('tester', [2, 'x' * (4 << 20)]))
                    return self.v

                __index__ = __int__

                def __eq__(self, other):
                    return self.v == other

            class Sly(decimal.Decimal):
                def as_tuple(self):
                    t = super().as_tuple()
                    return decimal.DecimalTuple(t.sign, tuple(Digit(d) for d in t.digits),
                                                t.exponent)

            await conn.replace('tester', [1, 'd', Sly('123.45')])
            await sent[0]
            row = (await conn.select('tester', [1]))[0]
            assert row[2] == decimal.Decimal('123.45'), row
            assert len((await conn.select('tester', [2]))[0][1]) == 4 << 20
            await conn.disconnect()
            print('ok')

        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True,
                          timeout=60, env=dict(os.environ, PYTHONFAULTHANDLER="1"))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


# --- 2. a resend uses what was encoded at call time ------------------------------------


def _bump_schema(tnt):
    tb.admin_eval(tnt, "box.schema.space.create('review_bump'):drop()")


async def test_resend_after_wrong_schema_uses_the_values_of_the_call(tnt, conn):
    _bump_schema(tnt)  # the connection's schema id is now stale: the insert bounces once
    row = [1, "original"]
    futs = []
    for i in range(100):
        row[0] = i
        row[1] = f"value{i}"
        futs.append(conn.insert("tester", row))
    row[0], row[1] = 10**6, "changed after the calls"
    await asyncio.gather(*futs)
    assert _rows(tnt) == [(i, f"value{i}") for i in range(100)]


async def test_request_waiting_for_a_new_space_uses_the_values_of_the_call(tnt, conn):
    tb.admin_eval(tnt, """
        local s = box.schema.space.create('review_new', {if_not_exists = true})
        s:create_index('pk', {if_not_exists = true})
    """)
    try:
        row = [1, "original"]
        fut = conn.insert("review_new", row)  # not in the client's schema yet: waits
        row[1] = "changed"
        await fut
        got = tb.admin_eval(tnt, "return box.space.review_new:select()")[0]
        assert got == [[1, "original"]]
    finally:
        tb.admin_eval(tnt, "box.space.review_new:drop()")


async def test_resend_goes_to_a_recreated_space(tnt, conn):
    # drop and create again: the same name, a new id; the resend follows the name
    tb.admin_eval(tnt, """
        local s = box.schema.space.create('review_re', {if_not_exists = true})
        s:create_index('pk', {if_not_exists = true})
    """)
    try:
        await conn.refetch_schema()
        tb.admin_eval(tnt, """
            box.space.review_re:drop()
            local s = box.schema.space.create('review_re')
            s:create_index('pk')
        """)
        await conn.insert("review_re", [1, "after recreate"])
        assert tb.admin_eval(tnt, "return box.space.review_re:select()")[0] == [
            [1, "after recreate"]]
    finally:
        tb.admin_eval(tnt, "box.space.review_re:drop()")


# --- 3. schema-independent requests carry no schema version -------------------------


@pytest.mark.async_timeout(60)
async def test_call_eval_ping_execute_do_not_bounce_under_ddl(tnt, conn):
    tb.admin_eval(tnt, """
        local fiber = require('fiber')
        rawset(_G, 'review_ddl_stop', false)
        fiber.create(function()
            while not review_ddl_stop do
                box.schema.space.create('review_ddl'):drop()
                fiber.sleep(0.0005)
            end
        end)
    """)
    try:
        before = tb.admin_eval(tnt, "return box.info.schema_version or 0")[0]
        results = await asyncio.gather(
            *(conn.call("func_hello") for _ in range(500)),
            *(conn.eval("return 1") for _ in range(500)),
            *(conn.ping() for _ in range(500)),
            *(conn.execute("SELECT 1") for _ in range(200)),
            return_exceptions=True)
        after = tb.admin_eval(tnt, "return box.info.schema_version or 0")[0]
    finally:
        tb.admin_eval(tnt, "review_ddl_stop = true")
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, f"{len(failed)} of {len(results)} failed, e.g. {failed[0]!r}"
    if before and after:
        assert after > before  # the DDL really ran meanwhile


# --- 4. an untrusted length prefix commits no memory ----------------------------------


async def test_forged_length_prefix_allocates_only_what_arrives(loop):
    async def serve(index, reader, writer):
        await reader.read(1)  # the ping
        writer.write(b"\xce" + (2**30 - 1).to_bytes(4, "big") + b"x" * 101)
        await writer.drain()
        await asyncio.sleep(30)

    async with FakeServer(serve) as server:
        conn = server.connection()
        await conn.connect()
        fut = conn.ping(timeout=0.5)
        await asyncio.sleep(0.2)
        assert conn._protocol.read_buffer_size() <= 1 << 20, conn._protocol.read_buffer_size()
        with pytest.raises(asyncio.TimeoutError):
            await fut
        conn.close()


async def test_max_packet_size_refuses_a_longer_packet(loop):
    async def serve(index, reader, writer):
        await reader.read(1)
        writer.write(b"\xce" + (2 << 20).to_bytes(4, "big") + b"x" * 10)
        await writer.drain()
        await asyncio.sleep(30)

    async with FakeServer(serve) as server:
        conn = server.connection(max_packet_size=1 << 20)
        await conn.connect()
        with pytest.raises(E.ProtocolError, match="max_packet_size"):
            await conn.ping(timeout=3)
        assert not conn.is_connected


async def test_a_big_real_reply_still_arrives(tnt, conn):
    await conn.insert("tester", [1, "y" * (8 << 20)])
    assert len((await conn.select("tester", [1]))[0][1]) == 8 << 20


# --- 5. timer buckets go with their requests ----------------------------------------


async def test_timer_buckets_are_released_when_their_requests_end(tnt, connect):
    conn = await connect(tnt, request_timeout=3600)
    for _ in range(20):
        await asyncio.gather(*(conn.ping() for _ in range(500)))
        await asyncio.sleep(0.002)  # spread the deadlines over many milliseconds
    assert conn._protocol.timer_count() == 0
    assert conn._protocol.pending_count() == 0


# --- 6. cancelled requests are dropped at once -------------------------------------


async def test_cancelled_task_drops_its_request_and_timer_at_once(tnt, connect):
    conn = await connect(tnt, request_timeout=3600)
    task = asyncio.ensure_future(conn.call("func_long", [1]))
    await asyncio.sleep(0.05)  # sent, and far from answered
    assert conn._protocol.pending_count() == 1
    assert conn._protocol.timer_count() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert conn._protocol.pending_count() == 0
    assert conn._protocol.timer_count() == 0
    late = conn._protocol.late_replies
    for _ in range(100):  # the server's reply comes (after 1 s): counted, dropped
        if conn._protocol.late_replies > late:
            break
        await asyncio.sleep(0.05)
    assert conn._protocol.late_replies == late + 1
    assert (await conn.ping()).code == 0


async def test_wait_for_timeout_drops_the_request(conn):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(conn.call("func_long", [5]), 0.05)
    assert conn._protocol.pending_count() == 0
    assert conn._protocol.cancelled == 1


async def test_request_is_a_future_for_asyncio(conn):
    req = conn.call("func_hello")
    assert asyncio.isfuture(req)
    assert asyncio.ensure_future(req) is req
    seen = []
    req.add_done_callback(seen.append)
    res = await asyncio.shield(req)
    await asyncio.sleep(0)
    assert res[0] == "hello" and req.done() and req.result() is res
    assert seen == [req]
    done, _ = await asyncio.wait([conn.ping()])
    assert done.pop().result().code == 0
    assert [(await f).code for f in asyncio.as_completed([conn.ping(), conn.ping()])] == [0, 0]


# --- 7. connect() retries a connection lost during the schema fetch ----------------


async def test_connect_retries_when_the_schema_fetch_loses_the_connection(tnt, loop):
    # a proxy that drops the first connection as soon as the client asks for the schema
    attempts = []

    async def handle(reader, writer):
        attempts.append(1)
        up_r, up_w = await asyncio.open_connection(tnt.host, tnt.port)
        greeting = await up_r.readexactly(128)
        writer.write(greeting)
        if len(attempts) == 1:
            await reader.read(1)  # the first request (the schema select): hang up
            writer.close()
            up_w.close()
            return

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = tb.driver.Connection(host="127.0.0.1", port=port, reconnect_timeout=0.05,
                                connect_timeout=5, ping_timeout=0)
    try:
        await conn.connect()
        assert len(attempts) == 2
        assert (await conn.ping()).code == 0
    finally:
        await conn.disconnect()
        server.close()


# --- 8. disconnect() racing connect() ------------------------------------------------


@pytest.mark.async_timeout(30)
async def test_slow_disconnect_does_not_undo_the_next_connect(tnt, loop):
    # The first connection goes through a proxy that stops reading, so its
    # close waits for a full write buffer; meanwhile connect() opens a new one.
    stalled = []
    handlers = []
    done = asyncio.Event()
    stall = asyncio.Event()

    async def handle(reader, writer):
        handlers.append(asyncio.current_task())
        up_r, up_w = await asyncio.open_connection(tnt.host, tnt.port)
        first = not stalled
        stalled.extend([writer, up_w])

        async def pipe(src, dst, stalls):
            # client -> server of the first connection stops reading once the
            # test says so (after the handshake, IPROTO_ID included on 3.x)
            try:
                while data := await src.read(65536):
                    if stalls and stall.is_set():
                        await done.wait()
                        return
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass

        await asyncio.gather(pipe(up_r, writer, False), pipe(reader, up_w, first))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = tb.driver.Connection(host="127.0.0.1", port=port, fetch_schema=False,
                                ping_timeout=0, reconnect_timeout=0.05)
    try:
        await conn.connect()
        stall.set()
        # piles up in the client's write buffer: nobody reads them
        piled = [conn.eval("return 1", ["z" * (4 << 20)]) for _ in range(8)]
        await asyncio.sleep(0.1)
        closing = asyncio.ensure_future(conn.disconnect())
        await asyncio.sleep(0.05)
        await conn.connect()
        await closing  # finishes last: must not mark the live connection disconnected
        assert conn.state == tb.connection_state().CONNECTED
        assert (await conn.ping()).code == 0
        lost = await asyncio.gather(*piled, return_exceptions=True)
        assert all(isinstance(e, E.TarantoolNotConnectedError) for e in lost)
    finally:
        await conn.disconnect()
        done.set()
        for w in stalled:
            w.close()
        await asyncio.wait(handlers, timeout=5)
        server.close()


# --- 9. decimals the server takes are sent as the server encodes them --------------


_HEX = "(require('msgpack').encode(...):gsub('.', function(c) return ('%02x'):format(c:byte()) end))"


@pytest.mark.parametrize("text", ["1E+38", "1.23E+100", "1.5E-100", "1E+1000", "-7.25E+3"])
async def test_decimal_exponent_kept_as_scale(tnt, conn, text):
    major = int(str(tb.admin_eval(tnt, "return box.info.version")[0]).split(".")[0])
    if major < 3:
        pytest.skip(f"needs Tarantool 3.x: 2.x decimals cannot hold {text}")
    value = Decimal(text)
    expected = tb.admin_eval(
        tnt, f"local d = require('decimal').new('{text}') return " + _HEX.replace("...", "d"))[0]
    got = (await conn.eval(f"return {_HEX}", [value]))[0]
    assert got == expected
    assert (await conn.eval("return ...", [value]))[0] == value


# --- also --------------------------------------------------------------------------


async def test_self_referencing_value_is_a_value_error(conn):
    loop_list: list = []
    loop_list.append(loop_list)
    with pytest.raises(ValueError):
        conn.eval("return ...", [loop_list])
    with pytest.raises(RecursionError):  # still what it was, for code that catches that
        conn.eval("return ...", [loop_list])
    assert (await conn.ping()).code == 0


async def test_out_of_range_int_is_a_value_error(conn):
    with pytest.raises(ValueError):
        conn.eval("return ...", [2**64])
    with pytest.raises(OverflowError):
        conn.eval("return ...", [-(2**63) - 1])
    assert (await conn.ping()).code == 0


async def test_decimal_subclass_digits_are_checked(conn):
    class Bad(decimal.Decimal):
        def as_tuple(self):
            return decimal.DecimalTuple(0, (1, 12), 0)

    with pytest.raises(ValueError, match="not 0..9"):
        conn.eval("return ...", [Bad(1)])
    gc.collect()
    assert (await conn.ping()).code == 0


async def test_gathered_request_leaves_no_reference_cycle(conn):
    # Requests are not tracked by the cycle collector: a done callback that kept
    # a reference back to its request (gather, wait, as_completed add one) would
    # keep both alive forever.
    import sys

    req = conn.ping()
    await asyncio.gather(req)
    await asyncio.wait([req])
    await asyncio.sleep(0)
    gc.collect()
    assert sys.getrefcount(req) == 2  # the local and getrefcount's argument
