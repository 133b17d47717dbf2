"""Connection: the lifecycle around the Cython core.

connect (greeting, auth, schema), automatic reconnect with backoff, the
background ping, disconnect. The request methods (ping, select, ...) are
inherited from the core's ``Api`` class and go straight to C.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from . import pagination
from .crud import Crud
from .exceptions import (
    ErrorCode,
    TarantoolDatabaseError,
    TarantoolError,
    TarantoolNetworkError,
    TarantoolNotConnectedError,
    network_error,
)
from .features import IProtoFeatures
from .iproto.protocol import Api, Protocol, Response, Schema, TupleExtProtocol
from .prepared import PreparedStatement
from .stream import Stream
from .watcher import Watcher, Watchers

__all__ = ("Connection", "ConnectionState", "connect")

logger = logging.getLogger("loadtnt.driver")


def _background(coro: Any, what: str, peer: str) -> asyncio.Task:
    """A driver task nobody awaits (reconnect, ping, drain): should it end with an
    exception (only a bug does), the exception is retrieved and logged here, once, never
    left for asyncio's "Task exception was never retrieved" at garbage collection."""
    task = asyncio.ensure_future(coro)
    task.add_done_callback(lambda t: _retrieve(t, what, peer))
    return task


def _retrieve(task: asyncio.Future, what: str, peer: str) -> None:
    if not task.cancelled():
        exc = task.exception()
        if exc is not None:
            logger.error("the %s task of the connection to %s failed: %s: %s", what, peer,
                         type(exc).__name__, exc)


class _ConnectCancelled(TarantoolNotConnectedError):
    """disconnect() was called while connect() ran: not retried."""


class _ServerNotReady(TarantoolDatabaseError):
    """The server is still loading, or bootstrapping so that the user cannot see the
    schema yet: connect() retries it every reconnect_timeout until connect_timeout."""


# errors a starting instance gives before it serves: while loading or joining a
# replica set (ER_LOADING), or before its schema spaces are there or readable
_NOT_READY_CODES = frozenset({
    ErrorCode.ER_LOADING, ErrorCode.ER_NO_SUCH_SPACE, ErrorCode.ER_ACCESS_DENIED,
})


def _not_ready(exc: BaseException, *, during_schema: bool) -> _ServerNotReady | None:
    cause = exc if isinstance(exc, TarantoolDatabaseError) else exc.__cause__
    if not isinstance(cause, TarantoolDatabaseError):
        return None
    if cause.code == ErrorCode.ER_LOADING or (during_schema and cause.code in _NOT_READY_CODES):
        err = _ServerNotReady(cause.code, cause.message, cause.error)
        err.__cause__ = exc
        return err
    return None


class ConnectionState(enum.IntEnum):
    CONNECTING = 1
    CONNECTED = 2
    RECONNECTING = 3
    DISCONNECTING = 4
    DISCONNECTED = 5


def _positive(value: float | None) -> float:
    return float(value) if value is not None and value > 0 else 0.0


