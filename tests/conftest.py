"""Fixtures and the async test runner of the driver suite.

Every ``async def test_*`` runs once per event loop (stdlib asyncio and uvloop) through the
``loop`` fixture, under a per-test timeout (``@pytest.mark.async_timeout(seconds)``, default
20 s); an exception that reaches the loop's exception handler (a task or future nobody
awaited, a failing callback) fails the test. ``tnt`` is the session's real Tarantool;
``tester`` is truncated before every test.
"""
from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop

from loadtnt.instance import TarantoolInstance
from loadtnt.instance import version as instance_version
from tests import _testbase as tb

DEFAULT_ASYNC_TIMEOUT = 20.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "async_timeout(seconds): per-test timeout of an async test")
    config.addinivalue_line("markers", "allow_loop_errors: do not fail on loop exception handler")


def pytest_report_header(config: pytest.Config) -> str:
    binary = os.environ.get("TARANTOOL") or "tarantool"
    try:
        server = f"{binary} {instance_version(binary)}"
    except Exception as e:  # noqa: BLE001  the header must not break the run
        server = f"{binary} ({e})"
    return f"driver under test: {tb.DRIVER_NAME}; server under test ($TARANTOOL): {server}"


def pytest_collection_finish(session: pytest.Session) -> None:
    # Every async test ends with two full collections (_drain). With the test modules and
    # what they import (hypothesis, distributed, matplotlib, plotly, ...) on the heap, each
    # took ~80 ms here: about a third of the suite's time. What exists once the tests are
    # collected lives for the session; freezing it leaves the collections only the tests' own
    # objects to scan.
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def tnt() -> Iterator[TarantoolInstance]:
    instance = TarantoolInstance(lua=tb.INIT_LUA, cfg=tb.SERVER_CFG)
    with instance:
        yield instance


@pytest.fixture(autouse=True)
def _clean_tester(request: pytest.FixtureRequest) -> None:
    # Only tests that use the session server pay for (and need) the truncate.
    if "tnt" in request.fixturenames:
        tb.truncate(request.getfixturevalue("tnt"))


class _Unretrieved(logging.Handler):
    """asyncio's log lines for what nobody retrieved or awaited: the loop fixture's handler
    sees these only while its loop runs; a task or future collected later, or in a loop a
    test made itself, is logged here (asyncpg's test base fails on the same lines)."""

    MARKS = ("never retrieved", "was destroyed but it is pending")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(mark in message for mark in self.MARKS):
            self.lines.append(message.splitlines()[0] + (
                "" if record.exc_info is None else f" ({record.exc_info[1]!r})"))


_UNRETRIEVED = _Unretrieved()
logging.getLogger("asyncio").addHandler(_UNRETRIEVED)


@pytest.fixture(autouse=True)
def _no_unretrieved(request: pytest.FixtureRequest) -> Iterator[None]:
    start = len(_UNRETRIEVED.lines)
    yield
    gc.collect()
    new = _UNRETRIEVED.lines[start:]
    if new and request.node.get_closest_marker("allow_loop_errors") is None:
        pytest.fail("asyncio logged what nobody retrieved:\n" + "\n".join(new))


class LoopErrors:
    """Collects whatever reaches the loop's exception handler."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)
        loop.default_exception_handler(context)

    def describe(self) -> str:
        lines = []
        for ctx in self.contexts:
            exc = ctx.get("exception")
            lines.append(f"{ctx.get('message')}: {exc!r}" if exc else str(ctx.get("message")))
        return "\n".join(lines)


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


@pytest.fixture(params=["asyncio", "uvloop"])
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    ev_loop = _new_loop(request.param)
    errors = LoopErrors()
    ev_loop.set_exception_handler(errors)
    ev_loop._loadtnt_errors = errors  # type: ignore[attr-defined]
    asyncio.set_event_loop(ev_loop)
    try:
        yield ev_loop
    finally:
        try:
            _drain(ev_loop)
        finally:
            asyncio.set_event_loop(None)
            ev_loop.close()
        if errors.contexts and request.node.get_closest_marker("allow_loop_errors") is None:
            pytest.fail(f"unhandled errors in the event loop:\n{errors.describe()}")


def _drain(ev_loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what the test left running and let the loop finish callbacks."""
    gc.collect()
    pending = [t for t in asyncio.all_tasks(ev_loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        # bounded: a task stuck in a future that never resolves (a hang the test already
        # reported) must not block the session's teardown
        _, stuck = ev_loop.run_until_complete(asyncio.wait(pending, timeout=10))
        if stuck:
            raise AssertionError(f"{len(stuck)} task(s) did not finish within 10 s of their "
                                 f"cancellation: {sorted(map(repr, stuck))[:3]}")
    ev_loop.run_until_complete(asyncio.sleep(0))
    ev_loop.run_until_complete(ev_loop.shutdown_asyncgens())
    gc.collect()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    ev_loop = pyfuncitem.funcargs.get("loop")
    if ev_loop is None:
        raise pytest.UsageError(f"{pyfuncitem.nodeid}: async tests need the 'loop' fixture")
    marker = pyfuncitem.get_closest_marker("async_timeout")
    timeout = float(marker.args[0]) if marker else DEFAULT_ASYNC_TIMEOUT
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    task = ev_loop.create_task(func(**kwargs))
    done, _ = ev_loop.run_until_complete(asyncio.wait({task}, timeout=timeout))
    if not done:
        task.cancel()
        ev_loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        pytest.fail(f"async test still running after {timeout:g} s (a hang?); "
                    "raise the limit with @pytest.mark.async_timeout(seconds) if it is slow")
    task.result()
    return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every async test must request the loop fixture (so it is parametrized per loop).
    for item in items:
        if (isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj)
                and "loop" not in item.fixturenames):
            raise pytest.UsageError(f"{item.nodeid}: add the 'loop' (or 'conn') fixture")


@pytest.fixture
def connect(loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """``await connect(tnt_or_None, **kwargs)``: a connected Connection, disconnected at teardown.

    With an instance, connects as user t1 to it; pass ``username=None`` for guest.
    """
    made: list[Any] = []

    async def factory(instance: Any = None, **kwargs: Any) -> Any:
        if instance is not None:
            kwargs = tb.conn_kwargs(instance, **kwargs)
        conn = tb.driver.Connection(**kwargs)
        made.append(conn)
        await conn.connect()
        return conn

    yield factory
    for conn in made:
        loop.run_until_complete(asyncio.wait_for(conn.disconnect(), 10))


@pytest.fixture
def conn(tnt: TarantoolInstance, loop: asyncio.AbstractEventLoop, connect: Any) -> Any:
    """A connection to the session server as user t1, schema fetched."""
    return loop.run_until_complete(connect(tnt))


@pytest.fixture(scope="module")
def sharded_cluster() -> Iterator[Any]:
    """A real vshard + crud cluster (loadtnt.server.ShardedCluster: 2 replica sets × 2
    instances + 2 routers, the default ``customers`` schema) on the server $TARANTOOL names,
    started once per test module and always stopped. The modules come from
    ../shared/tarantool-modules, or $LOADTNT_TARANTOOL_MODULES."""
    from loadtnt.server.sharded import ShardedCluster

    with ShardedCluster(shards=2, replicas=2, routers=2, bucket_count=3000) as cluster:
        yield cluster
