"""crud (tarantool/crud 1.7) on a vshard router: ``conn.crud`` and ``pool.crud``.

::

    async with Connection(host='127.0.0.1', port=router_port, username=u, password=p) as conn:
        await conn.crud.insert_object('customers', {'id': 1, 'name': 'Elizabeth', 'age': 23})
        res = await conn.crud.select('customers', [['>=', 'age', 18]], first=10)
        for row in res:
            print(row['id'], row['name'])          # named by crud's metadata
        async for row in conn.crud.pairs('customers', [['>=', 'age', 18]], batch_size=100):
            ...

Every crud operation is a coroutine method with crud's name and argument order; crud's options
are keyword arguments with crud's names (``fields``, ``bucket_id``, ``mode``, ``first``,
``after``, ``noreturn``, ``timeout``, ...), sent as crud's ``opts`` table and checked by crud
itself (an unknown one is crud's error). It is a pure-Python layer over ``call``: one
IPROTO_CALL of ``crud.<operation>`` per method (``pairs`` one per page).

- Results: :class:`CrudResponse` (None when crud returned nothing: ``noreturn=True``) -
  ``.rows``, TarantoolTuples named by crud's ``metadata``
  (``row['name']`` works without any schema on the router), ``.metadata``, ``len()``,
  iteration, indexing. ``count``, ``len``, ``truncate``, ``storage_info``, ``stats`` and
  ``schema`` return crud's plain value.
- Errors: crud's error objects raise :class:`CrudError` (``.class_name``, ``.err``,
  ``.operation_data``, ``str()`` is crud's string); the ``*_many`` operations raise
  :class:`CrudManyError` when some rows failed: ``.rows`` what was written, ``.errors`` one
  CrudError per failed row. A Lua error on the router (crud's argument checks: a wrong type
  of argument) is the server's TarantoolDatabaseError, as for any call.
- ``timeout=`` is crud's (seconds for its calls to the storages) and also bounds the request on
  the client, a little later (``timeout * 1.1 + 0.5`` s), so that crud's own timeout error is
  the one the caller sees; without it the connection's ``request_timeout`` applies.

On a Pool, ``pool.crud`` sends each operation to a router of the pool's ``default_mode`` (ANY
unless given): crud's own ``mode=`` option ('read' / 'write') is crud's, not the pool's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from .exceptions import TarantoolError
from .iproto.protocol import Metadata, TarantoolTuple, tuples_with_format

__all__ = ("Crud", "CrudError", "CrudManyError", "CrudResponse")

_NO_TIMEOUT = -1.0


class CrudError(TarantoolError):
    """An error crud returned: ``class_name`` (e.g. ``'InsertError'``), ``err`` (its message),
    ``operation_data`` (the tuple or object it was about, for ``*_many``), ``file``, ``line``,
    ``stack``, and ``error`` (crud's error map as it came). ``str()`` is crud's string
    (``'InsertError: Failed to insert: Duplicate key exists ...'``)."""

    def __init__(self, message: str, *, class_name: str | None = None, err: str | None = None,
                 operation_data: Any = None, file: str | None = None, line: int | None = None,
                 stack: str | None = None, error: Any = None) -> None:
        super().__init__(message)
        self.class_name = class_name
        self.err = err if err is not None else message
        self.operation_data = operation_data
        self.file = file
        self.line = line
        self.stack = stack
        self.error = error

    @classmethod
    def from_crud(cls, value: Any) -> CrudError:
        """From what crud returned as its error: its map, or anything else (as a string)."""
        if isinstance(value, dict):
            class_name = value.get("class_name")
            err = value.get("err")
            message = value.get("str")
            if not message:
                message = f"{class_name}: {err}" if class_name else str(err)
            return cls(str(message), class_name=class_name, err=err,
                       operation_data=value.get("operation_data"), file=value.get("file"),
                       line=value.get("line"), stack=value.get("stack"), error=value)
        return cls(str(value), error=value)


class CrudManyError(CrudError):
    """Some rows of an ``*_many`` operation failed: ``rows`` (a CrudResponse of what was
    written, None when nothing was) and ``errors`` (one CrudError per failed row, its
    ``operation_data`` the row)."""

    def __init__(self, rows: CrudResponse | None, errors: list[CrudError]) -> None:
        first = str(errors[0]) if errors else "?"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{len(errors)} row(s) failed: {first}{more}",
                         class_name=errors[0].class_name if errors else None,
                         err=errors[0].err if errors else None)
        self.rows = rows
        self.errors = errors


class CrudResponse:
    """crud's result: ``rows`` (TarantoolTuples named by ``metadata``) and ``metadata`` (crud's
    list of ``{'name': ..., 'type': ...}``); ``len()``, iteration and indexing go to the rows."""

    __slots__ = ("_md", "metadata", "rows")

    def __init__(self, rows: list[TarantoolTuple], metadata: list[Any] | None,
                 md: Metadata | None = None) -> None:
        self.rows = rows
        self.metadata = metadata
        self._md = md

    @classmethod
    def from_crud(cls, value: Any) -> CrudResponse:
        if not isinstance(value, dict):
            return cls([], None)
        metadata = value.get("metadata")
        rows = value.get("rows") or []
        tuples, md = tuples_with_format(rows if isinstance(rows, list) else list(rows),
                                        metadata)
        return cls(tuples, metadata, md)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[TarantoolTuple]:
        return iter(self.rows)

    def __getitem__(self, i: Any) -> Any:
        return self.rows[i]

    def __bool__(self) -> bool:
        return bool(self.rows)

    @property
    def names(self) -> list[str]:
        """The field names, in order (from the metadata)."""
        return [str(f.get("name")) for f in self.metadata or [] if isinstance(f, dict)]

    def objects(self) -> list[dict[str, Any]]:
        """The rows as dicts by field name (crud.unflatten_rows)."""
        names = self.names
        return [dict(zip(names, row, strict=False)) for row in self.rows]

    def __repr__(self) -> str:
        return f"<CrudResponse rows={len(self.rows)} fields={self.names}>"


def _client_timeout(timeout: Any) -> float:
    if timeout is None:
        return _NO_TIMEOUT
    t = float(timeout)
    return t * 1.1 + 0.5 if t > 0 else _NO_TIMEOUT


def _values(resp: Any) -> tuple[Any, Any]:
    """(result, error) of a crud call's return values."""
    n = len(resp)
    return (resp[0] if n else None), (resp[1] if n > 1 else None)


