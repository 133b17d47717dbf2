"""The driver adapter interface: what the harness needs from a Tarantool driver.

Adding a driver is one module ``loadtnt/drivers/<name>.py`` that defines ``class Adapter(base.Adapter)``;
the scenario's ``drivers: [<name>]`` finds it by module name (see :func:`loadtnt.drivers.load`).

Rules for adapter modules:

* **Import the driver lazily** (inside :meth:`Adapter.version`, :meth:`Adapter.connect`…), never at
  module top level: the parent process imports every adapter module to learn its interpreter,
  and a driver may only be installed in another environment (aiotarantool lives in its own venv).
* :meth:`Adapter.python` names the interpreter that runs this driver's workers; the default is the
  harness's own (``sys.executable``).  The worker (``python -m loadtnt.worker``) is started with it,
  and the project's source directory is put on ``PYTHONPATH``; it imports only pure-Python harness
  modules (plus the optional Cython recorder built for the same CPython), PyYAML and hdrhistogram.
* One :class:`Adapter` instance is one connection.  A worker makes ``connections`` of them and
  shares them among its coroutines (coroutine *i* uses connection *i mod connections*).
* :meth:`Adapter.request` is called once per (connection, operation) before the load starts; it
  returns a zero-argument function that sends one request and returns an awaitable of its result.
  Build everything you can up front (bound methods, constant arguments): it is the hot path.
  Any exception the awaitable raises counts as an error of the kind :meth:`classify` gives.
* A ``transaction`` op's function carries a :class:`Steps` as its ``steps`` attribute: where its
  steps record their latencies and errors.  The worker's phase points it at its own per-step
  states when it starts (see :class:`loadtnt.worker.load.Phase`); until then it records nothing.
"""
from __future__ import annotations

import abc
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from loadtnt.scenario.opspec import CRUD_OPS, OP_FIELDS, OpSpec

RequestFn = Callable[[], Awaitable[Any]]

ALL_OPS = frozenset(OP_FIELDS)
#: crud's operations on a vshard router (``crud.get``, ...): loadtnt.driver's ``conn.crud``
CRUD = frozenset(CRUD_OPS)
#: why a driver without a crud API is skipped (one line, in the run's warning)
NO_CRUD = ("it has no crud API (loadtnt.driver's conn.crud/pool.crud sends crud's ops; "
           "emulating them with call('crud.get', ...) would measure another request path)")

# Error kinds (the keys of a run's `errors_by_kind`).  Database errors are "db:<code>", e.g.
# "db:3" (ER_TUPLE_FOUND); anything else is "other:<ExceptionType>".
TIMEOUT = "timeout"
DISCONNECT = "disconnect"


def db_error(code: int) -> str:
    return f"db:{int(code)}"


MESSAGE_MAX = 300  # characters of an error's first message kept per kind


def error_message(exc: BaseException) -> str:
    """What a failed request said, for a result's ``error_messages``: the exception's type and
    text (a database error's own message), at most :data:`MESSAGE_MAX` characters."""
    text = getattr(exc, "message", None) or str(exc)
    msg = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return msg if len(msg) <= MESSAGE_MAX else msg[:MESSAGE_MAX - 1] + "…"


def data_request(c: Any, spec: OpSpec, op: str, space: Any) -> RequestFn | None:
    """The request function of a data-changing op (insert, replace, update, upsert, delete)
    for a client with asynctnt's method signatures, which aiotarantool shares for these;
    None for any other op."""
    if op in ("insert", "replace"):
        send = getattr(c, op)
        tup = spec.gen("tuple")
        return lambda: send(space, tup())
    if op == "update":
        key, ops = spec.gen("key"), spec.gen("operations")
        index = spec.static("index", 0)
        return lambda: c.update(space, key(), ops(), index=index)
    if op == "upsert":
        tup, ops = spec.gen("tuple"), spec.gen("operations")
        return lambda: c.upsert(space, tup(), ops())
    if op == "delete":
        key = spec.gen("key")
        index = spec.static("index", 0)
        return lambda: c.delete(space, key(), index=index)
    return None


