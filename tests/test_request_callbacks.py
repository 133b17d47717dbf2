"""Done callbacks of a request that keeps its state itself (no asyncio.Future made for it): the
first callback of a pending request is run by the protocol with the other requests a read
answered, from one loop callback. It must behave as asyncio runs a future's callbacks: once, after
the result is set, never from inside the call that added it, in the context it was added with (or
the current one), with an exception reported to the loop's handler and the other callbacks still
run."""
import asyncio
import contextvars

from tests import _testbase as tb

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")
SLOW = "local d = ... require('fiber').sleep(d) return d"


async def until_done(*reqs):
    # polled, so that the requests get no callback but the test's own (await, gather and
    # wait would add one, and a second callback makes a request's asyncio.Future)
    for _ in range(5000):
        if all(r.done() for r in reqs):
            return
        await asyncio.sleep(0.001)
    raise AssertionError("requests not done")


async def test_the_first_callback_runs_once_with_the_request(conn):
    req = conn.ping()
    seen = []
    req.add_done_callback(seen.append)
    assert seen == []                   # never from inside add_done_callback
    res = await req
    await asyncio.sleep(0)
    assert seen == [req]
    assert req.done() and req.result() is res
    await asyncio.sleep(0.01)
    assert seen == [req]                # once


async def test_callbacks_run_in_their_context(conn):
    got = []
    ctx = contextvars.copy_context()
    ctx.run(VAR.set, "given")
    VAR.set("current")
    a = conn.ping()
    a.add_done_callback(lambda r: got.append(("a", VAR.get())), context=ctx)
    b = conn.ping()
    b.add_done_callback(lambda r: got.append(("b", VAR.get())))     # the current context, copied
    VAR.set("later")
    await until_done(a, b)
    await asyncio.sleep(0.01)
    assert sorted(got) == [("a", "given"), ("b", "current")]


async def test_a_raising_callback_is_reported_and_the_others_run(conn, loop):
    reported = []
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda lp, context: reported.append(context))
    try:
        seen = []
        reqs = [conn.ping() for _ in range(5)]

        def boom(r):
            raise ValueError("from a callback")

        reqs[1].add_done_callback(boom)
        for r in reqs:
            if r is not reqs[1]:
                r.add_done_callback(seen.append)
        await until_done(*reqs)
        await asyncio.sleep(0.01)
        assert len(seen) == 4
        assert len(reported) == 1
        assert isinstance(reported[0]["exception"], ValueError)
        assert "callback" in reported[0]["message"]
    finally:
        loop.set_exception_handler(old)


async def test_a_removed_callback_is_not_called(conn):
    seen = []
    req = conn.eval(SLOW, [0.05])
    req.add_done_callback(seen.append)
    assert req.remove_done_callback(seen.append) == 1
    await req
    await asyncio.sleep(0.01)
    assert seen == []


async def test_a_callback_added_after_the_reply_runs_soon(conn):
    req = conn.ping()
    await req
    seen = []
    req.add_done_callback(seen.append)
    assert seen == []
    await asyncio.sleep(0)
    assert seen == [req]


async def test_two_callbacks_and_an_awaiting_task(conn):
    # the second callback makes the request's asyncio.Future: all three still run once
    seen = []
    req = conn.eval(SLOW, [0.05])
    req.add_done_callback(lambda r: seen.append(1))
    req.add_done_callback(lambda r: seen.append(2))
    res = await req
    await asyncio.sleep(0.01)
    assert res[0] == 0.05
    assert sorted(seen) == [1, 2]
    assert tb.pending_count(conn) == 0


async def test_a_failed_request_wakes_its_task_with_the_error(conn):
    req = conn.eval("error('nope')")
    try:
        await req
    except tb.exceptions.TarantoolDatabaseError as e:
        assert "nope" in str(e)
    else:
        raise AssertionError("no error")
    assert req.done() and not req.cancelled()
    assert isinstance(req.exception(), tb.exceptions.TarantoolDatabaseError)
