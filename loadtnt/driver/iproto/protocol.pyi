# Type stubs for the Cython core (loadtnt/driver/iproto/protocol.pyx).
import asyncio
import enum
from collections.abc import Iterator as _Iter
from collections.abc import Sequence
from typing import Any, TypeAlias

DEBUG: bool

SpaceType: TypeAlias = str | int
IndexType: TypeAlias = str | int
KeyType: TypeAlias = None | Sequence[Any] | dict[str, Any] | Any
TupleType: TypeAlias = Sequence[Any] | dict[str, Any]

class Iterator(enum.IntEnum):
    EQ = 0
    REQ = 1
    ALL = 2
    LT = 3
    LE = 4
    GE = 5
    GT = 6
    BITS_ALL_SET = 7
    BITS_ANY_SET = 8
    BITS_ALL_NOT_SET = 9
    OVERLAPS = 10
    NEIGHBOR = 11

class Field:
    name: str | None
    type: str | None
    collation: str | None
    is_nullable: bool | None
    is_autoincrement: bool | None
    span: str | None

class Metadata:
    fields: list[Field | None]
    name_id_map: dict[str, int]
    def __len__(self) -> int: ...

class SchemaIndex:
    iid: int
    sid: int
    name: str | None
    index_type: str | None
    unique: bool | None
    metadata: Metadata | None

class SchemaSpace:
    sid: int
    owner: int
    name: str | None
    engine: str | None
    field_count: int
    flags: Any
    metadata: Metadata
    indexes: dict[int | str, SchemaIndex]

class Schema:
    id: int
    spaces: dict[int | str, SchemaSpace]

class TarantoolTuple:
    metadata: Metadata | None
    def __getitem__(self, item: int | str | slice) -> Any: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> _Iter[Any]: ...
    def __contains__(self, item: object) -> bool: ...
    def get(self, item: int | str, default: Any = None) -> Any: ...
    def keys(self) -> _Iter[str]: ...
    def values(self) -> _Iter[Any]: ...
    def items(self) -> _Iter[tuple[str, Any]]: ...

class IProtoErrorStackFrame:
    error_type: str | None
    file: str | None
    line: int | None
    message: str | None
    err_no: int | None
    code: int | None
    fields: Any

class IProtoError:
    trace: list[IProtoErrorStackFrame]

class Response:
    body: list[Any] | None
    errmsg: str | None
    error: IProtoError | None
    metadata: Metadata | None
    params: Metadata | None
    params_count: int
    autoincrement_ids: list[int] | None
    encoding: str | None
    @property
    def sync(self) -> int: ...
    @property
    def code(self) -> int: ...
    @property
    def return_code(self) -> int: ...
    @property
    def schema_id(self) -> int: ...
    @property
    def stmt_id(self) -> int | None: ...
    @property
    def rowcount(self) -> int: ...
    @property
    def data(self) -> list[Any] | None: ...
    def done(self) -> bool: ...
    def __len__(self) -> int: ...
    def __getitem__(self, i: int | slice) -> Any: ...
    def __iter__(self) -> _Iter[Any]: ...

_Ret: TypeAlias = asyncio.Future[Response]

class BaseProtocol:
    version: tuple[int, ...] | None
    schema: Schema
    late_replies: int
    timeouts: int
    @property
    def schema_id(self) -> int: ...
    def wait_greeting(self) -> asyncio.Future[tuple[tuple[int, ...], bytes]]: ...
    def wait_closed(self) -> asyncio.Future[None]: ...
    def auth(self, username: str, password: str) -> _Ret: ...
    def refetch_schema(self) -> asyncio.Future[Schema]: ...
    def set_ready(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def is_connected(self) -> bool: ...
    def is_ready(self) -> bool: ...
    def pending_count(self) -> int: ...
    def timer_count(self) -> int: ...

class Protocol(BaseProtocol, asyncio.BufferedProtocol):
    def __init__(self, *, loop: asyncio.AbstractEventLoop, peer: str = ..., encoding: str | None = ...,
                 request_timeout: float = ..., auto_refetch_schema: bool = ..., on_lost: Any = ...) -> None: ...

class Api:
    _protocol: BaseProtocol | None
    def ping(self, *, timeout: float = -1.0) -> _Ret: ...
    def call(self, func_name: str, args: Sequence[Any] | None = None, *, timeout: float = -1.0,
             push_subscribe: bool = False) -> _Ret: ...
    def call16(self, func_name: str, args: Sequence[Any] | None = None, *, timeout: float = -1.0,
               push_subscribe: bool = False) -> _Ret: ...
    def eval(self, expression: str, args: Sequence[Any] | None = None, *, timeout: float = -1.0,
             push_subscribe: bool = False) -> _Ret: ...
    def select(self, space: SpaceType, key: KeyType = None, *, offset: int = 0, limit: int = ...,
               index: IndexType = 0, iterator: Iterator | int | str = 0, timeout: float = -1.0,
               check_schema_change: bool = True) -> _Ret: ...
    def insert(self, space: SpaceType, t: TupleType, *, replace: bool = False,
               timeout: float = -1.0) -> _Ret: ...
    def replace(self, space: SpaceType, t: TupleType, *, timeout: float = -1.0) -> _Ret: ...
    def delete(self, space: SpaceType, key: KeyType, *, index: IndexType = 0,
               timeout: float = -1.0) -> _Ret: ...
    def update(self, space: SpaceType, key: KeyType, operations: Sequence[Sequence[Any]], *,
               index: IndexType = 0, timeout: float = -1.0) -> _Ret: ...
    def upsert(self, space: SpaceType, t: TupleType, operations: Sequence[Sequence[Any]], *,
               timeout: float = -1.0) -> _Ret: ...
    def execute(self, query: str | int, args: Sequence[Any] | None = None, *,
                parse_metadata: bool = True, timeout: float = -1.0) -> _Ret: ...
