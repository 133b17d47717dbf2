"""Streams and interactive transactions (Tarantool 2.10+), with asynctnt's API.

``conn.stream()`` returns a :class:`Stream`: every request method of the connection,
sent with the stream's IPROTO_STREAM_ID, plus ``begin()``, ``commit()`` and
``rollback()``. As a context manager it begins on entry and commits when the block
ends normally, or rolls back when it raises::

    async with conn.stream() as s:
        await s.insert('tester', [1, 'one'])
        await s.insert('tester', [2, 'two'])
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from . import pagination
from .iproto.protocol import Api

if TYPE_CHECKING:
    from .connection import Connection
    from .iproto.protocol import Response

__all__ = ("Isolation", "Stream")


class Isolation(enum.IntEnum):
    """Transaction isolation levels (box.begin's txn_isolation), by their IProto values."""

    DEFAULT = 0
    READ_COMMITTED = 1
    READ_CONFIRMED = 2
    BEST_EFFORT = 3


class Stream(Api):
    """The request methods of a Connection, bound to one stream of it.

    Requests of one stream are executed by the server in order; a transaction begun
    in a stream sees its own writes, and others see them once it commits. The stream
    follows its connection across reconnects (the server-side transaction does not:
    it is rolled back when the connection drops)."""

    def __init__(self, conn: Connection, stream_id: int):
        self._conn = conn
        self._stream_id = stream_id

    @property
    def stream_id(self) -> int:
        return int(self._stream_id)

    def begin(self, isolation: Isolation | int = Isolation.DEFAULT, tx_timeout: float = 0.0,
              timeout: float = -1.0) -> Any:
        """Begin a transaction: ``isolation`` (an :class:`Isolation`), ``tx_timeout``
        in seconds (0: the server's default), ``timeout`` of the request itself."""
        return super().begin(isolation, tx_timeout, timeout)

    def pages(self, space: int | str, key: Any = None, *, index: int | str = 0,
              iterator: Any = 0, page_size: int = 1000, after: Any = None,
              timeout: float = -1.0) -> AsyncIterator[Response]:
        """Connection.pages with every select in this stream: inside the stream's
        transaction the walk sees that transaction's writes (with the MVCC engine, no
        one else sees them until the commit), and its reads are the transaction's."""
        conn = cast("Connection", self._conn)    # the core types it as its own Api
        return pagination.walk(self, conn, space, key, index, iterator, page_size, after,
                               timeout)

    async def __aenter__(self) -> Stream:  # noqa: PYI034
        await self.begin()
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            await self.rollback()
        else:
            await self.commit()

    def __repr__(self) -> str:
        return f"<Stream id={self.stream_id} of {self._conn!r}>"
