"""Watchers: keys of ``box.broadcast`` followed on a connection (IPROTO_WATCH, 2.10+).

The connection keeps one state per key (its last value, whether that value was acknowledged,
the callbacks still running with it), as net.box and go-tarantool do. The server sends a key's
current value right after IPROTO_WATCH and then each new one, but the next only after the
client acknowledged the last by sending IPROTO_WATCH again: values broadcast meanwhile are
folded into the newest, so a watcher never misses the last value and never gets one twice.

Events arrive in the protocol's read path; there they only update the state. The callbacks run
later, from the event loop (``loop.call_soon``; a coroutine callback as a task), so a slow or
failing callback never delays a reply. A key is acknowledged once every callback given its
value has returned (a coroutine's task finished): that keeps each watcher's calls in order,
one at a time.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from .exceptions import TarantoolNotConnectedError

__all__ = ("SHUTDOWN_KEY", "Watcher")

logger = logging.getLogger("loadtnt.driver")

# what a server (2.10+) broadcasts as true when it begins a graceful shutdown
SHUTDOWN_KEY = "box.shutdown"


def check_watch_args(key: Any, callback: Any) -> None:
    """A watcher's key is a str and its callback callable (Connection.watch, Pool.watch)."""
    if not isinstance(key, str):
        raise TypeError(f"a watcher's key must be a str, not {type(key).__name__}")
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")


class Watcher:
    """What ``Connection.watch()`` returns; ``unwatch()`` stops its callback.

    ``errors`` counts the calls of its callback that raised (the first is logged)."""

    __slots__ = ("_active", "_callback", "_key", "_logged", "_registry", "errors")

    def __init__(self, registry: Watchers, key: str, callback: Callable[[str, Any], Any]):
        self._registry = registry
        self._key = key
        self._callback = callback
        self._active = True
        self._logged = False
        self.errors = 0

    @property
    def key(self) -> str:
        return self._key

    @property
    def active(self) -> bool:
        """False once unwatch() was called."""
        return self._active

    def unwatch(self) -> None:
        """No more calls of the callback; the key's IPROTO_UNWATCH goes with the last
        watcher of it. Calling it again does nothing."""
        self._registry.unwatch(self)

    def __repr__(self) -> str:
        state = "active" if self._active else "unwatched"
        return f"<Watcher key={self._key!r} {state}>"


class _KeyState:
    __slots__ = ("acked", "has_value", "inflight", "internal", "key", "protocol", "value",
                 "watchers")

    def __init__(self, key: str):
        self.key = key
        self.watchers: list[Watcher] = []
        self.value: Any = None
        self.has_value = False
        self.acked = True      # the last event of it was acknowledged (or none came)
        self.inflight = 0      # deliveries scheduled or running
        self.internal = False  # the driver's own (box.shutdown): kept without watchers
        self.protocol: Any = None  # the protocol it is registered on


