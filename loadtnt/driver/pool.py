"""Pool: one Connection per instance of a replica set, each request sent by its mode.

::

    async with Pool(['127.0.0.1:3301', '127.0.0.1:3302'], username='u', password='p') as pool:
        await pool.insert('tester', [1, 'a'])          # a write: on the master (Mode.RW)
        await pool.select('tester', [1])               # a read: the pool's default_mode
        await pool.select('tester', [1], mode='ro')    # per call: any Mode, or its name

Modes (those of tarantool-python and go-tarantool): ANY - every instance; RW - the writable
ones; RO - the read-only ones; PREFER_RO / PREFER_RW - those, or else the others.

Balancers (``balancer=``): which candidate of a mode a request goes to.

- ``'round_robin'``: candidates take turns, one cursor per mode. Even when one member is
  slower: it gets every other request, and the coroutines pile up on it.
- ``'least_outstanding'`` (the default): the candidate with the fewest requests in flight on its
  connection (sent or queued, not yet answered - every request of the connection counts,
  the pool's own and a stream's too), ties in turn. A slow member keeps more requests in
  flight and so gets fewer new ones. The count is read in C from each candidate's
  protocol: the pick costs a look at every candidate of the mode (one for one candidate).
  The default since bench/balancer_bench.py (two instances, one 10x slower, 300 coroutines,
  7 interleaved rounds): 1.97x round robin's requests/s, half its p50, the same p99, and no
  measurable cost per request when the members are alike (ties go in turn).

Default mode per request kind:

- writes (insert, replace, update, upsert, delete) and ``stream()``: RW;
- reads (select, ping, pages): ``default_mode`` (ANY unless given);
- call, call16, eval, execute, prepare: ``call_mode`` (RW unless given). These may write, and
  only the pool's user knows whether they do: RW is the choice that never sends a write to a
  read-only instance (go-tarantool's first pool defaulted them to RW too; tarantool-python's
  pool makes ``mode=`` mandatory for them). Read-only functions go anywhere with
  ``mode=Mode.ANY`` per call, or ``call_mode=Mode.ANY`` for the pool.

Roles come from ``box.status`` (watched, Tarantool 2.10+) or, on older servers, from
``box.info.ro`` polled every ``role_poll_interval`` seconds (an EVAL: the user needs the right
to eval there). Each Connection reconnects by itself; an instance that is down, reconnecting,
draining for a graceful shutdown, or whose role is not known yet (just reconnected) is no
candidate until it is back and its role known. A request whose mode has no candidate raises
:class:`~loadtnt.driver.exceptions.PoolNoCandidateError` at once, naming the mode and every
instance's state. The pool never resends a request: one in flight to an instance that dies
fails as on a Connection.

Watchers: ``pool.watch(key, callback, mode=Mode.ANY)`` follows a key on every instance of a
mode (ANY, RW or RO) as the roles change: an instance that joins the mode (connected, its role
known, or a new master for RW) is watched at once and its current value delivered, one that
leaves it is unwatched. ``callback(key, value, endpoint)`` says which instance sent the value.

The request path is in C (``PoolApi``, the core's base class of Pool, as ``Api`` is
Connection's): the candidates of each mode are precomputed (a ``Candidates`` turn) whenever a
role or a connection changes, and a request method returns the chosen Connection's own
awaitable, no Python frame in between.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from .connection import Connection, ConnectionState
from .crud import Crud
from .exceptions import PoolNoCandidateError, TarantoolDatabaseError, TarantoolNotConnectedError
from .iproto.protocol import BALANCERS, Candidates, PoolApi, Response
from .prepared import PreparedStatement
from .stream import Stream
from .watcher import Watcher, check_watch_args

__all__ = ("InstanceInfo", "Mode", "Pool", "PoolWatcher")

logger = logging.getLogger("loadtnt.driver")

STATUS_KEY = "box.status"
# Tarantool 3's config module broadcasts its status here: an instance started from a
# cluster config reports itself writable in box.status before its roles (crud's, an app's)
# are loaded - status 'startup_in_progress' - and requests sent then fail ("Procedure
# 'crud.get' is not defined"). The pool takes such an instance only once that is over.
CONFIG_KEY = "config.info"
_ROLE_LUA = "return box.info.ro"


class Mode(str, enum.Enum):
    """Which instances may serve a request. Its value (``'rw'``, ...) works wherever a Mode
    does."""

    ANY = "any"
    RW = "rw"
    RO = "ro"
    PREFER_RO = "prefer_ro"
    PREFER_RW = "prefer_rw"

    @classmethod
    def of(cls, value: Mode | str) -> Mode:
        """A Mode from a Mode or its name (any case); ValueError for anything else."""
        if isinstance(value, Mode):
            return value
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                pass
        names = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"unknown pool mode {value!r}: use a loadtnt.driver.Mode or one of {names}")

    def __str__(self) -> str:
        return self.value


# an instance's state, as PoolNoCandidateError.states and InstanceInfo.state say it
RW, RO, UNKNOWN, DOWN, CONNECTING = "rw", "ro", "unknown", "down", "connecting"


class InstanceInfo:
    """One instance of a Pool: ``endpoint``, ``state`` ('rw', 'ro', 'unknown' - connected,
    role not known yet -, 'connecting', 'down'), ``error`` (why it is down, if known),
    ``connection``, ``role_polls`` (EVALs sent to learn its role, on servers before 2.10)."""

    __slots__ = ("_pool", "config_protocol", "config_starting", "config_watcher", "connection",
                 "endpoint", "error", "role", "role_polls", "tried", "up", "wake", "watcher")

    def __init__(self, pool: Pool, endpoint: str, connection: _PoolConnection):
        self._pool = pool
        self.endpoint = endpoint
        self.connection = connection
        self.role: str | None = None     # RW or RO once known
        self.up = False                  # connected and ready for requests
        self.error: str | None = None
        self.role_polls = 0
        self.tried = False               # its first connect has ended (either way)
        self.watcher: Watcher | None = None
        self.wake: asyncio.Event | None = None
        # config.info (servers with watchers): the connection its last value came on, and
        # whether that value said the instance is still starting
        self.config_watcher: Watcher | None = None
        self.config_protocol: Any = None
        self.config_starting = False

    @property
    def serving(self) -> bool:
        """Up, role known, and (on servers with watchers) not starting per its config: a
        candidate of its modes."""
        if not self.up or self.role is None:
            return False
        conn = self.connection
        if not conn.features.watchers:
            return True
        return self.config_protocol is conn._protocol and not self.config_starting

    @property
    def state(self) -> str:
        if self.up:
            return (self.role or UNKNOWN) if self.serving else UNKNOWN
        return DOWN if self.tried else CONNECTING

    def describe(self) -> str:
        state = self.state
        return f"{self.endpoint} {state}" + (
            f" ({self.error})" if state in (DOWN, UNKNOWN) and self.error else "")

    def __repr__(self) -> str:
        return f"<InstanceInfo {self.describe()}>"

    # -- from the connection and the role's source ----------------------------

    def _check(self) -> None:
        # the connection's readiness may have changed: a lost connection, a reconnect, the
        # server's shutdown announcement. A new connection's role is not known until the
        # next box.status event or poll.
        protocol = self.connection._protocol
        up = protocol is not None and protocol.is_ready()
        if up == self.up:
            return
        self.up = up
        if up:
            self.error = None
            self.tried = True
        self.role = None
        self._pool._rebuild()
        if self.wake is not None:
            self.wake.set()

    def _set_role(self, read_only: Any) -> None:
        role = RO if read_only else RW
        up = self.connection.is_fully_connected
        if up:
            self.error = None
        if role == self.role and up == self.up:
            return
        if self.role is not None and role != self.role:
            logger.info("pool: %s is now %s", self.endpoint, role)
        self.role = role
        self.up = up
        self._pool._rebuild()

    def _on_config(self, key: str, value: Any) -> None:
        # config.info: {status = ..., alerts = ..., meta = ...}; None where the instance was
        # not started from a config (nothing is broadcast), which is no reason to wait
        status = value.get("status") if isinstance(value, dict) else None
        starting = status == "startup_in_progress"
        protocol = self.connection._protocol
        if protocol is self.config_protocol and starting == self.config_starting:
            return
        if starting:
            self.error = "its config is still starting (config.info status startup_in_progress)"
        elif self.config_starting and self.error is not None and "config" in self.error:
            self.error = None
        self.config_protocol = protocol
        self.config_starting = starting
        self._pool._rebuild()

    def _on_status(self, key: str, value: Any) -> None:
        # box.status: {is_ro = ..., is_ro_cfg = ..., status = ...}
        if isinstance(value, dict):
            ro = value.get("is_ro")
            if ro is None:
                ro = value.get(b"is_ro")
            if ro is not None:
                self._set_role(bool(ro))


class _PoolConnection(Connection):
    """A Connection that tells its pool when it goes up or down (no per-request cost)."""

    _pool_instance: InstanceInfo | None = None

    async def _open(self, timeout: float | None) -> None:
        await super()._open(timeout)
        if self._pool_instance is not None:
            self._pool_instance._check()

    def _on_connection_lost(self, protocol: Any, exc: BaseException | None) -> None:
        super()._on_connection_lost(protocol, exc)
        if self._pool_instance is not None:
            if self._protocol is None:
                self._pool_instance.error = (str(exc) or type(exc).__name__) if exc \
                    else "connection lost"
            self._pool_instance._check()

    def _on_shutdown_announced(self, protocol: Any) -> None:
        super()._on_shutdown_announced(protocol)
        if self._pool_instance is not None:
            self._pool_instance.error = "announced its shutdown"
            self._pool_instance._check()


class PoolWatcher:
    """What ``Pool.watch()`` returns: a key watched on every instance of a mode (ANY, RW or
    RO), following the roles. ``unwatch()`` stops it everywhere; ``endpoints`` are the
    instances it is registered on now; ``errors`` counts the calls of its callback that
    raised (the first is logged)."""

    __slots__ = ("_active", "_callback", "_key", "_logged", "_mode", "_on", "_pool", "errors")

    def __init__(self, pool: Pool, key: str, callback: Callable[[str, Any, str], Any],
                 mode: Mode):
        self._pool = pool
        self._key = key
        self._callback = callback
        self._mode = mode
        self._active = True
        self._logged = False
        self._on: dict[InstanceInfo, Watcher] = {}
        self.errors = 0

    @property
    def key(self) -> str:
        return self._key

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def active(self) -> bool:
        """False once unwatch() was called."""
        return self._active

    @property
    def endpoints(self) -> list[str]:
        """The instances the key is watched on now, in the pool's order."""
        return [i.endpoint for i in self._pool._instances if i in self._on]

    def unwatch(self) -> None:
        """No more calls of the callback, from any instance. Calling it again does nothing."""
        if not self._active:
            return
        self._active = False
        self._pool._watchers.remove(self)
        on, self._on = self._on, {}
        for watcher in on.values():
            watcher.unwatch()

    def __repr__(self) -> str:
        state = f"on {', '.join(self.endpoints) or 'no instance'}" if self._active \
            else "unwatched"
        return f"<PoolWatcher key={self._key!r} mode={self._mode.value} {state}>"

    def _sync(self, wanted: list[InstanceInfo]) -> None:
        # called on every role or connection change: watch where the mode now has the
        # instance, unwatch where it no longer has it (a Connection's own watcher would
        # follow its reconnects, but the instance may come back in another role)
        for inst in [i for i in self._on if i not in wanted]:
            self._on.pop(inst).unwatch()
        for inst in wanted:
            if inst in self._on:
                continue
            conn = inst.connection
            if not conn.features.watchers:
                continue      # a server before 2.10 among newer ones: it cannot watch
            try:
                self._on[inst] = conn.watch(self._key,
                                            functools.partial(self._deliver, inst.endpoint))
            except TarantoolNotConnectedError:
                continue      # lost meanwhile: its _check rebuilds again when it is back

    def _deliver(self, endpoint: str, key: str, value: Any) -> Any:
        # the Connection's watcher calls this (from the event loop, in order, one call at a
        # time per instance); an awaitable it returns is awaited before the acknowledgement
        if not self._active:
            return None
        try:
            result = self._callback(key, value, endpoint)
        except Exception as e:  # noqa: BLE001  the user's callback: logged once, never fatal
            self._failed(endpoint, e)
            return None
        if inspect.isawaitable(result):
            return self._await(endpoint, result)
        return None

    async def _await(self, endpoint: str, result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception as e:  # noqa: BLE001  as above
            self._failed(endpoint, e)

    def _failed(self, endpoint: str, exc: BaseException) -> None:
        self.errors += 1
        if not self._logged:
            self._logged = True
            logger.error(
                "the callback of a pool watcher of %r raised on %s (later failures of this "
                "watcher are counted in its .errors, not logged)", self._key, endpoint,
                exc_info=exc)


def _split(endpoint: str | tuple[str, int | str]) -> tuple[str, int | str]:
    if isinstance(endpoint, tuple):
        host, port = endpoint
        return str(host), port
    if not isinstance(endpoint, str):
        raise TypeError(f"an endpoint is 'host:port' or (host, port), not {endpoint!r}")
    if endpoint.startswith("unix/:"):
        return "unix/", endpoint[len("unix/:"):]
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"an endpoint is 'host:port' (or 'unix/:path'), not {endpoint!r}")
    return host.strip("[]"), int(port)


