"""Requests and error kinds for drivers with asynctnt 2.x's API (asynctnt and loadtnt.driver)."""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from loadtnt.drivers.base import (
    DISCONNECT,
    TIMEOUT,
    Adapter,
    RequestFn,
    Steps,
    data_request,
    db_error,
    other_error,
)
from loadtnt.scenario.opspec import CRUD_OPS, OpSpec


def crud_request(crud: Any, spec: OpSpec) -> RequestFn:
    """A ``crud.*`` op on ``crud`` (loadtnt.driver's ``conn.crud`` / ``pool.crud``): crud's
    arguments in crud's order, its options as keyword arguments, each generated per request
    (constants bound once)."""
    args_names, opt_names = CRUD_OPS[spec.op]
    send = getattr(crud, spec.op.split(".", 1)[1])
    space = spec.static("space")
    gens = [spec.gen(a) for a in args_names[1:]]
    consts = {k: spec.static(k) for k in opt_names if spec.has(k) and
              spec.fields[k].is_constant}
    varying = [(k, spec.gen(k)) for k in opt_names if spec.has(k) and
               not spec.fields[k].is_constant]
    if not varying:
        if len(gens) == 1:
            (a,) = gens
            return lambda: send(space, a(), **consts)
        return lambda: send(space, *[g() for g in gens], **consts)
    return lambda: send(space, *[g() for g in gens], **consts,
                        **{k: g() for k, g in varying})


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
        if spec.op == "transaction":
            return self._transaction(spec)
        return bind(self._conn, spec)

    def _isolation(self, name: str) -> Any:
        mod = self._module()
        enum = getattr(mod, "Isolation", None)
        if enum is None:  # asynctnt 2.4 keeps it in asynctnt.api
            enum = mod.api.Isolation
        return enum[name.upper()]

    def _transaction(self, spec: OpSpec) -> RequestFn:
        """begin, the steps, commit on a stream of this connection, as one request.

        Streams come from a free list (a new one when it is empty), each with its steps'
        functions bound to it once. A step that fails is counted on its own entry, the
        transaction is rolled back (its errors ignored) and the step's exception raised again,
        so the transaction counts as an error of that kind. A stream whose transaction did not
        end cleanly (a failed commit or rollback) is not reused. Every attempt sends exactly
        two requests besides its steps: BEGIN, then COMMIT or ROLLBACK.
        """
        conn = self._conn
        isolation = self._isolation(spec.static("isolation", "default"))
        specs = spec.steps
        sink = Steps(tuple(st.name for st in specs))
        classify = self.classify
        free: list[tuple[Any, list[RequestFn]]] = []
        pc = time.perf_counter_ns

        async def transaction() -> None:
            if free:
                stream, steps = free.pop()
            else:
                stream = conn.stream()
                steps = [bind(stream, st) for st in specs]
            try:
                await stream.begin(isolation)
                states = sink.states
                for i, step in enumerate(steps):
                    t0 = pc()
                    try:
                        await step()
                    except Exception as e:
                        if states is not None:
                            states[i].error(classify(e), e)
                        raise
                    if states is not None:
                        states[i].rec.record_since(t0)
            except Exception:
                try:
                    await stream.rollback()
                except Exception:  # noqa: BLE001, S110 - the step's error is the one that counts
                    pass
                else:
                    free.append((stream, steps))
                raise
            await stream.commit()  # a failed commit drops the stream (its state is unknown)
            free.append((stream, steps))

        transaction.steps = sink  # type: ignore[attr-defined]
        return transaction

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


def bind(c: Any, spec: OpSpec) -> RequestFn:
    """The request function of ``spec`` on ``c``: a connection, or a stream of one (a
    transaction's step), which has the same request methods."""
    op = spec.op
    if op in CRUD_OPS:
        return crud_request(c.crud, spec)
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