class Watchers:
    """A connection's watched keys. ``on_event`` is the protocol's event hook;
    ``on_connected`` registers every key on a new connection."""

    def __init__(self, conn: Any, on_shutdown: Callable[[Any], None]):
        self._conn = conn
        self._on_shutdown = on_shutdown
        self._states: dict[str, _KeyState] = {}

    # -- the user's side ---------------------------------------------------

    def watch(self, key: str, callback: Callable[[str, Any], Any]) -> Watcher:
        check_watch_args(key, callback)
        conn = self._conn
        protocol = conn._protocol
        if protocol is None:
            raise TarantoolNotConnectedError(f"not connected to Tarantool at {conn._peer()}")
        conn._require("watchers", "watchers need Tarantool 2.10")
        watcher = Watcher(self, key, callback)
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = _KeyState(key)
            st.watchers.append(watcher)
            if protocol.is_ready():
                st.protocol = protocol
                protocol.send_watch(key)
            # else the server is restarting (a graceful shutdown): registered at the reconnect
            return watcher
        st.watchers.append(watcher)
        if st.has_value:
            # the key is watched already: the new watcher gets its value now, the
            # next ones with the others
            st.inflight += 1
            asyncio.get_running_loop().call_soon(self._dispatch, st, (watcher,), st.value)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        if not watcher._active:
            return
        watcher._active = False
        st = self._states.get(watcher._key)
        if st is None or watcher not in st.watchers:
            return
        st.watchers.remove(watcher)
        if st.watchers or st.internal:
            return
        del self._states[st.key]
        protocol = st.protocol
        if protocol is not None and protocol is self._conn._protocol and protocol.is_ready():
            protocol.send_unwatch(st.key)

    def watched(self) -> list[str]:
        """The keys the user watches."""
        return [k for k, st in self._states.items() if st.watchers]

    # -- the connection's side -----------------------------------------------

    def on_connected(self, protocol: Any, features: Any) -> None:
        """A connection is ready: every key is registered on it (the server sends each
        key's current value), and box.shutdown for the graceful shutdown."""
        if not features.watchers:
            if any(st.watchers for st in self._states.values()):
                logger.warning(
                    "the server at %s has no watchers (IPROTO_ID): keys %s are not watched",
                    self._conn._peer(), self.watched())
            for st in self._states.values():
                st.protocol = None
            return
        shutdown = self._states.get(SHUTDOWN_KEY)
        if shutdown is None:
            shutdown = self._states[SHUTDOWN_KEY] = _KeyState(SHUTDOWN_KEY)
        shutdown.internal = True
        for st in self._states.values():
            st.protocol = protocol
            st.acked = True    # nothing of it to acknowledge on this connection
            protocol.send_watch(st.key)

    def on_event(self, protocol: Any, key: str, value: Any) -> None:
        """IPROTO_EVENT, in the protocol's read path: the state only, no user code."""
        st = self._states.get(key)
        if st is None or st.protocol is not protocol:
            return    # unwatched meanwhile, or an old connection's
        st.value = value
        st.has_value = True
        st.acked = False
        st.inflight += 1
        asyncio.get_running_loop().call_soon(self._dispatch, st, tuple(st.watchers), value)
        if key == SHUTDOWN_KEY and value is True:
            self._on_shutdown(protocol)

    # -- delivery ----------------------------------------------------------

    def _dispatch(self, st: _KeyState, watchers: tuple[Watcher, ...], value: Any) -> None:
        try:
            for watcher in watchers:
                if watcher._active:
                    self._call(st, watcher, value)
        finally:
            st.inflight -= 1
            self._settle(st)

    def _call(self, st: _KeyState, watcher: Watcher, value: Any) -> None:
        try:
            result = watcher._callback(st.key, value)
        except Exception as e:  # noqa: BLE001  the user's callback: logged, never fatal
            self._failed(watcher, e)
            return
        if inspect.isawaitable(result):
            st.inflight += 1
            task = asyncio.ensure_future(result)
            task.add_done_callback(functools.partial(self._task_done, st, watcher))

    def _task_done(self, st: _KeyState, watcher: Watcher, task: asyncio.Future) -> None:
        try:
            if not task.cancelled():
                exc = task.exception()
                if exc is not None:
                    self._failed(watcher, exc)
        finally:
            st.inflight -= 1
            self._settle(st)

    def _failed(self, watcher: Watcher, exc: BaseException) -> None:
        watcher.errors += 1
        if not watcher._logged:
            watcher._logged = True
            logger.error(
                "the callback of a watcher of %r on %s raised (later failures of this "
                "watcher are counted in its .errors, not logged)",
                watcher._key, self._conn._peer(), exc_info=exc)

    def _settle(self, st: _KeyState) -> None:
        # acknowledge the key's last event once every callback given it is done
        if st.inflight or st.acked or self._states.get(st.key) is not st:
            return
        protocol = st.protocol
        if protocol is None or protocol is not self._conn._protocol or not protocol.is_ready():
            return    # that connection is draining or gone: the next one registers afresh
        st.acked = True
        protocol.send_watch(st.key)
