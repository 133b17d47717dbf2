"""Requests and error kinds for drivers with asynctnt 2.x's API (asynctnt and loadtnt.driver)."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from loadtnt.drivers.base import (
    DISCONNECT,
    TIMEOUT,
    Adapter,
    RequestFn,
    data_request,
    db_error,
    other_error,
)
from loadtnt.scenario.opspec import OpSpec


class AsynctntApiAdapter(Adapter):
    """Shared by the asynctnt-compatible drivers; subclasses set :meth:`_module`."""

    _conn: Any = None

    @classmethod
    def _module(cls) -> Any:
        raise NotImplementedError

    @classmethod
    def version(cls) -> str:
        return str(getattr(cls._module(), "__version__", "unknown"))

    async def connect(self) -> None:
        mod = self._module()
        s = self.server
        self._exceptions = mod.exceptions
        self._conn = mod.Connection(
            host=s.host, port=s.port, username=s.user, password=s.password,
            fetch_schema=True, auto_refetch_schema=True, reconnect_timeout=0,
            # no keep-alive pings: the server must count exactly the requests the harness sends
            ping_timeout=0,
            connect_timeout=10,
            request_timeout=self.request_timeout if self.request_timeout else -1.0,
        )
        await self._conn.connect()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # closing a broken connection is not an error here
            with contextlib.suppress(Exception):
                await conn.disconnect()

    def request(self, spec: OpSpec) -> RequestFn:
        c = self._conn
        op = spec.op
        if op == "ping":
            return c.ping
        if op in ("call", "call16", "eval", "execute"):
            what = {"call": "function", "call16": "function", "eval": "expression",
                    "execute": "query"}[op]
            send = getattr(c, op)
            target = spec.static(what)
            if not spec.has("args"):
                return lambda: send(target)
            if spec.fields["args"].is_constant:
                fixed = spec.static("args")
                return lambda: send(target, fixed)
            args = spec.gen("args")
            return lambda: send(target, args())
        space = spec.static("space")
        if op == "select":
            kw = {k: spec.static(k) for k in ("index", "iterator", "limit", "offset")
                  if spec.has(k)}
            key = spec.gen("key", [])
            return lambda: c.select(space, key(), **kw)
        send = data_request(c, spec, op, space)
        if send is None:
            raise ValueError(f"unsupported op {op!r}")
        return send

    def classify(self, exc: BaseException) -> str:
        ex = getattr(self, "_exceptions", None)
        if isinstance(exc, asyncio.TimeoutError | TimeoutError):
            return TIMEOUT
        if ex is not None:
            if isinstance(exc, ex.TarantoolDatabaseError):
                return db_error(exc.code)
            if isinstance(exc, ex.TarantoolNetworkError):
                return DISCONNECT
        if isinstance(exc, ConnectionError | EOFError):
            return DISCONNECT
        return other_error(exc)
