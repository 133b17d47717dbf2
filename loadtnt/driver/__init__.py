"""loadtnt.driver: a Tarantool IProto connector for asyncio, its core in Cython.

A drop-in for asynctnt 2.x::

    from loadtnt import driver as asynctnt

    conn = asynctnt.Connection(host='127.0.0.1', port=3301)
    await conn.connect()
    await conn.insert('tester', [1, 'hello'])
    res = await conn.select('tester', [1])
    print(res[0]['name'])
"""

from . import exceptions, prepared
from .connection import Connection, ConnectionState, connect
from .crud import Crud, CrudError, CrudManyError, CrudResponse
from .exceptions import (
    ErrorCode,
    PoolNoCandidateError,
    ProtocolError,
    SchemaMissError,
    TarantoolDatabaseError,
    TarantoolError,
    TarantoolNetworkError,
    TarantoolNotConnectedError,
    TarantoolSchemaError,
)
from .features import IProtoFeatures
from .iproto.protocol import (
    Adjust,
    Field,
    IProtoError,
    IProtoErrorStackFrame,
    Iterator,
    Metadata,
    MPInterval,
    MPTimezone,
    PushIterator,
    Response,
    Schema,
    SchemaIndex,
    SchemaSpace,
    TarantoolTuple,
)
from .pool import Mode, Pool, PoolWatcher
from .prepared import PreparedStatement
from .stream import Isolation, Stream
from .watcher import Watcher

__version__ = "0.1.0"

__all__ = (
    "Adjust",
    "Connection",
    "ConnectionState",
    "Crud",
    "CrudError",
    "CrudManyError",
    "CrudResponse",
    "ErrorCode",
    "Field",
    "IProtoError",
    "IProtoErrorStackFrame",
    "IProtoFeatures",
    "Isolation",
    "Iterator",
    "MPInterval",
    "MPTimezone",
    "Metadata",
    "Mode",
    "Pool",
    "PoolNoCandidateError",
    "PoolWatcher",
    "PreparedStatement",
    "ProtocolError",
    "PushIterator",
    "Response",
    "Schema",
    "SchemaIndex",
    "SchemaMissError",
    "SchemaSpace",
    "Stream",
    "TarantoolDatabaseError",
    "TarantoolError",
    "TarantoolNetworkError",
    "TarantoolNotConnectedError",
    "TarantoolSchemaError",
    "TarantoolTuple",
    "Watcher",
    "connect",
    "exceptions",
    "prepared",
)
