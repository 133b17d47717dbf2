"""Graceful shutdown (box.shutdown, 2.10+): SIGTERM the real server under load, restart it.

The server broadcasts ``box.shutdown = true`` from its on_shutdown trigger and waits (up to its
``box.ctl.set_on_shutdown_timeout``) for the connections that watch it to close. The driver then
sends nothing new on that connection, lets the replies in flight arrive, closes it and
reconnects; requests made meanwhile wait for the reconnect within their timeout. Every test owns
its server (never the session one).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import pytest

from loadtnt.instance import TarantoolInstance
from tests import _testbase as tb

pytestmark = tb.only_loadtnt

SHUTDOWN_LUA = tb.INIT_LUA + """
-- in-flight requests have the time to finish (2.6 has no such setting, nor box.shutdown)
if box.ctl.set_on_shutdown_timeout then box.ctl.set_on_shutdown_timeout(20) end
function slow(ms) fiber.sleep(ms / 1000) return ms end
box.schema.func.create('slow', {if_not_exists = true})
"""

CONCURRENCY = 300
SLEEP_MS = 5


@pytest.fixture
def server() -> Any:
    instance = TarantoolInstance(lua=SHUTDOWN_LUA, cfg=tb.SERVER_CFG, stop_timeout=30.0)
    with instance:
        yield instance


async def in_thread(fn: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


async def load_through_restart(server: TarantoolInstance, conn: Any) -> dict[str, Any]:
    """300 coroutines call slow(5 ms) while the server is SIGTERMed and restarted;
    returns the counts, each request classed by whether it was issued before the
    connection saw the announcement."""
    stop = False
    counts: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    waited: list[float] = []

    async def worker() -> None:
        while not stop:
            # before the announcement; while the connection drains and reconnects;
            # once it is back
            phase = ("before" if conn.shutdowns == 0 else
                     "waiting" if conn.reconnects == 0 else "after")
            t0 = time.monotonic()
            try:
                await conn.call("slow", [SLEEP_MS], timeout=15.0)
            except Exception as e:  # noqa: BLE001  counted and named in the figures
                counts[f"failed {phase}"] += 1
                errors[f"{phase}: {type(e).__name__}: {e}"[:160]] += 1
            else:
                counts[f"ok {phase}"] += 1
                if phase == "waiting":
                    waited.append(time.monotonic() - t0)

    tasks = [asyncio.ensure_future(worker()) for _ in range(CONCURRENCY)]
    await asyncio.sleep(0.5)
    t_term = time.monotonic()
    await in_thread(server.stop)            # SIGTERM; returns once the server exited
    t_exit = time.monotonic()
    await in_thread(server.start)
    t_up = time.monotonic()
    deadline = time.monotonic() + 10
    while conn.reconnects < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    t_back = time.monotonic()
    await asyncio.sleep(0.5)
    stop = True
    await asyncio.gather(*tasks)
    return {
        "counts": dict(counts), "errors": dict(errors),
        "exit_s": round(t_exit - t_term, 3), "restart_s": round(t_up - t_exit, 3),
        "reconnected_after_up_s": round(t_back - t_up, 3),
        "max_wait_s": round(max(waited), 3) if waited else None,
        "shutdowns": conn.shutdowns, "reconnects": conn.reconnects,
    }


@pytest.mark.async_timeout(90)
async def test_sigterm_under_load_nothing_fails(loop: Any, server: TarantoolInstance,
                                                connect: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    tb.need_version(server, (2, 10), "box.shutdown and watchers")
    caplog.set_level(logging.INFO, logger="loadtnt.driver")
    conn = await connect(server, reconnect_timeout=0.05, ping_timeout=0)
    await conn.call("slow", [1])
    seen: list[Any] = []
    conn.watch("test.key", lambda k, v: seen.append(v))
    while seen != [None]:
        await asyncio.sleep(0.005)
    await conn.eval("box.broadcast('test.key', 'before')")
    figures = await load_through_restart(server, conn)
    announced = [r.getMessage() for r in caplog.records if "announced its shutdown" in
                 r.getMessage()]
    figures["announcement"] = announced
    print(f"\nshutdown figures ({type(loop).__module__}): {figures}")
    counts = figures["counts"]
    assert figures["shutdowns"] == 1 and figures["reconnects"] == 1, figures
    assert counts.get("ok before", 0) > CONCURRENCY, figures
    # the goal: none of the requests sent before the announcement fails
    assert counts.get("failed before", 0) == 0, figures
    # the ones issued meanwhile waited for the reconnect and succeeded
    assert counts.get("ok waiting", 0) >= CONCURRENCY, figures
    assert counts.get("failed waiting", 0) == 0, figures
    assert counts.get("ok after", 0) > CONCURRENCY, figures
    assert counts.get("failed after", 0) == 0, figures
    assert conn.is_fully_connected
    assert (await conn.call("slow", [0])).body == [0]
    # the watcher was registered again on the restarted server: its value (none)
    assert seen == [None, "before", None], seen


@pytest.mark.async_timeout(60)
async def test_requests_wait_no_longer_than_their_timeout(loop: Any, server: TarantoolInstance,
                                                          connect: Any) -> None:
    tb.need_version(server, (2, 10), "box.shutdown and watchers")
    conn = await connect(server, reconnect_timeout=0.05, ping_timeout=0, shutdown_wait=30)
    await conn.ping()
    stopping = asyncio.ensure_future(in_thread(server.stop))
    deadline = time.monotonic() + 10
    while conn.shutdowns == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert conn.shutdowns == 1
    assert not conn.is_fully_connected
    t0 = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await conn.ping(timeout=0.3)            # the server is not back within it
    assert 0.25 < time.monotonic() - t0 < 2.0
    waiting = conn.ping(timeout=20)             # this one is: it waits and succeeds
    await stopping
    await in_thread(server.start)
    await waiting
    deadline = time.monotonic() + 5
    while conn.reconnects == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)      # the reconnect's last step may come after its replies
    assert conn.reconnects == 1
    assert tb.pending_count(conn) == 0


@pytest.mark.async_timeout(60)
async def test_shutdown_wait_bounds_requests_without_timeout(
        loop: Any, server: TarantoolInstance, connect: Any) -> None:
    tb.need_version(server, (2, 10), "box.shutdown and watchers")
    conn = await connect(server, reconnect_timeout=0.05, ping_timeout=0, shutdown_wait=0.5)
    await conn.ping()
    await in_thread(server.stop)
    assert conn.shutdowns == 1
    t0 = time.monotonic()
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError, match="announced its shutdown"):
        await conn.ping()                       # no timeout: shutdown_wait bounds it
    assert time.monotonic() - t0 < 2.0
    # later requests fail at once, as on any lost connection, until the server is back
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        conn.ping()
    await in_thread(server.start)
    deadline = time.monotonic() + 10
    while not conn.is_fully_connected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await conn.ping()


@pytest.mark.async_timeout(60)
async def test_disconnect_fails_waiting_requests(loop: Any, server: TarantoolInstance,
                                                 connect: Any) -> None:
    tb.need_version(server, (2, 10), "box.shutdown and watchers")
    conn = await connect(server, reconnect_timeout=0.05, ping_timeout=0)
    await conn.ping()
    await in_thread(server.stop)
    waiting = asyncio.ensure_future(conn.ping())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await conn.disconnect()
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError, match="disconnect"):
        await waiting


@pytest.mark.async_timeout(60)
async def test_old_server_has_no_announcement(loop: Any, server: TarantoolInstance,
                                              connect: Any) -> None:
    # Without watchers (2.6) there is nothing to watch: a SIGTERM is a lost connection
    # like any other, and the requests in flight fail with a clear error.
    if tb.server_version(server) >= (2, 10):
        pytest.skip("the server has box.shutdown; this checks a 2.6 one")
    conn = await connect(server, reconnect_timeout=0.05, ping_timeout=0)
    assert not conn.features.watchers
    await in_thread(server.stop)
    assert conn.shutdowns == 0
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await conn.ping()
    await in_thread(server.start)
    deadline = time.monotonic() + 10
    while not conn.is_fully_connected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await conn.ping()
