"""The page-by-page walk of an index (pagination, Tarantool 2.11+): ``Connection.pages`` and
``Stream.pages``, one select after another, each starting after the last page's position."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import Connection
    from .iproto.protocol import Api, Response


async def walk(api: Api, conn: Connection, space: int | str, key: Any, index: int | str,
               iterator: Any, page_size: int, after: Any, timeout: float
               ) -> AsyncIterator[Response]:
    """The pages of ``api.select`` (a Connection's, or a Stream's: its selects go in the
    stream); ``conn`` is the connection whose server must have pagination. Checked at the
    first page, before anything is sent."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size <= 0:
        raise ValueError(f"page_size must be a positive int, not {page_size!r}")
    conn._require("pagination", "pages() needs pagination: Tarantool 2.11")
    while True:
        page = await api.select(space, key, index=index, iterator=iterator, limit=page_size,
                                after=after, fetch_pos=True, timeout=timeout)
        if len(page) == 0:
            return
        yield page
        if len(page) < page_size or page.position is None:
            return
        after = page.position
