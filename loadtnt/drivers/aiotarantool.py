"""aiotarantool 1.1.5 (on tarantool-python 0.5.5), the older pure-Python asyncio driver.

It runs in its own venv, ``.venv-aiotarantool`` (``make aiotarantool-env``; another one with
``LOADTNT_AIOTARANTOOL_PYTHON=/path/to/python``), because it needs msgpack-python 0.5.6. On
Python 3.10+ it needs :mod:`loadtnt.compat.aiotarantool_shim`, which this adapter imports in the
worker before aiotarantool; the shim restores removed stdlib names only, so what is measured is
aiotarantool's own request path.

What differs from the asynctnt-API drivers, and how the adapter handles it:

* ``call`` and ``call16`` both use ``Connection.call``, which sends IPROTO_CALL_16 (aiotarantool
  has no IPROTO_CALL); the server's work is the same, multiple return values are wrapped
  differently in the response. ``execute`` (SQL) does not exist in aiotarantool: not offered.
* Iterators given by name (``'GE'``) are turned into their numbers, which is all aiotarantool
  takes. Tuples as dicts and field names in update operations are sent as they are
  (aiotarantool does not translate them) and the server's errors are counted.
* aiotarantool has no per-request timeout. Instead of wrapping every request in
  ``asyncio.wait_for`` (a Task per request, which would measure the wrapper), a watchdog
  checks the connection every ``request_timeout`` seconds: if a request seen pending at the
  previous check is still pending, the connection is closed through aiotarantool's own
  failure path, which fails every request in flight with :class:`asyncio.TimeoutError`; the
  next request reconnects (aiotarantool connects on demand). So a stalled server fails
  requests after 1-2 x ``request_timeout``, and the worker never hangs.
* Errors: ``tarantool.error.DatabaseError`` carries ``(code, message)`` in ``args`` and
  ``NetworkError`` is its subclass: mapped to ``db:<code>`` and ``disconnect``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from loadtnt.compat import aiotarantool_env
from loadtnt.drivers import base
from loadtnt.drivers.base import (
    DISCONNECT,
    TIMEOUT,
    RequestFn,
    data_request,
    db_error,
    other_error,
)
from loadtnt.scenario.opspec import OpSpec

log = logging.getLogger(__name__)

PYTHON_ENV = aiotarantool_env.PYTHON_ENV

# tarantool-python 0.5.5's ITERATOR_* numbers (IPROTO iterator types), by asynctnt's names
ITERATORS = {
    "EQ": 0, "REQ": 1, "ALL": 2, "LT": 3, "LE": 4, "GE": 5, "GT": 6,
    "BITS_ALL_SET": 7, "BITS_ANY_SET": 8, "BITS_ALL_NOT_SET": 9,
    "OVERLAPS": 10, "NEIGHBOR": 11,
}


def _modules() -> tuple[Any, Any]:
    """``(aiotarantool, tarantool)``, with the shim applied first (worker side only)."""
    # the shim must come first: tarantool-python subclasses collections.Sequence at import
    import loadtnt.compat.aiotarantool_shim  # noqa: F401, I001
    import aiotarantool
    import tarantool.error

    return aiotarantool, tarantool


def iterator_number(value: Any) -> int:
    """An iterator as aiotarantool takes it: ``'GE'`` / ``Iterator.GE`` / ``5`` -> ``5``."""
    if isinstance(value, bool):
        raise TypeError(f"bad iterator {value!r}")
    if isinstance(value, int):
        return value
    name = getattr(value, "name", value)  # an enum member such as asynctnt's Iterator.GE
    if isinstance(name, str) and name.upper() in ITERATORS:
        return ITERATORS[name.upper()]
    raise ValueError(f"unknown iterator {value!r} (known: {', '.join(ITERATORS)})")


class Adapter(base.Adapter):
    name = "aiotarantool"
    ops = frozenset({"ping", "select", "insert", "replace", "update", "upsert", "delete",
                     "call", "call16", "eval"})

    _conn: Any = None
    _watchdog: asyncio.Task[None] | None = None

    @classmethod
    def python(cls) -> str:
        why = cls.missing()
        if why is not None:
            raise RuntimeError(why)
        return str(aiotarantool_env.default_python())

    @classmethod
    def missing(cls) -> str | None:
        python = aiotarantool_env.default_python()
        if python.exists():
            return None
        where = f"{PYTHON_ENV} names {python}, which" if os.environ.get(PYTHON_ENV) else \
            f"its venv ({python.parent.parent})"
        return (f"aiotarantool runs in a venv of its own (it needs msgpack-python 0.5.6) and "
                f"{where} does not exist: build it with `{aiotarantool_env.how_to_build()}`")

    @classmethod
    def version(cls) -> str:
        aiotarantool, tarantool = _modules()
        import msgpack

        accel = "C" if msgpack.Packer.__module__ != "msgpack.fallback" else "pure Python"
        msgpack_version = ".".join(map(str, msgpack.version))
        return (f"{aiotarantool.__version__} (tarantool-python {tarantool.__version__}, "
                f"msgpack-python {msgpack_version} {accel})")

    async def connect(self) -> None:
        aiotarantool, tarantool = _modules()
        self._errors = tarantool.error
        s = self.server
        loop = asyncio.get_running_loop()
        self._conn = aiotarantool.connect(s.host, s.port, user=s.user, password=s.password,
                                          loop=loop)
        try:
            # connects, reads the greeting and authenticates when a user is given
            await asyncio.wait_for(self._conn.connect(), timeout=10)
        except BaseException:
            self._abandon()
            raise
        if self.request_timeout and self.request_timeout > 0:
            self._watchdog = loop.create_task(self._watch(self.request_timeout))

    async def close(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(BaseException):
                await watchdog
        conn, self._conn = self._conn, None
        if conn is not None:
            # closing a broken connection is not an error here
            with contextlib.suppress(Exception):
                await conn.close()

    def _abandon(self) -> None:
        """Drop a connection that failed half-way (aiotarantool's close() skips those)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        for task in (conn._reader_task, conn._writer_task):
            if task is not None:
                task.cancel()
        if conn._writer is not None:
            conn._writer.close()

    async def _watch(self, period: float) -> None:
        """Fail the requests of a connection that let one wait longer than ``period``."""
        conn = self._conn
        seen: list[asyncio.Future[Any]] = []
        while True:
            await asyncio.sleep(period)
            stale = [f for f in seen if not f.done()]
            if stale and conn.connected:
                log.warning("aiotarantool: %d request(s) pending > %.3g s, closing %r",
                            len(stale), period, conn)
                try:
                    # aiotarantool's own failure path: every waiter gets this exception
                    await conn._do_close(asyncio.TimeoutError(
                        f"no response within {period:g} s (request_timeout)"))
                except Exception:  # a watchdog must outlive a bad close
                    log.exception("aiotarantool: closing a stalled connection failed")
                seen = []
                continue
            seen = [f for f in conn._waiters.values() if not f.done()]

    def request(self, spec: OpSpec) -> RequestFn:
        c = self._conn
        op = spec.op
        if op == "ping":
            return c.ping
        if op in ("call", "call16", "eval"):
            send = c.call if op != "eval" else c.eval
            target = spec.static("function" if op != "eval" else "expression")
            if not spec.has("args"):
                return lambda: send(target)
            if spec.fields["args"].is_constant:
                fixed = list(spec.static("args"))
                return lambda: send(target, fixed)
            args = spec.gen("args")
            return lambda: send(target, list(args()))
        space = spec.static("space")
        if op == "select":
            kw: dict[str, Any] = {k: spec.static(k) for k in ("index", "limit", "offset")
                                  if spec.has(k)}
            if spec.has("iterator"):
                kw["iterator"] = iterator_number(spec.static("iterator"))
            key = spec.gen("key", [])
            select = c.select
            if kw:
                return lambda: select(space, key(), **kw)
            return lambda: select(space, key())
        send = data_request(c, spec, op, space)
        if send is None:
            raise ValueError(f"aiotarantool cannot send {op!r}")
        return send

    def classify(self, exc: BaseException) -> str:
        if isinstance(exc, asyncio.TimeoutError | TimeoutError):
            return TIMEOUT
        errors = getattr(self, "_errors", None)
        if errors is not None:
            if isinstance(exc, errors.NetworkError):
                return DISCONNECT
            if isinstance(exc, errors.DatabaseError) and exc.args and isinstance(
                    exc.args[0], int):
                return db_error(exc.args[0])
        if isinstance(exc, ConnectionError | EOFError):
            return DISCONNECT
        return other_error(exc)