class Steps:
    """The indirection between a transaction's request function and the phase that measures it:
    ``names`` are the steps' result entries (``<transaction>.<step>``), ``states`` the current
    phase's per-step states (each with ``rec.record_since(t0)`` and ``error(kind)``), or None
    when nothing records them."""

    __slots__ = ("names", "states")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.states: list[Any] | None = None


def other_error(exc: BaseException) -> str:
    return f"other:{type(exc).__name__}"


@dataclass(frozen=True)
class ServerAddress:
    """Where to connect.  The password never shows in ``repr`` (results, logs, errors)."""

    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    #: every instance of a replica set as ``host:port`` (the first is host:port); empty: one
    endpoints: tuple[str, ...] = ()
    #: a sharded cluster's routers (``endpoints``): loaded through a pool even when one
    sharded: bool = False
    #: an existing 3.x cluster: its config.yaml and Pool.from_config's filters of the routers
    config: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def uris(self) -> tuple[str, ...]:
        return self.endpoints or (f"{self.host}:{self.port}",)

    def __str__(self) -> str:
        who = f"{self.user}@" if self.user else ""
        return f"{who}{','.join(self.uris)}"

    def instance(self, uri: str) -> ServerAddress:
        """The address of one of the instances, with the same credentials."""
        host, _, port = uri.rpartition(":")
        return ServerAddress(host, int(port), self.user, self.password)


class Adapter(abc.ABC):
    """One connection of one driver, as the harness uses it."""

    #: the driver's name in scenarios and results (``drivers: [asynctnt]``)
    name: ClassVar[str]
    #: the ops this driver can send; a scenario asking for others is rejected before the run
    ops: ClassVar[frozenset[str]] = ALL_OPS
    #: whether one adapter can load several instances of a replica set (a connection pool,
    #: each op's ``mode`` choosing among them); without, such a server's runs skip the driver
    pool: ClassVar[bool] = False

    def __init__(self, server: ServerAddress, *, request_timeout: float | None = None) -> None:
        """``request_timeout``: seconds per request, or None for the driver's default (none);
        the scenario's ``timeout`` applies the same one to every driver."""
        self.server = server
        self.request_timeout = request_timeout

    # --- class level: called in the parent (python) and in the worker (version) ----------

    @classmethod
    def python(cls) -> str:
        """The interpreter that runs this driver's workers (default: the harness's own)."""
        return sys.executable

    @classmethod
    def missing(cls) -> str | None:
        """Why this driver cannot run here, with the command that installs it (None: it can).
        A run skips such a driver with one warning and measures the others."""
        return None

    @classmethod
    @abc.abstractmethod
    def version(cls) -> str:
        """The driver's version string; called in the worker's interpreter."""

    # --- instance level: called in the worker ----------------------------------------------

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the connection (with auth when ``server.user`` is set); raise on failure."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection; must not raise if it is already closed or broken."""

    @abc.abstractmethod
    def request(self, spec: OpSpec) -> RequestFn:
        """A zero-argument function sending one ``spec`` request per call (fresh generated values).

        Read the spec with ``spec.static('space')`` for constants and ``spec.gen('key')`` for
        values (call the returned function per request).  ``spec.op`` is one of :data:`ops`.
        """

    async def quiesce(self) -> None:
        """Stop sending requests of the driver's own (see :meth:`own_requests`) and return once
        none is in flight: between phases, while the parent samples box.stat. Default: none."""

    def resume(self) -> None:
        """Requests of the driver's own may go again (a phase starts)."""

    def own_requests(self) -> dict[str, int]:
        """Requests the driver sent on its own so far, by instance (``host:port``): a pool's
        role polls, say. The server counts them too; the harness takes them out of box.stat's
        delta. Default: none."""
        return {}

    def classify(self, exc: BaseException) -> str:
        """The error kind of a failed request: ``timeout``, ``disconnect``, ``db:<code>``, other.

        Override to recognise the driver's own exceptions, falling back to this.
        """
        if isinstance(exc, asyncio.TimeoutError | TimeoutError):
            return TIMEOUT
        if isinstance(exc, ConnectionError | EOFError):
            return DISCONNECT
        code = getattr(exc, "code", None)
        if isinstance(code, int):
            return db_error(code)
        return other_error(exc)
