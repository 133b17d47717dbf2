"""Watchers (IPROTO_WATCH / IPROTO_EVENT, 2.10+) and watch_once (IPROTO_WATCH_ONCE, 3.0+).

``conn.watch(key, callback)``: the callback gets the key's current value at once and each later
``box.broadcast``; events are acknowledged, so none is lost (the last value always arrives) and
none repeats. Keys are unique per test: the session server keeps what was broadcast.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import pytest

from loadtnt.instance import TarantoolInstance
from tests import _testbase as tb

pytestmark = tb.only_loadtnt

_keys = itertools.count()


def new_key() -> str:
    return f"test.watch.{time.monotonic_ns()}.{next(_keys)}"


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def broadcast(conn: Any, key: str, value: Any) -> None:
    await conn.eval("box.broadcast(...)", [key, value])


def need_watchers(tnt: TarantoolInstance) -> None:
    tb.need_version(tnt, (2, 10), "watchers (IPROTO_WATCH)")


async def test_current_value_at_once(loop: Any, tnt: TarantoolInstance, conn: Any) -> None:
    need_watchers(tnt)
    key = new_key()
    await broadcast(conn, key, {"a": [1, 2]})
    got: list[Any] = []
    w = conn.watch(key, lambda k, v: got.append((k, v)))
    await until(lambda: got)
    assert got == [(key, {"a": [1, 2]})]
    # a key never broadcast has no value: None
    other = new_key()
    none: list[Any] = []
    conn.watch(other, lambda k, v: none.append(v))
    await until(lambda: none)
    assert none == [None]
    assert w.key == key and w.active
    assert conn.features.watchers


async def test_every_broadcast_in_order(loop: Any, tnt: TarantoolInstance, conn: Any) -> None:
    need_watchers(tnt)
    key = new_key()
    got: list[Any] = []
    conn.watch(key, lambda k, v: got.append(v))
    await until(lambda: got == [None])
    for i in range(20):
        await broadcast(conn, key, i)
        await until(lambda: got[-1] == i)   # noqa: B023  awaited here
    assert got == [None, *range(20)]
    await broadcast(conn, key, None)        # nil: None again
    await until(lambda: len(got) == 22)
    assert got[-1] is None


@pytest.mark.parametrize("slow", [False, True], ids=["plain", "slow-coroutine"])
async def test_quick_broadcasts_none_lost_none_repeated(loop: Any, tnt: TarantoolInstance,
                                                        conn: Any, slow: bool) -> None:
    # 2000 broadcasts in one server-side loop. The server folds the ones that come
    # before the last event was acknowledged into the newest: the values seen only
    # grow, none twice, and the last is always seen.
    need_watchers(tnt)
    key = new_key()
    got: list[Any] = []
    if slow:
        async def callback(k: str, v: Any) -> None:
            await asyncio.sleep(0.002)
            got.append(v)
    else:
        def callback(k: str, v: Any) -> None:
            got.append(v)
    conn.watch(key, callback)
    await until(lambda: got == [None])
    n = 2000
    await conn.eval("local key, n = ... for i = 1, n do box.broadcast(key, i) "
                    "if i % 100 == 0 then require('fiber').yield() end end", [key, n])
    await until(lambda: got[-1] == n, timeout=10)
    await asyncio.sleep(0.1)            # nothing more comes
    values = got[1:]
    assert values[-1] == n
    assert values == sorted(set(values)), "a value repeated or came out of order"
    assert len(got) == len(values) + 1
    # a later broadcast still arrives: the last event was acknowledged
    await broadcast(conn, key, "after")
    await until(lambda: got[-1] == "after")


async def test_unwatch(loop: Any, tnt: TarantoolInstance, conn: Any) -> None:
    need_watchers(tnt)
    key = new_key()
    got: list[Any] = []
    w = conn.watch(key, lambda k, v: got.append(v))
    await until(lambda: got == [None])
    w.unwatch()
    assert not w.active
    w.unwatch()                          # again: nothing
    await broadcast(conn, key, 1)
    await asyncio.sleep(0.1)
    assert got == [None]
    assert key not in conn._watchers.watched()
    # watched again: a new registration, the current value at once
    again: list[Any] = []
    conn.watch(key, lambda k, v: again.append(v))
    await until(lambda: again == [1])


async def test_unwatch_before_the_first_event(loop: Any, tnt: TarantoolInstance,
                                              conn: Any) -> None:
    need_watchers(tnt)
    key = new_key()
    got: list[Any] = []
    conn.watch(key, lambda k, v: got.append(v)).unwatch()
    await broadcast(conn, key, 1)
    await asyncio.sleep(0.1)
    assert got == []
    await conn.ping()


async def test_several_watchers_of_one_key(loop: Any, tnt: TarantoolInstance,
                                           conn: Any) -> None:
    need_watchers(tnt)
    key = new_key()
    a: list[Any] = []
    b: list[Any] = []
    wa = conn.watch(key, lambda k, v: a.append(v))
    await until(lambda: a == [None])
    await broadcast(conn, key, 1)
    await until(lambda: a == [None, 1])
    conn.watch(key, lambda k, v: b.append(v))     # the key's state is shared
    await until(lambda: b == [1])                 # its current value, at once
    await broadcast(conn, key, 2)
    await until(lambda: a[-1] == 2 and b[-1] == 2)
    wa.unwatch()                                  # the other watcher goes on
    await broadcast(conn, key, 3)
    await until(lambda: b[-1] == 3)
    await asyncio.sleep(0.05)
    assert a == [None, 1, 2] and b == [1, 2, 3]


@pytest.mark.allow_loop_errors
async def test_raising_callback_is_logged_once(loop: Any, tnt: TarantoolInstance, conn: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    need_watchers(tnt)
    key = new_key()
    good: list[Any] = []
    calls: list[Any] = []

    def bad(k: str, v: Any) -> None:
        calls.append(v)
        raise ValueError(f"boom {v}")

    async def bad_coro(k: str, v: Any) -> None:
        raise RuntimeError("coroutine boom")

    caplog.set_level(logging.ERROR, logger="loadtnt.driver")
    w = conn.watch(key, bad)
    wc = conn.watch(key, bad_coro)
    conn.watch(key, lambda k, v: good.append(v))
    for i in range(3):
        await broadcast(conn, key, i)
        await until(lambda: good and good[-1] == i)   # noqa: B023  awaited here
    await until(lambda: w.errors == len(calls) and wc.errors == len(calls))
    assert calls[-1] == 2 and w.errors >= 3
    logged = [r for r in caplog.records if "callback of a watcher" in r.getMessage()]
    assert len(logged) == 2, [r.getMessage() for r in logged]   # once per watcher
    assert {type(r.exc_info[1]) for r in logged} == {ValueError, RuntimeError}
    # the connection is fine
    assert (await conn.call("func_hello")).body == ["hello"]
    assert conn.is_fully_connected


async def test_slow_callback_does_not_stall_replies(loop: Any, tnt: TarantoolInstance,
                                                    conn: Any) -> None:
    need_watchers(tnt)
    key = new_key()
    started = asyncio.Event()
    release = asyncio.Event()
    got: list[Any] = []

    async def slow(k: str, v: Any) -> None:
        got.append(v)
        if v == "slow":
            started.set()
            await release.wait()

    conn.watch(key, slow)
    await until(lambda: got == [None])
    await broadcast(conn, key, "slow")
    await asyncio.wait_for(started.wait(), 5)
    # the callback is stuck: replies still flow, at full speed
    t0 = time.monotonic()
    replies = await asyncio.gather(*[conn.ping() for _ in range(1000)])
    assert len(replies) == 1000 and time.monotonic() - t0 < 5.0  # ~0.05 s; blocked: never
    # broadcasts meanwhile are not acknowledged yet: folded into the last one
    for i in range(5):
        await broadcast(conn, key, i)
    await asyncio.sleep(0.05)
    assert got == [None, "slow"]
    release.set()
    await until(lambda: got[-1] == 4)
    assert got == [None, "slow", 4]


async def test_callback_runs_outside_the_read_path(loop: Any, tnt: TarantoolInstance,
                                                   conn: Any) -> None:
    # A callback that sends a request and waits for it (from a coroutine) works; a
    # plain one may send requests too.
    need_watchers(tnt)
    key = new_key()
    results: list[Any] = []

    async def cb(k: str, v: Any) -> None:
        results.append((await conn.call("func_param", [v])).body[0])

    conn.watch(key, cb)
    conn.watch(key, lambda k, v: results.append(conn.ping()))
    await broadcast(conn, key, 7)
    await until(lambda: 7 in results)
    await asyncio.gather(*[r for r in results if not isinstance(r, (int, type(None)))])


def test_arguments_are_checked(loop: Any, tnt: TarantoolInstance, conn: Any) -> None:
    need_watchers(tnt)
    with pytest.raises(TypeError, match="key"):
        conn.watch(b"bytes", print)
    with pytest.raises(TypeError, match="callable"):
        conn.watch("k", None)


async def test_not_connected(loop: Any) -> None:
    conn = tb.driver.Connection(host="127.0.0.1", port=1)
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        conn.watch("k", print)
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await conn.watch_once("k")


async def test_refused_before_sending_without_watchers(loop: Any, tnt: TarantoolInstance,
                                                       conn: Any) -> None:
    if tb.server_version(tnt) >= (2, 10):
        pytest.skip("the server has watchers; this checks a 2.6 one")
    assert not conn.features.watchers
    sent = conn._protocol.late_replies
    with pytest.raises(tb.exceptions.TarantoolError, match="watchers need Tarantool 2.10"):
        conn.watch("k", print)
    with pytest.raises(tb.exceptions.TarantoolError, match="watch_once needs Tarantool 3.0"):
        await conn.watch_once("k")
    await conn.ping()
    assert conn._protocol.late_replies == sent and tb.pending_count(conn) == 0
    assert conn._watchers.watched() == []


async def test_watch_once(loop: Any, tnt: TarantoolInstance, conn: Any) -> None:
    tb.need_version(tnt, (3, 0), "IPROTO_WATCH_ONCE")
    assert conn.features.watch_once
    key = new_key()
    assert await conn.watch_once(key) is None
    await broadcast(conn, key, {"x": [1, "two"]})
    assert await conn.watch_once(key) == {"x": [1, "two"]}
    assert await conn.watch_once(key, timeout=5) == {"x": [1, "two"]}
    # nothing was registered
    assert key not in conn._watchers.watched()
    with pytest.raises(TypeError):
        await conn.watch_once(1)


async def test_user_may_watch_box_shutdown(loop: Any, tnt: TarantoolInstance,
                                           conn: Any) -> None:
    # the driver watches it itself; the user's watcher shares that state
    need_watchers(tnt)
    got: list[Any] = []
    w = conn.watch("box.shutdown", lambda k, v: got.append(v))
    await until(lambda: got)
    assert got == [None]
    w.unwatch()
    assert "box.shutdown" in conn._watchers._states    # still the driver's
    await conn.ping()


RESTART_LUA = tb.INIT_LUA + """
box.broadcast('test.restart', 'restarted')
"""


@pytest.mark.async_timeout(60)
async def test_reregistered_after_reconnect(loop: Any, connect: Any) -> None:
    server = TarantoolInstance(lua=tb.INIT_LUA, cfg=tb.SERVER_CFG)
    with server:
        need_watchers(server)
        conn = await connect(server, reconnect_timeout=0.05, ping_timeout=0)
        got: list[Any] = []
        other: list[Any] = []
        conn.watch("test.restart", lambda k, v: got.append(v))
        w2 = conn.watch("test.other", lambda k, v: other.append(v))
        await until(lambda: got == [None])
        await broadcast(conn, "test.restart", "before")
        await until(lambda: got == [None, "before"])
        await until(lambda: other == [None])
        w2.unwatch()
        server.kill()
        server.lua = RESTART_LUA
        await asyncio.get_running_loop().run_in_executor(None, server.start)
        await until(lambda: conn.reconnects == 1, timeout=10)
        # registered again: the new server's current value, at once
        await until(lambda: got[-1] == "restarted")
        assert got == [None, "before", "restarted"]
        await broadcast(conn, "test.restart", "later")
        await until(lambda: got[-1] == "later")
        await broadcast(conn, "test.other", 1)
        await asyncio.sleep(0.1)
        assert other == [None]          # unwatched before the restart: not registered
