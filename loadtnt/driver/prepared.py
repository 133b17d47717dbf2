"""PreparedStatement: an SQL statement prepared once on the server, executed by its id.

asynctnt's API: ``stmt = conn.prepare(query)``, then ``await stmt.prepare()``,
``await stmt.execute(args)`` as often as needed, ``await stmt.unprepare()``; or
``async with conn.prepare(query) as stmt:``, which prepares on entry (unless
prepared already) and unprepares on exit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import ProtocolError

if TYPE_CHECKING:  # pragma: nocover
    from .iproto.protocol import Api, Metadata, Response

__all__ = ("PreparedStatement",)


class PreparedStatement:
    """One SQL statement prepared on the server (per session: a reconnect loses it)."""

    __slots__ = ("_api", "_params", "_params_count", "_query", "_stmt_id")

    def __init__(self, api: Api, query: str):
        self._api = api
        self._query = query
        self._stmt_id: int | None = None
        self._params: Metadata | None = None
        self._params_count = 0

    @property
    def id(self) -> int | None:
        """The statement id the server gave it; None until prepared (and after unprepare)."""
        return self._stmt_id

    @property
    def params_count(self) -> int:
        """How many parameters the statement binds."""
        return self._params_count

    @property
    def params(self) -> Metadata | None:
        """The bound parameters' metadata (``fields[i].name``: ``'?'`` or ``':name'``)."""
        return self._params

    async def prepare(self, timeout: float = -1.0) -> int:
        """Prepare the statement; returns its id."""
        resp = await self._api.prepare_iproto(self._query, timeout=timeout)
        stmt_id = resp.stmt_id
        if stmt_id is None:
            raise ProtocolError("the reply to IPROTO_PREPARE has no IPROTO_STMT_ID")
        self._stmt_id = stmt_id
        self._params = resp.params
        self._params_count = resp.params_count
        return stmt_id

    def _id(self) -> int:
        if self._stmt_id is None:
            # the TypeError asynctnt raises for a statement id of None, said plainly
            raise TypeError(f"statement {self._query!r} is not prepared: await prepare() first")
        return self._stmt_id

    async def execute(
        self,
        args: list[Any] | None = None,
        *,
        parse_metadata: bool = True,
        timeout: float = -1.0,
    ) -> Response:
        """Execute it with ``args``: values for ``?``, ``{':name': value}`` maps for names."""
        return await self._api.execute(
            query=self._id(), args=args, parse_metadata=parse_metadata, timeout=timeout
        )

    async def unprepare(self, timeout: float = -1.0) -> None:
        """Release the statement on the server."""
        await self._api.unprepare_iproto(self._id(), timeout=timeout)
        self._stmt_id = None

    async def __aenter__(self) -> PreparedStatement:  # noqa: PYI034
        if self._stmt_id is None:
            await self.prepare()
        return self

    async def __aexit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        if self._stmt_id is not None:
            await self.unprepare()

    def __repr__(self) -> str:
        return f"<PreparedStatement id={self._stmt_id} query={self._query!r}>"
