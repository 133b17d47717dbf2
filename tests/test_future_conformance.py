"""A request is an asyncio.Future in every way asyncio looks at one.

Every case below runs twice in the same loop: once over plain ``loop.create_future()`` futures
resolved by timers (the reference: what asyncio does with its own futures), then over real requests
to the session server resolved by its replies, the same shapes at the same times. Both runs must
give the case's expected outcome, so the test checks its own expectations as well as the driver.
Each run has a hard deadline: a combinator that never returns fails as "hang" instead of blocking
the suite (the gather over cancelled requests did, before requests had the private members asyncio
reads: ``_cancel_message``, ``_make_cancelled_error``).

The catalogue follows what CPython's asyncio (3.10-3.13: tasks.py, futures.py, base_events.py,
timeouts.py, taskgroups.py, staggered.py) and uvloop's loop.pyx do with a future they are given,
and the checks of Lib/test/test_asyncio/test_futures.py and test_tasks.py that apply to a future
made by someone else (result/exception states, cancel messages, callbacks run once through the
loop, remove_done_callback counts, contexts). ``make test-pythons`` runs it on every Python.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from tests import _testbase as tb

DEADLINE = 5.0      # seconds per run of a case; every case needs well under one
SLOW = 20.0         # a request the case never sees answered (it cancels it)
PY311 = sys.version_info >= (3, 11)


class Boom(Exception):
    """What a plain future fails with (a request fails with the server's error)."""


class Plain:
    """Plain futures of the running loop, resolved by timers."""

    kind = "future"

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.made: list[asyncio.Future[Any]] = []

    def _new(self) -> asyncio.Future[Any]:
        fut = self.loop.create_future()
        self.made.append(fut)
        return fut

    def ok(self, delay: float = 0.02, value: str = "ok") -> Any:
        fut = self._new()
        self.loop.call_later(delay, lambda: fut.done() or fut.set_result(value))
        return fut

    def err(self, delay: float = 0.02) -> Any:
        fut = self._new()
        self.loop.call_later(delay, lambda: fut.done() or fut.set_exception(Boom("boom")))
        return fut

    def slow(self) -> Any:
        return self._new()

    @staticmethod
    def value(result: Any) -> Any:
        return result

    async def settle(self) -> None:
        for fut in self.made:
            if not fut.done():
                fut.cancel()


class Requests:
    """Requests to the session server: eval after a server-side sleep."""

    kind = "request"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def ok(self, delay: float = 0.02, value: str = "ok") -> Any:
        return self.conn.eval("local d, v = ... require('fiber').sleep(d) return v", [delay, value])

    def err(self, delay: float = 0.02) -> Any:
        return self.conn.eval("local d = ... require('fiber').sleep(d) error('boom')", [delay])

    def slow(self) -> Any:
        return self.conn.eval("local d = ... require('fiber').sleep(d)", [SLOW])

    @staticmethod
    def value(result: Any) -> Any:
        return next(iter(result)) if result is not None and len(result) else None

    async def settle(self) -> None:
        # Every request the case cancelled or abandoned is dropped by the driver at once.
        for _ in range(100):
            if tb.pending_count(self.conn) == 0:
                return
            await asyncio.sleep(0.02)
        assert tb.pending_count(self.conn) == 0, "a cancelled request is still pending"


def outcome(src: Any, x: Any) -> Any:
    """A result or an exception as a comparable value."""
    if isinstance(x, asyncio.CancelledError):
        return ("cancelled", str(x))
    if isinstance(x, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(x, BaseException):
        if isinstance(x, (Boom, tb.exceptions.TarantoolDatabaseError)):
            return "error"
        return ("unexpected", repr(x))
    return src.value(x)


async def until_done(*futs: Any) -> None:
    await asyncio.wait(set(futs))


async def awaiter(fut: Any) -> Any:
    return await fut


# --- the cases: each returns what it observed ------------------------------------------

async def gather_results(src: Any) -> Any:
    return [src.value(v) for v in await asyncio.gather(src.ok(0.02, "a"), src.ok(0.01, "b"))]


async def gather_error_propagates(src: Any) -> Any:
    a, b = src.ok(0.05), src.err(0.01)
    try:
        await asyncio.gather(a, b)
    except BaseException as e:  # noqa: BLE001
        got = outcome(src, e)
    await until_done(a)
    return got, outcome(src, await a)


async def gather_return_exceptions(src: Any) -> Any:
    res = await asyncio.gather(src.ok(), src.err(), return_exceptions=True)
    return [outcome(src, r) for r in res]


async def gather_cancelled_before(src: Any) -> Any:
    # The hang of the issue: requests made with ensure_future, cancelled, then gathered.
    a, b = asyncio.ensure_future(src.slow()), asyncio.ensure_future(src.slow())
    await asyncio.sleep(0.01)
    a.cancel()
    b.cancel("bye")
    res = await asyncio.gather(a, b, src.ok(), return_exceptions=True)
    return [outcome(src, r) for r in res]


async def gather_cancelled_raises(src: Any) -> Any:
    a = src.slow()
    a.cancel("stop")
    try:
        await asyncio.gather(a, src.ok())
    except BaseException as e:  # noqa: BLE001
        return outcome(src, e)
    return "returned"


async def gather_child_cancelled_while_waiting(src: Any) -> Any:
    a = src.slow()
    g = asyncio.gather(a, src.ok(0.05), return_exceptions=True)
    await asyncio.sleep(0.01)
    a.cancel("stop")
    return [outcome(src, r) for r in await g]


async def gather_outer_cancelled(src: Any) -> Any:
    a, b = src.slow(), src.slow()
    g = asyncio.gather(a, b)
    await asyncio.sleep(0.01)
    g.cancel("halt")
    try:
        await g
    except asyncio.CancelledError:
        pass
    return a.cancelled(), b.cancelled(), g.cancelled()


async def wait_timeout(src: Any) -> Any:
    a, b = src.ok(), src.slow()
    done, pending = await asyncio.wait([a, b], timeout=0.2)
    seen = (sorted(outcome(src, f.result()) for f in done), len(pending), b in pending)
    b.cancel()
    return seen, [outcome(src, r) for r in await asyncio.gather(b, return_exceptions=True)]


async def wait_first_completed(src: Any) -> Any:
    a, b = src.ok(0.02, "fast"), src.slow()
    done, pending = await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
    b.cancel()
    return [outcome(src, f.result()) for f in done], pending == {b}


async def wait_first_exception(src: Any) -> Any:
    a, b = src.err(0.02), src.slow()
    done, pending = await asyncio.wait([a, b], return_when=asyncio.FIRST_EXCEPTION)
    b.cancel()
    return [outcome(src, f.exception()) for f in done], pending == {b}


async def wait_all_completed(src: Any) -> Any:
    done, pending = await asyncio.wait([src.ok(), src.err()])
    return sorted(str(outcome(src, f.exception() or f.result())) for f in done), len(pending)


async def wait_with_cancelled_member(src: Any) -> Any:
    a, b = src.slow(), src.ok()
    a.cancel()
    done, pending = await asyncio.wait([a, b])
    return sorted(f.cancelled() for f in done), len(pending)


async def wait_for_timeout(src: Any) -> Any:
    a = src.slow()
    try:
        await asyncio.wait_for(a, 0.1)
    except BaseException as e:  # noqa: BLE001
        return outcome(src, e), a.cancelled()
    return "returned"


async def wait_for_result(src: Any) -> Any:
    return outcome(src, await asyncio.wait_for(src.ok(), DEADLINE))


async def wait_for_error(src: Any) -> Any:
    try:
        await asyncio.wait_for(src.err(), DEADLINE)
    except BaseException as e:  # noqa: BLE001
        return outcome(src, e)
    return "returned"


async def wait_for_cancelled_input(src: Any) -> Any:
    a = src.slow()
    a.cancel("gone")
    try:
        await asyncio.wait_for(a, 1.0)
    except BaseException as e:  # noqa: BLE001
        return outcome(src, e)
    return "returned"


async def wait_for_gather_of_cancelled(src: Any) -> Any:
    # wait_for around the gather of the issue: on 3.11 it waited for a cancel that never came
    reqs = [asyncio.ensure_future(src.slow()) for _ in range(3)]
    for r in reqs:
        r.cancel()
    res = await asyncio.wait_for(asyncio.gather(*reqs, return_exceptions=True), 2.0)
    return [outcome(src, r) for r in res]


async def shield_result(src: Any) -> Any:
    return outcome(src, await asyncio.shield(src.ok()))


async def shield_outer_cancelled(src: Any) -> Any:
    inner = src.ok(0.2)
    t = asyncio.ensure_future(asyncio.shield(inner))
    await asyncio.sleep(0.02)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        pass
    return t.cancelled(), inner.cancelled(), outcome(src, await inner)


async def shield_inner_cancelled(src: Any) -> Any:
    inner = src.slow()
    s = asyncio.shield(inner)
    await asyncio.sleep(0.01)
    inner.cancel()
    try:
        await s
    except BaseException as e:  # noqa: BLE001
        return outcome(src, e)[0], s.cancelled()
    return "returned"


async def as_completed_order(src: Any) -> Any:
    fs = [src.ok(0.3, "c"), src.ok(0.15, "b"), src.ok(0.01, "a"), src.err(0.08)]
    out = []
    for nxt in asyncio.as_completed(fs):
        try:
            out.append(outcome(src, await nxt))
        except BaseException as e:  # noqa: BLE001
            out.append(outcome(src, e))
    return out


async def as_completed_timeout(src: Any) -> Any:
    a = src.slow()
    try:
        for nxt in asyncio.as_completed([a], timeout=0.1):
            await nxt
    except BaseException as e:  # noqa: BLE001
        got = outcome(src, e)
    a.cancel()
    return got


async def timeout_cm(src: Any) -> Any:
    if not PY311:
        pytest.skip(f"asyncio.timeout() is new in Python 3.11; this is {sys.version.split()[0]}")
    a = src.slow()
    try:
        async with asyncio.timeout(0.1):
            await a
    except BaseException as e:  # noqa: BLE001
        got = outcome(src, e)
    async with asyncio.timeout(DEADLINE):
        ok = outcome(src, await src.ok())
    return got, a.cancelled(), ok


async def task_group(src: Any) -> Any:
    if not PY311:
        pytest.skip(f"asyncio.TaskGroup is new in Python 3.11; this is {sys.version.split()[0]}")
    a, b = src.slow(), src.err(0.02)
    tasks = []
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(awaiter(a)), tg.create_task(awaiter(b))]
    except BaseException as e:  # noqa: BLE001
        errs = [outcome(src, x) for x in getattr(e, "exceptions", [e])]
    async with asyncio.TaskGroup() as tg:
        oks = [tg.create_task(awaiter(src.ok(0.01, v))) for v in "xy"]
    return errs, tasks[0].cancelled(), a.cancelled(), [outcome(src, t.result()) for t in oks]


async def ensure_future_identity(src: Any) -> Any:
    a = src.ok()
    same = asyncio.ensure_future(a) is a and asyncio.wrap_future(a) is a
    other = uvloop.new_event_loop() if isinstance(
        asyncio.get_running_loop(), asyncio.BaseEventLoop) else asyncio.new_event_loop()
    try:
        asyncio.ensure_future(a, loop=other)
        refused = False
    except ValueError:
        refused = True
    finally:
        other.close()
    return same, refused, outcome(src, await a)


async def future_predicates(src: Any) -> Any:
    a = src.ok()
    out = (asyncio.isfuture(a), asyncio.iscoroutine(a), inspect.isawaitable(a),
           a.get_loop() is asyncio.get_running_loop(), a._loop is asyncio.get_running_loop(),
           asyncio.futures._get_loop(a) is asyncio.get_running_loop())
    await a
    return out


async def states(src: Any) -> Any:
    a = src.ok()
    before = []
    for method in (a.result, a.exception):
        try:
            method()
        except asyncio.InvalidStateError:
            before.append("invalid")
    first = await a
    again = await a
    b = src.err()
    await until_done(b)
    try:
        b.result()
    except BaseException as e:  # noqa: BLE001
        raised = outcome(src, e)
    return (before, a.done(), a.cancelled(), a.cancel(), outcome(src, first),
            outcome(src, again), outcome(src, a.result()), a.exception(),
            outcome(src, b.exception()), raised, b.cancel())


async def cancel_with_message(src: Any) -> Any:
    a = src.slow()
    first, second = a.cancel("bye"), a.cancel("again")
    seen = [a.cancelled(), a.done(), a._cancel_message,
            outcome(src, a._make_cancelled_error())]
    for method in (a.result, a.exception):
        try:
            method()
        except BaseException as e:  # noqa: BLE001
            seen.append(outcome(src, e))
    try:
        await a
    except BaseException as e:  # noqa: BLE001
        seen.append(outcome(src, e))
    return first, second, seen


async def cancel_while_awaited(src: Any) -> Any:
    a = src.slow()
    t = asyncio.ensure_future(awaiter(a))
    await asyncio.sleep(0.01)
    a.cancel("from outside")
    try:
        await t
    except BaseException as e:  # noqa: BLE001
        return outcome(src, e), t.cancelled(), a.cancelled()
    return "returned"


async def task_cancel_with_message(src: Any) -> Any:
    a = src.slow()
    t = asyncio.ensure_future(awaiter(a))
    await asyncio.sleep(0.01)
    t.cancel("task msg")
    try:
        await t
    except BaseException as e:  # noqa: BLE001
        got = outcome(src, e)[0]
    return got, t.cancelled(), a.cancelled(), a._cancel_message


async def done_callbacks(src: Any) -> Any:
    calls: list[Any] = []
    var: contextvars.ContextVar[str] = contextvars.ContextVar("v", default="outer")

    def cb(f: Any) -> None:
        calls.append(("cb", f is a, var.get()))

    def cb2(f: Any) -> None:
        calls.append(("cb2", f is a))

    a = src.ok(0.02)
    ctx = contextvars.copy_context()
    ctx.run(var.set, "inner")
    a.add_done_callback(cb)
    a.add_done_callback(cb, context=ctx)
    a.add_done_callback(cb2)
    removed = a.remove_done_callback(cb2), a.remove_done_callback(cb2)
    await until_done(a)
    for _ in range(3):
        await asyncio.sleep(0)
    after_done = list(calls)
    a.add_done_callback(cb2)      # on a done future: scheduled, not called at once
    immediate = len(calls)
    for _ in range(3):
        await asyncio.sleep(0)
    b = src.ok(0.01)
    b.add_done_callback(cb)
    b.add_done_callback(cb)
    twice = b.remove_done_callback(cb)
    await until_done(b)
    await asyncio.sleep(0)
    return removed, after_done, immediate, calls[len(after_done):], twice, a.remove_done_callback(cb)


async def staggered(src: Any) -> Any:
    from asyncio.staggered import staggered_race
    a, b = src.slow(), src.ok(0.02, "second")
    winner, index, excs = await staggered_race([lambda: awaiter(a), lambda: awaiter(b)], 0.01)
    return outcome(src, winner), index, a.cancelled(), [e is None for e in excs if e is None]


async def resolved_by_caller(src: Any) -> Any:
    a, b = src.slow(), src.slow()
    a.set_result("mine")
    b.set_exception(Boom("mine"))
    out = [a.result(), type(b.exception()).__name__]
    for call in (lambda: a.set_result(1), lambda: b.set_exception(Boom())):
        try:
            call()
        except asyncio.InvalidStateError:
            out.append("invalid")
    out.append(await a)
    return out


CASES: dict[str, tuple[Callable[[Any], Awaitable[Any]], Any]] = {
    "gather: results": (gather_results, ["a", "b"]),
    "gather: an error propagates": (gather_error_propagates, ("error", "ok")),
    "gather return_exceptions: result and error": (gather_return_exceptions, ["ok", "error"]),
    "gather return_exceptions: cancelled before": (
        gather_cancelled_before, [("cancelled", ""), ("cancelled", "bye"), "ok"]),
    "gather: a cancelled child raises": (gather_cancelled_raises, ("cancelled", "stop")),
    "gather: child cancelled while gathered": (
        gather_child_cancelled_while_waiting, [("cancelled", "stop"), "ok"]),
    "gather: outer cancelled cancels children": (gather_outer_cancelled, (True, True, False)),
    "wait: timeout": (wait_timeout, ((["ok"], 1, True), [("cancelled", "")])),
    "wait: FIRST_COMPLETED": (wait_first_completed, (["fast"], True)),
    "wait: FIRST_EXCEPTION": (wait_first_exception, (["error"], True)),
    "wait: ALL_COMPLETED": (wait_all_completed, (["error", "ok"], 0)),
    "wait: a cancelled member": (wait_with_cancelled_member, ([False, True], 0)),
    "wait_for: timeout cancels": (wait_for_timeout, ("timeout", True)),
    "wait_for: result": (wait_for_result, "ok"),
    "wait_for: error": (wait_for_error, "error"),
    "wait_for: cancelled input": (wait_for_cancelled_input, ("cancelled", "gone")),
    "wait_for: gather of cancelled": (wait_for_gather_of_cancelled, [("cancelled", "")] * 3),
    "shield: result": (shield_result, "ok"),
    "shield: outer cancelled, inner goes on": (shield_outer_cancelled, (True, False, "ok")),
    "shield: inner cancelled": (shield_inner_cancelled, ("cancelled", True)),
    "as_completed: order and errors": (as_completed_order, ["a", "error", "b", "c"]),
    "as_completed: timeout": (as_completed_timeout, "timeout"),
    "asyncio.timeout()": (timeout_cm, ("timeout", True, "ok")),
    "TaskGroup": (task_group, (["error"], True, True, ["x", "y"])),
    "ensure_future / wrap_future": (ensure_future_identity, (True, True, "ok")),
    "isfuture, loop, not a coroutine": (future_predicates, (True, False, True, True, True, True)),
    "result/exception states": (states, (["invalid", "invalid"], True, False, False, "ok", "ok",
                                          "ok", None, "error", "error", False)),
    "cancel(msg) on the future": (cancel_with_message, (True, False, [
        True, True, "bye", ("cancelled", "bye"), ("cancelled", "bye"), ("cancelled", "bye"),
        ("cancelled", "bye")])),
    # 3.10's Task does not carry the awaited future's cancel message to its own awaiter
    "cancel while a task awaits it": (cancel_while_awaited, (
        ("cancelled", "from outside" if PY311 else ""), True, True)),
    "task.cancel(msg) while awaiting": (task_cancel_with_message,
                                        ("cancelled", True, True, "task msg")),
    "done callbacks: once, via the loop, counted, in context": (done_callbacks, (
        (1, 0), [("cb", True, "outer"), ("cb", True, "inner")], 2,
        [("cb2", True)], 2, 0)),
    "staggered_race": (staggered, ("second", 1, True, [True])),
    "set_result/set_exception by the caller": (resolved_by_caller,
                                               ["mine", "Boom", "invalid", "invalid", "mine"]),
}


async def _run(case: Callable[[Any], Awaitable[Any]], src: Any) -> Any:
    task = asyncio.ensure_future(case(src))
    done, _ = await asyncio.wait({task}, timeout=DEADLINE)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        return ("hang", f"no result within {DEADLINE:g} s")
    got = task.result()
    await src.settle()
    return got


@pytest.mark.async_timeout(3 * DEADLINE + 10)
@pytest.mark.parametrize("name", list(CASES))
async def test_combinator(name: str, loop: asyncio.AbstractEventLoop, conn: Any) -> None:
    case, expected = CASES[name]
    reference = await _run(case, Plain(loop))
    assert reference == expected, f"the expectation itself is off: plain futures gave {reference!r}"
    got = await _run(case, Requests(conn))
    assert got == expected, f"requests gave {got!r}; plain futures gave {reference!r}"


def _until_complete(ev_loop: asyncio.AbstractEventLoop, fut: Any) -> Any:
    """loop.run_until_complete(fut), stopped by a deadline if it would hang."""
    guard = ev_loop.call_later(DEADLINE, ev_loop.stop)
    try:
        return ev_loop.run_until_complete(fut)
    finally:
        guard.cancel()


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_run_until_complete_takes_a_request(kind: str, tnt: Any) -> None:
    ev_loop = uvloop.new_event_loop() if kind == "uvloop" else asyncio.new_event_loop()
    try:
        conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
        _until_complete(ev_loop, conn.connect())
        src = Requests(conn)
        assert src.value(_until_complete(ev_loop, src.ok(0.01, "done"))) == "done"
        with pytest.raises(tb.exceptions.TarantoolDatabaseError):
            _until_complete(ev_loop, src.err(0.01))
        a = src.slow()
        ev_loop.call_later(0.05, a.cancel, "stop")
        with pytest.raises(asyncio.CancelledError, match="stop"):
            _until_complete(ev_loop, a)
        plain = ev_loop.create_future()
        ev_loop.call_later(0.05, plain.cancel, "stop")
        with pytest.raises(asyncio.CancelledError, match="stop"):
            _until_complete(ev_loop, plain)
        assert tb.pending_count(conn) == 0
        _until_complete(ev_loop, conn.disconnect())
    finally:
        ev_loop.close()