class Pool(PoolApi):
    """Connections to every endpoint of a replica set; requests by mode (see the module).

    :param endpoints: ``'host:port'`` strings (or ``'unix/:path'``, or ``(host, port)``)
    :param username, password: for every instance (the password is never shown)
    :param default_mode: the mode of reads (select, ping, pages); ANY unless given
    :param call_mode: the mode of call, call16, eval, execute and prepare; RW unless given
    :param role_poll_interval: seconds between ``box.info.ro`` polls on servers without
        watchers (before 2.10)
    :param balancer: ``'least_outstanding'`` (default) or ``'round_robin'`` (see the module)
    :param kwargs: any other Connection argument (connect_timeout, request_timeout,
        reconnect_timeout, ...), for every instance

    ``connect()`` returns once every instance is connected with its role known or has
    failed its first connect (a failed one is retried in the background); it raises
    PoolNoCandidateError when no instance could be reached at all.
    """

    def __init__(
        self,
        endpoints: Iterable[str | tuple[str, int | str]],
        *,
        username: str | None = None,
        password: str | None = None,
        default_mode: Mode | str = Mode.ANY,
        call_mode: Mode | str = Mode.RW,
        role_poll_interval: float = 0.1,
        balancer: str = "least_outstanding",
        **kwargs: Any,
    ):
        eps = list(endpoints) if not isinstance(endpoints, str) else [endpoints]
        if not eps:
            raise ValueError("a pool needs at least one endpoint")
        if "host" in kwargs or "port" in kwargs:
            raise TypeError("a pool takes its hosts and ports from endpoints, not host=/port=")
        if balancer not in BALANCERS:
            raise ValueError(f"unknown pool balancer {balancer!r}: use one of "
                             + ", ".join(repr(b) for b in BALANCERS))
        self._least = balancer == "least_outstanding"
        self._default_mode = Mode.of(default_mode)
        self._call_mode = Mode.of(call_mode)
        if role_poll_interval <= 0:
            raise ValueError(f"role_poll_interval must be positive, not {role_poll_interval!r}")
        self._poll_interval = float(role_poll_interval)
        self._polls_paused = False
        self._polls_in_flight = 0
        self._polls_drained: asyncio.Event | None = None
        self._instances: list[InstanceInfo] = []
        seen = set()
        for ep in eps:
            host, port = _split(ep)
            name = f"unix/:{port}" if host == "unix/" else f"{host}:{port}"
            if name in seen:
                raise ValueError(f"endpoint {name} is given twice")
            seen.add(name)
            conn = _PoolConnection(host=host, port=port, username=username, password=password,
                                   **kwargs)
            inst = InstanceInfo(self, name, conn)
            conn._pool_instance = inst
            self._instances.append(inst)
        self._tasks: list[asyncio.Task] = []
        self._connected = False
        self._ready: dict[InstanceInfo, asyncio.Future] = {}
        self._changed: asyncio.Event | None = None
        self._watchers: list[PoolWatcher] = []
        # a pool made by from_config: each endpoint's ConfigInstance (its names, roles, labels)
        self.config_instances: dict[str, Any] = {}
        self._rebuild()

    # -- candidates -----------------------------------------------------------

    def _members(self) -> dict[Mode, list[InstanceInfo]]:
        """Each mode's instances now: connected, role known (none while disconnected)."""
        live = [i for i in self._instances if i.serving] if self._connected else []
        rw = [i for i in live if i.role == RW]
        ro = [i for i in live if i.role == RO]
        return {Mode.ANY: live, Mode.RW: rw, Mode.RO: ro,
                Mode.PREFER_RO: ro or rw, Mode.PREFER_RW: rw or ro}

    def _rebuild(self) -> None:
        """Precompute each mode's candidates (on a role or connection change only)."""
        members = self._members()
        select: dict[Any, Candidates] = {}
        for mode, insts in members.items():
            # by the Mode and by its name: a str enum's hash is not its value's
            select[mode] = select[mode.value] = Candidates(
                [i.connection for i in insts], functools.partial(self._no_candidate, mode),
                self._least)
        self._select = select
        self._read = self._select[self._default_mode]
        self._write = self._select[Mode.RW]
        self._calls = self._select[self._call_mode]
        for inst, fut in list(self._ready.items()):
            if inst.serving and not fut.done():
                fut.set_result(None)
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        for watcher in list(self._watchers):
            watcher._sync(members[watcher._mode])

    def _no_candidate(self, mode: Mode) -> Connection:
        states = {i.endpoint: i.state for i in self._instances}
        if not self._connected:
            raise PoolNoCandidateError(
                f"the pool is not connected (call connect()); its instances: "
                f"{', '.join(self.endpoints)}", mode.value, states)
        raise PoolNoCandidateError(
            f"no instance of the pool can serve mode {mode.value!r}: "
            + ", ".join(i.describe() for i in self._instances), mode.value, states)

    def _pick_py(self, mode: Mode | str) -> Connection:
        try:
            select = self._select[mode]
        except (KeyError, TypeError):
            select = self._select[Mode.of(mode)]
        return select()

    @staticmethod
    def _mode_of(mode: Any) -> Mode:
        return Mode.of(mode)     # PoolApi's slow path: a mode that is not a key (yet)

    def connection(self, mode: Mode | str | None = None) -> Connection:
        """The Connection the next request of ``mode`` (default_mode) goes to, as the
        balancer picks it (taking its turn in the round robin): for what the pool does not
        wrap (watch, push, ...)."""
        return self._read() if mode is None else self._pick_py(mode)

    # -- lifecycle ------------------------------------------------------------

    async def connect(self) -> Pool:
        if self._connected:
            return self
        self._connected = True
        loop = asyncio.get_running_loop()
        self._ready = {i: loop.create_future() for i in self._instances}
        for inst in self._instances:
            inst.wake = asyncio.Event()
            inst.tried = False
            task = asyncio.ensure_future(self._run(inst))
            # should a keeper end (only by a bug), connect() does not wait for it forever
            task.add_done_callback(functools.partial(self._keeper_done, inst))
            self._tasks.append(task)
        # each instance: connected with its role known, or its first connect failed; a role
        # that does not come (no right to eval on 2.6?) leaves it 'unknown' after a while
        conn = self._instances[0].connection
        patience = 2 * (conn.connect_timeout or 10.0) + 1.0
        try:
            await asyncio.wait(list(self._ready.values()), timeout=patience)
        except BaseException:
            await self.disconnect()
            raise
        self._ready = {}
        if not any(i.up for i in self._instances):
            message = "could not connect to any instance of the pool: " + ", ".join(
                i.describe() for i in self._instances)
            states = {i.endpoint: i.state for i in self._instances}
            await self.disconnect()
            raise PoolNoCandidateError(message, "", states)
        self._rebuild()
        return self

    async def _run(self, inst: InstanceInfo) -> None:
        """An instance's keeper: its first connect (and again if its Connection gave up),
        the box.status watcher or the role poll."""
        conn = inst.connection
        backoff = max(conn.reconnect_timeout, 0.1)
        assert inst.wake is not None
        while self._connected:
            if conn.state == ConnectionState.DISCONNECTED:
                try:
                    await conn.connect()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001  any failure: named in the state, retried
                    inst.error = str(e) or type(e).__name__
                    self._first_done(inst)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, max(conn._reconnect_max_timeout, backoff))
                    continue
                backoff = max(conn.reconnect_timeout, 0.1)
                inst._check()
            if conn.is_fully_connected:
                if conn.features.watchers:
                    if inst.watcher is None:
                        # follows reconnects by itself; its first value comes at once
                        inst.watcher = conn.watch(STATUS_KEY, inst._on_status)
                        inst.config_watcher = conn.watch(CONFIG_KEY, inst._on_config)
                    if inst.role is None:
                        # (re)connected: ask too, should the first event have come before
                        # the pool saw the connection up
                        await self._poll_role(inst)
                else:
                    await self._poll_role(inst)
            inst.wake.clear()
            try:
                await asyncio.wait_for(inst.wake.wait(), self._poll_interval)
            except asyncio.TimeoutError:
                pass

    async def _poll_role(self, inst: InstanceInfo) -> None:
        if self._polls_paused:
            return
        inst.role_polls += 1
        self._polls_in_flight += 1
        try:
            resp = await inst.connection.eval(_ROLE_LUA, timeout=max(1.0, self._poll_interval))
        except asyncio.CancelledError:
            raise
        except TarantoolDatabaseError as e:
            # the server refused (no right to eval?): the instance stays 'unknown', and says why
            if inst.error is None:
                logger.warning("pool: cannot learn the role of %s: %s", inst.endpoint, e)
            inst.error = (f"cannot learn its role: {e.message} (on servers before 2.10 the "
                          f"pool's user must be able to eval box.info.ro)")
            if not inst.connection.features.watchers:
                self._first_done(inst)     # connect() need not wait for it
            return
        except Exception as e:  # noqa: BLE001  a lost connection is seen by _check
            logger.debug("pool: box.info.ro of %s failed: %s", inst.endpoint, e)
            return
        finally:
            self._polls_in_flight -= 1
            if not self._polls_in_flight and self._polls_drained is not None:
                self._polls_drained.set()
        if len(resp):
            inst._set_role(resp[0])

    async def pause_role_polls(self) -> None:
        """Send no role poll until :meth:`resume_role_polls`, and return once none is in
        flight: for a load tool that samples the servers' request counters (box.stat) and
        must know how many requests the pool sent on its own in between (``role_polls`` of
        each instance). Roles learnt from box.status events are followed as before."""
        self._polls_paused = True
        while self._polls_in_flight:
            self._polls_drained = asyncio.Event()
            await self._polls_drained.wait()
        self._polls_drained = None

    def resume_role_polls(self) -> None:
        self._polls_paused = False

    def _keeper_done(self, inst: InstanceInfo, task: asyncio.Task) -> None:
        # a keeper ends only when cancelled (or by a bug): its exception is retrieved and
        # logged here, never left unretrieved
        if not task.cancelled() and task.exception() is not None:
            logger.error("the keeper of %s failed: %s: %s", inst.endpoint,
                         type(task.exception()).__name__, task.exception())
        self._first_done(inst)

    def _first_done(self, inst: InstanceInfo) -> None:
        inst.tried = True
        fut = self._ready.get(inst)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def disconnect(self) -> None:
        """Stop following the roles and close every connection."""
        self._connected = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for inst in self._instances:
            if inst.watcher is not None:
                inst.watcher.unwatch()
                inst.watcher = None
            if inst.config_watcher is not None:
                inst.config_watcher.unwatch()
                inst.config_watcher = None
            inst.config_protocol = None
            inst.wake = None
        await asyncio.gather(*(i.connection.disconnect() for i in self._instances),
                             return_exceptions=True)
        for inst in self._instances:
            inst.up = False
            inst.role = None
        self._rebuild()

    async def __aenter__(self) -> Pool:  # noqa: PYI034
        return await self.connect()

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.disconnect()

    async def wait_for(self, mode: Mode | str, *, timeout: float | None = None) -> Connection:
        """Wait (up to ``timeout`` seconds) until ``mode`` has a candidate; returns it.

        Raises PoolNoCandidateError when the time runs out."""
        mode = Mode.of(mode)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            try:
                return self._pick_py(mode)
            except PoolNoCandidateError:
                remaining = None if deadline is None else deadline - loop.time()
                if not self._connected or (remaining is not None and remaining <= 0):
                    raise
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    # -- from a Tarantool 3.x cluster config ------------------------------------

    @classmethod
    def from_config(cls, config: Any, *, groups: Any = None, replicasets: Any = None,
                    instances: Any = None, roles: Any = None, sharding_roles: Any = None,
                    labels: Any = None, uri: str = "client", username: str | None = None,
                    password: str | None = None, **pool_options: Any) -> Pool:
        """A Pool over the instances of a Tarantool 3.x cluster config (a YAML file's path or
        a dict) that pass the filters, each at its ``iproto.advertise.client`` (else
        ``iproto.listen``), the config's inheritance and variables resolved as Tarantool
        does; ``pool_options`` are Pool's. ``pool.config_instances`` maps each endpoint to
        its :class:`~loadtnt.driver.config.ConfigInstance`. See :mod:`loadtnt.driver.config`.
        """
        from .config import pool_from_config
        return pool_from_config(cls, config, groups=groups, replicasets=replicasets,
                                instances=instances, roles=roles,
                                sharding_roles=sharding_roles, labels=labels, uri=uri,
                                username=username, password=password, **pool_options)

    # -- state ----------------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        return [i.endpoint for i in self._instances]

    @property
    def instances(self) -> list[InstanceInfo]:
        return list(self._instances)

    @property
    def default_mode(self) -> Mode:
        return self._default_mode

    @property
    def call_mode(self) -> Mode:
        return self._call_mode

    @property
    def balancer(self) -> str:
        """``'round_robin'`` or ``'least_outstanding'``."""
        return "least_outstanding" if self._least else "round_robin"

    @property
    def is_connected(self) -> bool:
        return self._connected

    def states(self) -> dict[str, str]:
        """Each instance's state ('rw', 'ro', 'unknown', 'connecting', 'down') by endpoint."""
        return {i.endpoint: i.state for i in self._instances}

    def candidates(self, mode: Mode | str) -> list[str]:
        """The endpoints a request of ``mode`` may go to now."""
        return [i.endpoint for i in self._members()[Mode.of(mode)]]

    def __repr__(self) -> str:
        return (f"<Pool default_mode={self._default_mode.value} "
                f"{'balancer=least_outstanding ' if self._least else ''}"
                f"{', '.join(i.describe() for i in self._instances)}>")

    # -- requests: the Connection's, each by its mode -------------------------
    # ping, select, insert, replace, update, upsert, delete, call, call16, eval and execute
    # are PoolApi's (in C); these are the others.

    @property
    def crud(self) -> Crud:
        """crud's operations, each on a router of the pool's default_mode (any unless given),
        taking turns as every request of that mode does (see loadtnt.driver.crud)."""
        crud = self.__dict__.get("_crud")
        if crud is None:
            crud = self.__dict__["_crud"] = Crud(
                functools.partial(self.call, mode=self._default_mode))
        return crud

    def pages(self, space: Any, key: Any = None, *, mode: Mode | str | None = None,
              **kwargs: Any) -> AsyncIterator[Response]:
        """Connection.pages (the whole walk on one instance of ``mode``; default_mode)."""
        conn = self._read() if mode is None else self._pick_py(mode)
        return conn.pages(space, key, **kwargs)

    def watch(self, key: str, callback: Callable[[str, Any, str], Any], *,
              mode: Mode | str = Mode.ANY) -> PoolWatcher:
        """Follow ``box.broadcast(key, value)`` on every instance of ``mode`` (ANY, the
        default: every instance; RW: the master(s); RO: the replicas), as Connection.watch
        does on one: ``callback(key, value, endpoint)`` - a plain function or a coroutine
        function - gets each instance's current value when the instance joins the mode
        (at once for those in it now; again after it reconnects, or when a new master takes
        RW) and each later one, in order per instance. An instance that leaves the mode is
        unwatched. Needs Tarantool 2.10+ (IPROTO_WATCH); returns a PoolWatcher."""
        check_watch_args(key, callback)
        mode = Mode.of(mode)
        if mode not in (Mode.ANY, Mode.RW, Mode.RO):
            raise ValueError(f"a pool watcher's mode is 'any', 'rw' or 'ro', not "
                             f"{mode.value!r}: a watcher follows every instance of its mode")
        for inst in self._instances:
            if inst.up:      # refuse at once where the server cannot watch (before 2.10)
                inst.connection._require("watchers", "watchers need Tarantool 2.10")
        watcher = PoolWatcher(self, key, callback, mode)
        self._watchers.append(watcher)
        self._rebuild()
        return watcher

    async def watch_once(self, key: str, *, mode: Mode | str | None = None,
                         timeout: float = -1.0) -> Any:
        """Connection.watch_once on one instance of ``mode`` (default_mode): the key's
        current value there (Tarantool 3.0+)."""
        conn = self._read() if mode is None else self._pick_py(mode)
        return await conn.watch_once(key, timeout=timeout)

    def prepare(self, query: str, *, mode: Mode | str | None = None) -> PreparedStatement:
        """Connection.prepare: a statement prepared on one instance (call_mode)."""
        conn = self._calls() if mode is None else self._pick_py(mode)
        return conn.prepare(query)

    def stream(self, *, mode: Mode | str | None = None) -> Stream:
        """Connection.stream on one instance (RW: a transaction writes, as a rule)."""
        conn = self._write() if mode is None else self._pick_py(mode)
        return conn.stream()