class Connection(Api):
    """A connection to one Tarantool instance (asynctnt 2.x API).

    :param host: host name or address; ``'unix/'`` for a unix socket
    :param port: TCP port, or the socket path when host is ``'unix/'``
    :param username: user to authenticate as (chap-sha1); guest when None
    :param password: the user's password (never logged nor shown in errors)
    :param fetch_schema: fetch spaces and indexes at connect, so they go by name
    :param auto_refetch_schema: refetch the schema when the server reports a
        new one, and send a request rejected for a stale schema once more
    :param connect_timeout: seconds for one connect (TCP, greeting, auth, schema)
    :param request_timeout: default per-request timeout in seconds; <= 0: none
    :param reconnect_timeout: first delay before reconnecting, doubled after
        each failure up to ``reconnect_max_timeout``; 0 or None: no reconnect
    :param reconnect_max_timeout: the backoff's cap, in seconds
    :param ping_timeout: ping the server this often while idle, and drop a
        connection whose ping times out; 0 or None: no background ping
    :param encoding: text encoding of strings; None: UTF-8
    :param max_packet_size: the largest reply packet accepted, in bytes (a longer
        length prefix is a ProtocolError and closes the connection); default 1 GiB
    :param shutdown_wait: when the server announces a graceful shutdown
        (``box.shutdown``, 2.10+), the replies in flight arrive, the connection
        closes and reconnects; requests made meanwhile wait for the reconnect,
        each within its own timeout and at most this many seconds after the
        announcement (then TarantoolNotConnectedError); 0 or None: they fail at once
    :param tuple_extension: ask the server (3.0+) to send tuples as MP_TUPLE with
        their formats (IPROTO features dml_tuple_extension and
        call_ret_tuple_extension), so that tuples from select, DML, call and eval
        have their field names even without a schema; off by default

    With ``fetch_schema=False`` on Tarantool 3.0+ (the IPROTO feature
    ``space_and_index_names``), spaces and indexes given by name are sent as names
    (IPROTO_SPACE_NAME, IPROTO_INDEX_NAME): no schema is needed.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | str = 3301,
        username: str | None = None,
        password: str | None = None,
        fetch_schema: bool = True,
        auto_refetch_schema: bool = True,
        connect_timeout: float | None = 3.0,
        request_timeout: float | None = -1.0,
        reconnect_timeout: float | None = 1.0 / 3.0,
        reconnect_max_timeout: float = 5.0,
        ping_timeout: float | None = 5.0,
        encoding: str | None = None,
        initial_read_buffer_size: int | None = None,
        max_packet_size: int | None = None,
        shutdown_wait: float | None = 30.0,
        tuple_extension: bool = False,
    ):
        if password is not None and username is None:
            raise ValueError("a password was given without a username")
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._fetch_schema = bool(fetch_schema)
        self._auto_refetch_schema = bool(auto_refetch_schema) and self._fetch_schema
        self._connect_timeout = _positive(connect_timeout)
        self._request_timeout = _positive(request_timeout)
        self._reconnect_timeout = _positive(reconnect_timeout)
        self._reconnect_max_timeout = max(float(reconnect_max_timeout), self._reconnect_timeout)
        self._ping_timeout = _positive(ping_timeout)
        self._encoding = encoding
        if encoding is not None:
            "".encode(encoding)  # an unknown codec fails here
        self._initial_read_buffer_size = initial_read_buffer_size
        if max_packet_size is not None and int(max_packet_size) <= 0:
            raise ValueError(f"max_packet_size must be positive, not {max_packet_size!r}")
        self._max_packet_size = int(max_packet_size) if max_packet_size else 0
        self._tuple_extension = bool(tuple_extension)
        self._state = ConnectionState.DISCONNECTED
        self._transport: asyncio.Transport | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._ping_task: asyncio.Task | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._reconnects = 0
        self._generation = 0  # bumped by disconnect(): a connect() in progress gives up
        self._features = IProtoFeatures()
        self._next_stream_id = 0
        self._shutdown_wait = _positive(shutdown_wait)
        self._watchers = Watchers(self, self._on_shutdown_announced)
        self._draining: Any = None       # the protocol whose server announced its shutdown
        self._room_timer: asyncio.TimerHandle | None = None
        self._drain_task: asyncio.Task | None = None
        self._shutdowns = 0

    # -- lifecycle -----------------------------------------------------------

    def _require(self, feature: str, what: str) -> None:
        """Refuse, before anything is sent, what the server's IPROTO_ID does not offer:
        ``what`` says what needs which version ("streams need Tarantool 2.10")."""
        if not getattr(self._features, feature):
            version = ".".join(map(str, self.version or ())) or "?"
            raise TarantoolError(
                f"{what} or later; the server at {self._peer()} is {version} and its "
                f"IPROTO_ID does not list the {feature} feature"
            )

    def _peer(self) -> str:
        if self._host == "unix/":
            return f"unix/:{self._port}"
        return f"{self._host}:{self._port}"

    async def _open(self, timeout: float | None) -> None:
        """One attempt: TCP or unix connect, greeting, auth, schema."""
        loop = asyncio.get_running_loop()

        protocol_class = TupleExtProtocol if self._tuple_extension else Protocol

        def factory() -> Protocol:
            return protocol_class(
                loop=loop,
                peer=self._peer(),
                encoding=self._encoding,
                request_timeout=self._request_timeout,
                auto_refetch_schema=self._auto_refetch_schema,
                on_lost=self._on_connection_lost,
                max_packet_size=self._max_packet_size,
                on_event=self._watchers.on_event,
                tuple_extension=self._tuple_extension,
            )

        async def handshake() -> None:
            if self._host == "unix/":
                transport, protocol = await loop.create_unix_connection(factory, str(self._port))
            else:
                transport, protocol = await loop.create_connection(
                    factory, self._host, int(self._port)
                )
            self._transport = transport
            during_schema = False
            try:
                await protocol.wait_greeting()
                features = await self._identify(protocol)
                protocol.set_features(features.ids, send_names=not self._fetch_schema)
                if self._username is not None:
                    await protocol.auth(self._username, self._password or "")
                if self._fetch_schema:
                    during_schema = True
                    # bound by connect_timeout (the wait_for below), not by
                    # the connection's request_timeout
                    await protocol.refetch_schema(0.0)
            except BaseException as e:
                lost = not protocol.is_connected()
                transport.abort()
                self._transport = None
                if lost and isinstance(e, TarantoolError) and not isinstance(
                    e, TarantoolNetworkError
                ):
                    # e.g. the schema fetch failed because the connection
                    # dropped: a network failure, which connect() retries
                    raise TarantoolNetworkError(
                        f"connection to Tarantool at {self._peer()} was lost during the "
                        f"handshake: {e}"
                    ) from e
                not_ready = _not_ready(e, during_schema=during_schema)
                if not_ready is not None:
                    raise not_ready from e
                raise
            room = self._protocol if self._protocol is not None and \
                self._protocol.is_parked() else None
            protocol.set_ready()
            self._features = features
            self._protocol = protocol
            self._watchers.on_connected(protocol, features)
            if room is not None:
                # requests made since the server announced its shutdown
                self._cancel_room_timer()
                n = protocol.adopt(room)
                logger.info("sent %d requests that waited for the reconnect to %s", n,
                            self._peer())

        if timeout is None:
            await handshake()
        else:
            if timeout <= 0:
                raise asyncio.TimeoutError(
                    f"could not connect to Tarantool at {self._peer()}: connect_timeout ran out"
                )
            try:
                await asyncio.wait_for(handshake(), timeout)
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(
                    f"could not connect to Tarantool at {self._peer()} within {timeout:g} s"
                ) from None
        if self._protocol is None:
            # lost in the loop turn between the handshake and here
            raise TarantoolNetworkError(
                f"connection to Tarantool at {self._peer()} was lost right after the handshake"
            )

    @staticmethod
    async def _identify(protocol: Any) -> IProtoFeatures:
        # IPROTO_ID, on servers that know it (2.10+, by the greeting); one that
        # does not answers ER_UNKNOWN_REQUEST_TYPE, which means no features
        if protocol.version is not None and tuple(protocol.version) < (2, 10):
            return IProtoFeatures()
        try:
            return IProtoFeatures.from_id_reply((await protocol.identify()).body)
        except TarantoolDatabaseError as e:
            if e.code == ErrorCode.ER_UNKNOWN_REQUEST_TYPE:
                return IProtoFeatures()
            raise

    def _check_not_cancelled(self, generation: int) -> None:
        if generation != self._generation:
            self._abort_transport()
            raise _ConnectCancelled(
                f"disconnect() was called while connecting to {self._peer()}"
            )

    async def connect(self) -> Connection:
        """Connect, authenticate and fetch the schema.

        With reconnect on, a refused connection is retried until connect_timeout
        runs out; a rejected login is raised at once. disconnect() stops it."""
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._state == ConnectionState.CONNECTED and self.is_fully_connected:
                return self
            self._cancel_reconnect()
            # A connection still open but not in use (a disconnect() that has
            # not finished closing it, a reconnect in progress) is dropped.
            self._abort_transport()
            # A new generation: a disconnect() still waiting for the previous
            # connection to close no longer owns the state.
            self._generation += 1
            generation = self._generation
            self._state = ConnectionState.CONNECTING
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._connect_timeout if self._connect_timeout else None
            delay = self._reconnect_timeout
            try:
                while True:
                    remaining = None if deadline is None else deadline - loop.time()
                    try:
                        await self._open(remaining)
                        self._check_not_cancelled(generation)
                        break
                    except (OSError, TarantoolNetworkError, asyncio.TimeoutError,
                            _ServerNotReady) as e:
                        self._check_not_cancelled(generation)
                        if not delay or (
                            deadline is not None and deadline - loop.time() <= delay
                        ):
                            # asynctnt raised the OS error itself without reconnect,
                            # asyncio.TimeoutError when retries ran out of connect_timeout:
                            # the error is an instance of those too (network_error)
                            if isinstance(e, (asyncio.TimeoutError, _ServerNotReady)) or (
                                    isinstance(e, TarantoolNetworkError) and not delay):
                                raise
                            cause = e.__cause__ if isinstance(e, TarantoolNetworkError) else e
                            message = str(e) if isinstance(e, TarantoolNetworkError) else \
                                f"could not connect to Tarantool at {self._peer()}: {e}"
                            if delay:
                                message += (f" (retried every {delay:g} s for "
                                            f"connect_timeout={self._connect_timeout:g} s)")
                            raise network_error(message, cause, timed_out=bool(delay)) from e
                        logger.debug("connect to %s failed (%s); retrying", self._peer(), e)
                        await asyncio.sleep(delay)
                        self._check_not_cancelled(generation)
            except BaseException:
                if generation == self._generation:
                    self._state = ConnectionState.DISCONNECTED
                raise
            self._state = ConnectionState.CONNECTED
            self._start_ping()
            return self

    def _on_connection_lost(self, protocol: Any, exc: BaseException | None) -> None:
        if protocol is self._draining and protocol is not None:
            self._on_drained(protocol, exc)
            return
        if protocol is not self._protocol:
            return  # a handshake that failed, or an old connection
        self._protocol = None
        self._transport = None
        if self._state != ConnectionState.CONNECTED:
            return
        if self._reconnect_timeout:
            logger.warning("lost connection to %s (%s); reconnecting", self._peer(), exc)
            self._state = ConnectionState.RECONNECTING
            self._reconnect_task = _background(self._reconnect_loop(), "reconnect", self._peer())
        else:
            logger.warning("lost connection to %s (%s)", self._peer(), exc)
            self._state = ConnectionState.DISCONNECTED

    async def _reconnect_loop(self) -> None:
        delay = self._reconnect_timeout
        while self._state == ConnectionState.RECONNECTING:
            await asyncio.sleep(delay)
            if self._state != ConnectionState.RECONNECTING:
                return
            try:
                await self._open(self._connect_timeout or None)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001  any failure: try again later, with backoff
                logger.info("reconnect to %s failed: %s", self._peer(), e)
                delay = min(delay * 2, self._reconnect_max_timeout)
                continue
            if self._state != ConnectionState.RECONNECTING:
                # disconnect() was called while the handshake ran
                self._abort_transport()
                return
            self._reconnects += 1
            self._state = ConnectionState.CONNECTED
            logger.info("reconnected to %s", self._peer())
            return

    # -- graceful shutdown (box.shutdown) ---------------------------------------

    def _on_shutdown_announced(self, protocol: Any) -> None:
        # In the read path (IPROTO_EVENT box.shutdown = true): from now on requests
        # wait in a parked protocol; this one sends nothing new, gets its replies,
        # closes, and the connection reconnects to the restarted server.
        if protocol is not self._protocol or self._state != ConnectionState.CONNECTED:
            return
        loop = asyncio.get_running_loop()
        self._shutdowns += 1
        self._draining = protocol
        if self._shutdown_wait and self._reconnect_timeout:
            room = Protocol(loop=loop, peer=self._peer(), encoding=self._encoding,
                            request_timeout=self._request_timeout,
                            auto_refetch_schema=self._auto_refetch_schema)
            room.park()
            self._protocol = room
            self._room_timer = loop.call_later(self._shutdown_wait, self._give_up_room, room)
        else:
            self._protocol = None
        logger.info("%s announced its shutdown: %d requests in flight, then reconnecting",
                    self._peer(), len(self._draining.inflight_waiters()))
        self._drain_task = _background(self._drain(self._draining), "drain", self._peer())

    async def _drain(self, protocol: Any) -> None:
        # The server waits for this close (up to its on_shutdown_timeout); a server
        # that stalls instead is left after shutdown_wait.
        waiters = protocol.inflight_waiters()
        if waiters:
            await asyncio.wait(waiters, timeout=self._shutdown_wait or None)
        if protocol is self._draining:
            protocol.close()    # its connection_lost goes on in _on_drained

    def _on_drained(self, protocol: Any, exc: BaseException | None) -> None:
        self._draining = None
        self._transport = None    # its transport: no other is open before the reconnect
        if self._state != ConnectionState.CONNECTED:
            return
        if self._reconnect_timeout:
            logger.info("closed the connection to %s for its shutdown; reconnecting",
                        self._peer())
            self._state = ConnectionState.RECONNECTING
            self._reconnect_task = _background(self._reconnect_loop(), "reconnect", self._peer())
        else:
            self._state = ConnectionState.DISCONNECTED

    def _give_up_room(self, room: Any) -> None:
        self._room_timer = None
        if self._protocol is room:
            self._protocol = None
        room.fail_parked(
            TarantoolNotConnectedError,
            f"Tarantool at {self._peer()} announced its shutdown and the connection was "
            f"not restored within {self._shutdown_wait:g} s")

    def _cancel_room_timer(self) -> None:
        if self._room_timer is not None:
            self._room_timer.cancel()
            self._room_timer = None

    def _drop_room(self, message: str) -> None:
        self._cancel_room_timer()
        room = self._protocol
        if room is not None and room.is_parked():
            self._protocol = None
            room.fail_parked(TarantoolNotConnectedError, message)
        draining, self._draining = self._draining, None
        if draining is not None:
            draining.abort()

    # -- watchers ------------------------------------------------------------

    def watch(self, key: str, callback: Callable[[str, Any], Any]) -> Watcher:
        """Follow ``box.broadcast(key, value)`` (2.10+): ``callback(key, value)`` - a plain
        function or a coroutine function - gets the key's current value at once and
        each later one, in order, one call at a time. It runs from the event loop, not
        from the protocol's read path; one that raises is logged (once per watcher).
        Watchers are registered again after a reconnect and get the current value.
        Returns a Watcher; ``watcher.unwatch()`` stops it."""
        return self._watchers.watch(key, callback)

    async def watch_once(self, key: str, *, timeout: float = -1.0) -> Any:
        """The current value of a key (IPROTO_WATCH_ONCE, Tarantool 3.0+), without
        watching it; None when it has none."""
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, not {type(key).__name__}")
        protocol = self._protocol
        if protocol is None:
            raise TarantoolNotConnectedError(f"not connected to Tarantool at {self._peer()}")
        self._require("watch_once", "watch_once needs Tarantool 3.0")
        resp = await protocol.watch_once(key, timeout)
        body = resp.body
        return body[0] if body else None

    def _start_ping(self) -> None:
        if self._ping_timeout and (self._ping_task is None or self._ping_task.done()):
            self._ping_task = _background(self._ping_loop(), "ping", self._peer())

    async def _ping_loop(self) -> None:
        # Finds a server that stopped answering on a connection that is still
        # open (a stall, a dropped network): its ping times out, we reconnect.
        while self._state in (ConnectionState.CONNECTED, ConnectionState.RECONNECTING):
            await asyncio.sleep(self._ping_timeout)
            protocol = self._protocol
            if protocol is None or not protocol.is_ready():
                continue
            try:
                await self.ping(timeout=self._ping_timeout)
            except asyncio.TimeoutError:
                logger.warning("ping to %s timed out; dropping the connection", self._peer())
                if protocol is self._protocol:
                    protocol.abort()
            except Exception as e:  # noqa: BLE001  an error reply or a lost connection: go on
                logger.debug("background ping to %s failed: %s", self._peer(), e)

    def _cancel_reconnect(self) -> None:
        if self._reconnect_task is not None and not self._reconnect_task.done():
            self._reconnect_task.cancel()
        self._reconnect_task = None

    def _abort_transport(self) -> None:
        protocol = self._protocol
        if protocol is not None and protocol.is_parked():
            protocol = None    # requests waiting for a reconnect: connect() sends them
        else:
            self._protocol = None
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()
        elif protocol is not None:
            protocol.abort()

    def _begin_disconnect(self) -> None:
        # Whatever runs in the background stops: a connect() in progress, the
        # reconnect loop, the ping.
        self._generation += 1
        self._state = ConnectionState.DISCONNECTING
        self._cancel_reconnect()
        if self._ping_task is not None:
            self._ping_task.cancel()
            self._ping_task = None
        self._drop_room(f"disconnect() was called while the requests waited for the "
                        f"reconnect to Tarantool at {self._peer()}")

    async def disconnect(self) -> None:
        """Close the connection and stop reconnecting. In-flight requests fail
        with TarantoolNotConnectedError."""
        self._begin_disconnect()
        generation = self._generation
        protocol = self._protocol
        self._protocol = None
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
            if protocol is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(protocol.wait_closed()), 5.0)
                except asyncio.TimeoutError:
                    transport.abort()
        if generation == self._generation:
            # unless a connect() began meanwhile: that connection is not ours
            self._state = ConnectionState.DISCONNECTED

    def close(self) -> None:
        """Close at once (not a coroutine)."""
        self._begin_disconnect()
        self._abort_transport()
        self._state = ConnectionState.DISCONNECTED

    async def reconnect(self) -> None:
        await self.disconnect()
        await self.connect()

    def stream(self) -> Stream:
        """A new stream of this connection, for interactive transactions (2.10+)."""
        if self._protocol is None:
            raise TarantoolNotConnectedError(f"not connected to Tarantool at {self._peer()}")
        self._require("streams", "streams need Tarantool 2.10")
        self._next_stream_id += 1
        return Stream(self, self._next_stream_id)

    def prepare(self, query: str) -> PreparedStatement:
        """A PreparedStatement for ``query`` (asynctnt's): prepare it with
        ``await stmt.prepare()`` or ``async with``."""
        return PreparedStatement(self, query)

    def pages(
        self,
        space: int | str,
        key: Any = None,
        *,
        index: int | str = 0,
        iterator: Any = 0,
        page_size: int = 1000,
        after: Any = None,
        timeout: float = -1.0,
    ) -> AsyncIterator[Response]:
        """Walk an index page by page (pagination, Tarantool 2.11+): an async
        iterator of the pages, each a Response of at most ``page_size`` tuples
        (never an empty one), its ``position`` the last tuple's::

            async for page in conn.pages('tester', index='txt', page_size=100):
                for t in page:
                    ...

        Each page is one select that starts after the previous page's position,
        so the walk sees what is there as it goes (no snapshot: walk in a stream's
        transaction for one, ``Stream.pages``) and holds nothing on the server
        between pages. ``after``: start after this position or tuple (to resume a
        walk). On a server without pagination it raises TarantoolError before
        sending anything."""
        return pagination.walk(self, self, space, key, index, iterator, page_size, after,
                               timeout)

    async def refetch_schema(self) -> None:
        protocol = self._protocol
        if protocol is None:
            raise TarantoolNotConnectedError(f"not connected to Tarantool at {self._peer()}")
        await protocol.refetch_schema()

    async def __aenter__(self) -> Connection:  # noqa: PYI034
        return await self.connect()

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.disconnect()

    # -- properties ----------------------------------------------------------

    @property
    def crud(self) -> Crud:
        """crud's operations on this connection's server, a vshard router with crud
        (``await conn.crud.get('customers', 1)``; see loadtnt.driver.crud)."""
        crud = self.__dict__.get("_crud")
        if crud is None:
            crud = self.__dict__["_crud"] = Crud(self.call)
        return crud

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int | str:
        return self._port

    @property
    def username(self) -> str | None:
        return self._username

    @property
    def password(self) -> str | None:
        return self._password

    @property
    def fetch_schema(self) -> bool:
        return self._fetch_schema

    @property
    def auto_refetch_schema(self) -> bool:
        return self._auto_refetch_schema

    @property
    def encoding(self) -> str:
        return self._encoding or "utf-8"

    @property
    def connect_timeout(self) -> float:
        return self._connect_timeout

    @property
    def request_timeout(self) -> float:
        return self._request_timeout

    @property
    def reconnect_timeout(self) -> float:
        return self._reconnect_timeout

    @property
    def ping_timeout(self) -> float:
        return self._ping_timeout

    @property
    def initial_read_buffer_size(self) -> int | None:
        return self._initial_read_buffer_size

    @property
    def tuple_extension(self) -> bool:
        return self._tuple_extension

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def is_connected(self) -> bool:
        return self._protocol is not None and self._protocol.is_connected()

    @property
    def is_fully_connected(self) -> bool:
        return self._protocol is not None and self._protocol.is_ready()

    @property
    def version(self) -> tuple | None:
        return None if self._protocol is None else self._protocol.version

    @property
    def schema(self) -> Schema | None:
        return None if self._protocol is None else self._protocol.schema

    @property
    def schema_id(self) -> int | None:
        return None if self._protocol is None else self._protocol.schema_id

    @property
    def features(self) -> IProtoFeatures:
        """What the server reported in IPROTO_ID (none of them before 2.10)."""
        return self._features

    @property
    def shutdowns(self) -> int:
        """How many graceful shutdowns the server announced to this connection."""
        return self._shutdowns

    @property
    def reconnects(self) -> int:
        """How many times the connection was restored after a loss."""
        return self._reconnects

    @property
    def fingerprint(self) -> str:
        return f"tcp://{self._peer()}" if self._host != "unix/" else self._peer()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} host={self._host} port={self._port} state={self._state.name}>"


async def connect(**kwargs: Any) -> Connection:
    """Create a Connection and connect it."""
    conn = Connection(**kwargs)
    await conn.connect()
    return conn