def _plain(resp: Any) -> Any:
    result, err = _values(resp)
    if err is not None:
        raise CrudError.from_crud(err)
    return result


def _rows(resp: Any) -> Any:
    result, err = _values(resp)
    if err is not None:
        raise CrudError.from_crud(err)
    # None: crud returned nothing (noreturn=True)
    return None if result is None else CrudResponse.from_crud(result)


def _read(resp: Any) -> CrudResponse:
    res = _rows(resp)
    return CrudResponse([], None) if res is None else res


def _many(resp: Any) -> Any:
    result, errs = _values(resp)
    rows = None if result is None else CrudResponse.from_crud(result)
    if errs is not None:
        errors = [CrudError.from_crud(e) for e in
                  (errs if isinstance(errs, list) else [errs])]
        raise CrudManyError(rows, errors)
    return rows


def _tuple_arg(value: Any) -> Any:
    return list(value) if isinstance(value, TarantoolTuple) else value


class Crud:
    """crud's operations over a Connection or a Pool (``conn.crud``, ``pool.crud``).

    ``call`` is the ``call(func_name, args, timeout=...)`` of what it goes through; the
    module docstring says what every method does."""

    __slots__ = ("_call",)

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def _send(self, name: str, args: list[Any], opts: dict[str, Any]) -> Any:
        if "after" in opts:
            opts["after"] = _tuple_arg(opts["after"])
        args.append(opts)
        return self._call(name, args, timeout=_client_timeout(opts.get("timeout")))

    # -- single rows ------------------------------------------------------------

    async def insert(self, space: str, tuple: Sequence[Any], **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.insert", [space, _tuple_arg(tuple)], opts))

    async def insert_object(self, space: str, object: dict[str, Any],
                            **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.insert_object", [space, object], opts))

    async def get(self, space: str, key: Any, **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.get", [space, _tuple_arg(key)], opts))

    async def replace(self, space: str, tuple: Sequence[Any], **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.replace", [space, _tuple_arg(tuple)], opts))

    async def replace_object(self, space: str, object: dict[str, Any],
                             **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.replace_object", [space, object], opts))

    async def update(self, space: str, key: Any, operations: Sequence[Any],
                     **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.update", [space, _tuple_arg(key), operations],
                                      opts))

    async def upsert(self, space: str, tuple: Sequence[Any], operations: Sequence[Any],
                     **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.upsert", [space, _tuple_arg(tuple), operations],
                                      opts))

    async def upsert_object(self, space: str, object: dict[str, Any],
                            operations: Sequence[Any], **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.upsert_object", [space, object, operations], opts))

    async def delete(self, space: str, key: Any, **opts: Any) -> CrudResponse | None:
        return _rows(await self._send("crud.delete", [space, _tuple_arg(key)], opts))

    # -- many rows --------------------------------------------------------------

    async def insert_many(self, space: str, tuples: Sequence[Sequence[Any]],
                          **opts: Any) -> CrudResponse | None:
        return _many(await self._send("crud.insert_many",
                                      [space, [_tuple_arg(t) for t in tuples]], opts))

    async def insert_object_many(self, space: str, objects: Sequence[dict[str, Any]],
                                 **opts: Any) -> CrudResponse | None:
        return _many(await self._send("crud.insert_object_many", [space, list(objects)], opts))

    async def replace_many(self, space: str, tuples: Sequence[Sequence[Any]],
                           **opts: Any) -> CrudResponse | None:
        return _many(await self._send("crud.replace_many",
                                      [space, [_tuple_arg(t) for t in tuples]], opts))

    async def replace_object_many(self, space: str, objects: Sequence[dict[str, Any]],
                                  **opts: Any) -> CrudResponse | None:
        return _many(await self._send("crud.replace_object_many", [space, list(objects)],
                                      opts))

    async def upsert_many(self, space: str, tuples_operation_data: Sequence[Any],
                          **opts: Any) -> CrudResponse | None:
        """``tuples_operation_data``: ``[[tuple, operations], ...]``."""
        data = [[_tuple_arg(t), ops] for t, ops in tuples_operation_data]
        return _many(await self._send("crud.upsert_many", [space, data], opts))

    async def upsert_object_many(self, space: str, objects_operation_data: Sequence[Any],
                                 **opts: Any) -> CrudResponse | None:
        """``objects_operation_data``: ``[[object, operations], ...]``."""
        data = [[o, ops] for o, ops in objects_operation_data]
        return _many(await self._send("crud.upsert_object_many", [space, data], opts))

    # -- reads ------------------------------------------------------------------

    async def select(self, space: str, conditions: Sequence[Any] | None = None,
                     **opts: Any) -> CrudResponse:
        return _read(await self._send("crud.select", [space, conditions], opts))

    async def min(self, space: str, index_name: str | int | None = None,
                  **opts: Any) -> CrudResponse:
        return _read(await self._send("crud.min", [space, index_name], opts))

    async def max(self, space: str, index_name: str | int | None = None,
                  **opts: Any) -> CrudResponse:
        return _read(await self._send("crud.max", [space, index_name], opts))

    async def count(self, space: str, conditions: Sequence[Any] | None = None,
                    **opts: Any) -> int:
        return int(_plain(await self._send("crud.count", [space, conditions], opts)))

    async def len(self, space: str, **opts: Any) -> int:
        return int(_plain(await self._send("crud.len", [space], opts)))

    async def truncate(self, space: str, **opts: Any) -> bool:
        return bool(_plain(await self._send("crud.truncate", [space], opts)))

    async def storage_info(self, **opts: Any) -> Any:
        return _plain(await self._send("crud.storage_info", [], opts))

    async def stats(self, space: str | None = None) -> Any:
        # crud.stats(space_name) has no options; with stats off it is {} (an empty Lua
        # table, which MessagePack sends as an array)
        result = _plain(await self._call("crud.stats", [space], timeout=_NO_TIMEOUT))
        return {} if result == [] else result

    async def schema(self, space: str | None = None, **opts: Any) -> Any:
        return _plain(await self._send("crud.schema", [space], opts))

    def pairs(self, space: str, conditions: Sequence[Any] | None = None, *,
              batch_size: int = 100, first: int | None = None, after: Any = None,
              use_tomap: bool = False, **opts: Any) -> AsyncIterator[Any]:
        """Every row matching ``conditions``, in pages of ``batch_size`` rows (one
        ``crud.select`` each, the next starting ``after`` the last row of the one before), at
        most ``first`` in all: an async iterator of TarantoolTuples (dicts with
        ``use_tomap=True``, as crud.pairs gives). Holds nothing on the router between pages."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, not {batch_size!r}")
        if first is not None and first < 0:
            raise ValueError("pairs() walks forward: first must not be negative")
        return self._pairs(space, conditions, batch_size, first, after, use_tomap, opts)

    async def _pairs(self, space: str, conditions: Any, batch_size: int, first: int | None,
                     after: Any, use_tomap: bool, opts: dict[str, Any]) -> AsyncIterator[Any]:
        left = first
        while left is None or left > 0:
            page = batch_size if left is None else min(batch_size, left)
            page_opts = dict(opts, first=page)
            if after is not None:
                page_opts["after"] = after
            res = await self.select(space, conditions, **page_opts)
            if use_tomap:
                for obj in res.objects():
                    yield obj
            else:
                for row in res.rows:
                    yield row
            if len(res.rows) < page:
                return
            if left is not None:
                left -= len(res.rows)
            after = res.rows[-1]

    def __repr__(self) -> str:
        return f"<Crud via {getattr(self._call, '__self__', self._call)!r}>"
