# cython: language_level=3
"""loadtnt.driver's core: IProto encoding, framing and dispatch."""

cimport cython
from cpython.datetime cimport PyDateTime_Check, import_datetime
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytes cimport PyBytes_CheckExact
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.contextvars cimport PyContext_CopyCurrent, PyContext_Enter, PyContext_Exit
from cpython.dict cimport PyDict_CheckExact, PyDict_DelItem, PyDict_GetItem, PyDict_SetItem
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE, PyList_New
from cpython.list cimport PyList_SET_ITEM
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject, PyObject_Call, PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New
from cpython.tuple cimport PyTuple_SET_ITEM
from cpython.unicode cimport PyUnicode_CheckExact, PyUnicode_Decode, PyUnicode_DecodeUTF8
from libc.math cimport ceil
from libc.string cimport memcpy, memmove, memset

cimport loadtnt.driver.iproto.tarantool as tnt
from loadtnt.driver.iproto.cmp cimport (
    LOADTNT_DEBUG, lt_monotonic, lt_load_double, lt_load_float, lt_load_u16, lt_load_u32, lt_load_u64,
    lt_put_uint, lt_store_double, lt_store_u16, lt_store_u32, lt_store_u64,
)

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    const char *PyUnicode_AsUTF8(object s) except NULL
    int Py_EnterRecursiveCall(const char *where)
    void Py_LeaveRecursiveCall()

import asyncio as _asyncio
import base64 as _base64
import collections as _collections
import datetime as _datetime
import enum as _enum
import hashlib as _hashlib
from decimal import Decimal
from uuid import UUID

from loadtnt.driver.exceptions import (
    IntegerOutOfRangeError,
    ValueNestingError,
    ProtocolError,
    SchemaMissError,
    TarantoolDatabaseError,
    TarantoolError,
    TarantoolNetworkError,
    TarantoolNotConnectedError,
    TarantoolSchemaError,
)

import_datetime()


cdef inline int _enter_recursion(const char *where) except -1:
    # Deep nesting raises RecursionError instead of overflowing the C stack.
    if Py_EnterRecursiveCall(where) != 0:
        return -1
    return 0


cdef extern from "aio.h":
    ctypedef object (*lt_step_fn)(object, int *)
    int lt_install_am_send(PyTypeObject *t, lt_step_fn step) except -1
    bint lt_is_task_wakeup(object fn)
    void lt_set_task_type(object t)
    bint lt_is_ascii(const char *s, Py_ssize_t n)
    object lt_ascii_new(const char *s, Py_ssize_t n)


include "wbuf.pyx"
include "unpack.pyx"
include "ext.pyx"
include "ttuple.pyx"
include "schema.pyx"
include "response.pyx"
include "requests.pyx"
include "push.pyx"
include "pending.pyx"
include "coreproto.pyx"
include "baseproto.pyx"
include "api.pyx"
include "poolapi.pyx"


DEBUG = bool(LOADTNT_DEBUG)   # built with `make debug`


lt_set_task_type(_asyncio.Task)


cdef object _request_step(object req, int *is_return):
    return (<Request> req)._step(is_return)


for _cls in (Request, PingRequest, SelectRequest, InsertRequest, DeleteRequest, UpdateRequest,
             UpsertRequest, CallRequest, EvalRequest, ExecuteRequest, PrepareRequest,
             AuthRequest, IdRequest, BeginRequest, CommitRequest, RollbackRequest,
             WatchOnceRequest):
    lt_install_am_send(<PyTypeObject *> _cls, _request_step)
del _cls


class Protocol(BaseProtocol, _asyncio.BufferedProtocol):
    """The asyncio protocol: BaseProtocol, registered as a BufferedProtocol so
    that the loop reads straight into its buffer."""


class TupleExtProtocol(TupleExtBaseProtocol, _asyncio.BufferedProtocol):
    """Protocol for a connection with tuple_extension=True (construct it with
    tuple_extension=True): MP_TUPLE values decode with their formats."""
