"""Restore the stdlib names that aiotarantool 1.1.5 needs and Python 3.10+ removed.

aiotarantool 1.1.5 (2018) and the tarantool-python 0.5.5 it builds on were written for
Python 3.5-3.8. On Python 3.11 they fail at import and at connect, not because their logic
no longer works but because a few standard-library names they use were deprecated and then
removed. To compare loadtnt with aiotarantool honestly we run aiotarantool's own code,
unchanged, and put back exactly those names, nothing else:

============================  ===========  ====================================================
name                          removed in   used by
============================  ===========  ====================================================
``collections.Sequence`` etc  3.10         ``tarantool.response.Response(collections.Sequence)``
``asyncio.Lock(loop=)``       3.10         ``aiotarantool.Connection.__init__``
``asyncio.Event(loop=)``      3.10         ``aiotarantool.Connection._do_connect``
``asyncio.open_connection(    3.10         ``aiotarantool.Connection._do_connect``
loop=)``
``base64.decodestring``       3.9          greeting salt in ``aiotarantool`` and
                                           ``tarantool.utils``
============================  ===========  ====================================================

Not patched, because Python 3.11 still has them: ``asyncio.Future(loop=)`` (the keyword
was never removed from Future; aiotarantool creates one per request, and that path stays
the C ``_asyncio.Future``), ``asyncio.get_event_loop()``. aiotarantool does not use the
other removed names (``asyncio.async``, ``@asyncio.coroutine``, ``loop=`` of
``asyncio.sleep/wait_for/gather``, ``asyncio.Task.current_task``), so they are left alone.

What the patches do not change: every patched name is only touched at import or connect
time; aiotarantool's request path (request encoding, the write buffer, the reader task,
the per-request Future) runs exactly as its authors wrote it. The ``loop=`` keyword is
accepted and dropped: since Python 3.10 asyncio's locks and events bind to the running
loop at first use, and ``open_connection`` always uses the running loop, which is the
loop aiotarantool was given (passing a different, non-running loop raises ValueError
instead of being silently ignored).

Usage: ``import loadtnt.compat.aiotarantool_shim`` before ``import aiotarantool``. Importing
it twice is harmless; a name that is still there is not replaced (loadtnt needs Python
3.10+, where the ``loop=`` keywords are always gone). The names actually patched are
listed in ``PATCHED``.

The aiotarantool environment (``make aiotarantool-env``) also builds msgpack-python
0.5.6's C extension from its own ``.pyx`` sources, because the sdist's pre-generated C
(Cython 0.27) no longer compiles for 3.11 and would silently fall back to pure Python.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import collections.abc
from typing import Any

__all__ = ("PATCHED",)

#: The names this module restored in this process, e.g. ``'base64.decodestring'``.
PATCHED: list[str] = []


def _restore_collections_abc_aliases() -> None:
    """``collections.Mapping`` etc.: deprecated since 3.3, removed in 3.10.

    Python 3.9's ``collections.__getattr__`` served every name of
    ``collections.abc.__all__`` from ``collections``; restore the same set, as the very
    same classes (so isinstance checks against either name agree).
    """
    for name in collections.abc.__all__:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
            PATCHED.append(f"collections.{name}")


def _restore_base64_decodestring() -> None:
    """``base64.decodestring``: an alias of ``decodebytes`` since 3.1, removed in 3.9."""
    if not hasattr(base64, "decodestring"):
        base64.decodestring = base64.decodebytes  # type: ignore[attr-defined]
        PATCHED.append("base64.decodestring")


def _check_loop(loop: Any, what: str) -> None:
    """A ``loop=`` that is not the running loop cannot be honoured: say so."""
    if loop is None:
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return  # created outside a loop: it binds to the loop that first uses it
    if loop is not running:
        raise ValueError(f"{what}(loop=...) is not the running event loop; since Python 3.10 "
                         "asyncio objects always use the running loop")


def _restore_loop_keyword() -> None:
    """``loop=`` of ``asyncio.Lock``, ``asyncio.Event`` and ``asyncio.open_connection``.

    Deprecated in 3.8, removed in 3.10. Since 3.10 these bind to the running loop, so the
    keyword is accepted, checked (see ``_check_loop``) and dropped. The replacements are
    subclasses / a thin wrapper of the originals, so behaviour is otherwise identical.
    """
    base_lock = asyncio.Lock
    base_event = asyncio.Event
    base_open_connection = asyncio.open_connection

    class Lock(base_lock):  # type: ignore[valid-type, misc]
        __doc__ = base_lock.__doc__

        def __init__(self, *, loop: Any = None) -> None:
            _check_loop(loop, "asyncio.Lock")
            super().__init__()

    class Event(base_event):  # type: ignore[valid-type, misc]
        __doc__ = base_event.__doc__

        def __init__(self, *, loop: Any = None) -> None:
            _check_loop(loop, "asyncio.Event")
            super().__init__()

    async def open_connection(
        host: Any = None, port: Any = None, *, loop: Any = None, **kwds: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        _check_loop(loop, "asyncio.open_connection")
        return await base_open_connection(host, port, **kwds)

    open_connection.__doc__ = base_open_connection.__doc__
    Lock.__module__ = Event.__module__ = open_connection.__module__ = __name__

    asyncio.Lock = Lock  # type: ignore[misc]
    asyncio.Event = Event  # type: ignore[misc]
    asyncio.open_connection = open_connection
    PATCHED.extend(["asyncio.Lock(loop=)", "asyncio.Event(loop=)",
                    "asyncio.open_connection(loop=)"])


def _apply() -> None:
    if getattr(asyncio, "_loadtnt_aiotarantool_shim", False):
        return  # already applied in this process
    _restore_collections_abc_aliases()
    _restore_base64_decodestring()
    _restore_loop_keyword()
    asyncio._loadtnt_aiotarantool_shim = True  # type: ignore[attr-defined]


_apply()
