# One final class per request type; encode_body writes the IProto body map.


class Iterator(_enum.IntEnum):
    """Index iterators, as box.index.* in Lua."""
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


class _UnknownIterator(ValueError, KeyError):
    """An iterator name or number that does not exist: a ValueError, and the KeyError
    asynctnt raises for an unknown name."""

    def __str__(self):
        return str(self.args[0]) if self.args else ''


class _BadOperation(TypeError, IndexError):
    """A malformed update operation: a TypeError, and the IndexError asynctnt raises for
    one that is too short."""


cdef object _iterator_value(object iterator):
    if isinstance(iterator, int) and not isinstance(iterator, bool):
        if not 0 <= iterator <= 11:
            raise _UnknownIterator('unknown iterator {}'.format(iterator))
        return int(iterator)
    if isinstance(iterator, str):
        try:
            return int(Iterator[iterator.upper()])
        except KeyError:
            raise _UnknownIterator('unknown iterator {!r}; one of: {}'.format(
                iterator, ', '.join(i.name for i in Iterator))) from None
    raise TypeError('iterator must be an Iterator, its name or its number, not {}'
                    .format(type(iterator).__name__))


cdef SchemaIndex _named_index(object index):
    # An index the schema does not know, for encoding a key against: no parts.
    cdef SchemaIndex idx = SchemaIndex.__new__(SchemaIndex)
    idx.iid = index if isinstance(index, int) and not isinstance(index, bool) else -1
    idx.name = index
    return idx


cdef int _put_key(WriteBuffer buf, object key, SchemaIndex idx, SchemaSpace sp,
                  Request req) except -1:
    cdef Metadata md
    cdef list values
    if key is None:
        return buf.put_array_header(0)
    if PyList_CheckExact(key) or PyTuple_CheckExact(key):
        # the key itself, at depth one, needs no recursion guard; put_obj
        # guards the containers inside it
        return buf.put_sequence(key)
    if type(key) is TarantoolTuple:
        return buf.put_obj(key)
    if isinstance(key, dict):
        md = idx.metadata
        if md is None or md.len() == 0:
            raise TarantoolSchemaError(
                'a key given as a dict needs the index parts of {}.{} (is fetch_schema on?)'
                .format(sp.name or sp.sid, idx.name or idx.iid))
        req.used_names = True
        values = []
        for i in range(md.len()):
            name = md.name_by_id(i)
            if name not in key:
                break
            values.append(key[name])
        unknown = set(key) - set(md.names)
        if unknown:
            raise TarantoolSchemaError('key fields {} are not parts of index {}.{}'.format(
                sorted(map(str, unknown)), sp.name or sp.sid, idx.name or idx.iid))
        return buf.put_obj(values)
    if isinstance(key, (list, tuple)):
        return buf.put_obj(list(key))
    # a scalar key of a one-part index
    buf.put_array_header(1)
    return buf.put_obj(key)


cdef int _put_tuple(WriteBuffer buf, object t, SchemaSpace sp, Request req) except -1:
    cdef Metadata md
    cdef list values
    cdef Py_ssize_t i, n
    if PyList_CheckExact(t) or PyTuple_CheckExact(t) or type(t) is TarantoolTuple:
        return buf.put_obj(t)
    if isinstance(t, dict):
        md = sp.metadata
        if md is None or md.len() == 0:
            raise TarantoolSchemaError(
                'a tuple given as a dict needs the format of space {} (is fetch_schema on?)'
                .format(sp.name or sp.sid))
        req.used_names = True
        unknown = [k for k in t if md.id_by_name(k) < 0]
        if unknown:
            raise TarantoolSchemaError('fields {} are not in the format of space {}'.format(
                sorted(map(str, unknown)), sp.name or sp.sid))
        n = md.len()
        values = [None] * n
        for i in range(n):
            name = md.name_by_id(i)
            if name in t:
                values[i] = t[name]
        # trailing fields the dict did not give are left out (nullable tail)
        while n > 0 and values[n - 1] is None and md.name_by_id(n - 1) not in t:
            n -= 1
        return buf.put_obj(values[:n])
    if isinstance(t, (list, tuple)):
        return buf.put_obj(list(t))
    raise TypeError('a tuple must be a list, tuple or dict, not {}'.format(type(t).__name__))


cdef int _put_operations(WriteBuffer buf, object operations, SchemaSpace sp,
                         Request req) except -1:
    cdef Py_ssize_t i, n, field_no
    if not isinstance(operations, (list, tuple)):
        raise TypeError('update operations must be a list of [op, field, args...], not {}'
                        .format(type(operations).__name__))
    buf.put_array_header(len(operations))
    for op in operations:
        if not isinstance(op, (list, tuple)) or len(op) < 2:
            raise _BadOperation('an update operation must be [op, field, args...], got {!r}'
                            .format(op))
        n = len(op)
        buf.put_array_header(n)
        if PyBytes_CheckExact(op[0]):
            buf.put_raw_str(PyBytes_AS_STRING(op[0]), PyBytes_GET_SIZE(op[0]))  # b'=' as '='
        else:
            buf.put_obj(op[0])
        field = op[1]
        if isinstance(field, str):
            field_no = sp.metadata.id_by_name(field) if sp.metadata is not None else -1
            if field_no >= 0:
                req.used_names = True
                buf.put_uint(field_no)
            elif '.' in field or '[' in field or sp.metadata is None or sp.metadata.len() == 0:
                buf.put_str(field)    # a JSON path, or no format known: the server resolves it
            else:
                raise TarantoolSchemaError('field {!r} is not in the format of space {}'.format(
                    field, sp.name or sp.sid))
        else:
            buf.put_obj(field)
        for i in range(2, n):
            buf.put_obj(op[i])
    return 0


cdef object _args_list(object args):
    if args is None:
        return []
    if PyList_CheckExact(args) or PyTuple_CheckExact(args):
        return args
    if isinstance(args, (list, tuple)):
        return list(args)
    raise TypeError('args must be a list or tuple, not {}'.format(type(args).__name__))


cdef object _snap(object v):
    # A copy of the containers in a value (the leaves are shared): what the
    # caller passed, as it was, for a request that is encoded later.
    cdef object out
    if isinstance(v, (list, tuple, dict)):
        _enter_recursion(' while copying a request value')
        try:
            if isinstance(v, dict):
                out = {k: _snap(x) for k, x in v.items()}
            elif PyTuple_CheckExact(v):
                out = tuple([_snap(x) for x in v])
            else:
                out = [_snap(x) for x in v]
        finally:
            Py_LeaveRecursiveCall()
        return out
    return v


@cython.final
cdef class _DoneCallback:
    # A callback given to Request.add_done_callback: called with the request,
    # as asyncio calls a future's callbacks with the future.
    cdef object fn
    cdef object req

    def __call__(self, fut):
        # Called once, when the waiter is done. Requests are not tracked by the
        # cycle collector (no_gc), so nothing may lead from a request back to
        # itself once it is done: this callback forgets both ends first.
        cdef Request req = <Request> self.req
        fn = self.fn
        self.req = self.fn = None
        if req is None:
            return
        if req.callbacks is not None and self in req.callbacks:
            req.callbacks.remove(self)    # nor request -> callbacks -> fn's closure -> request
        fn(req)


@cython.final
cdef class _Batch:
    pass


@cython.no_gc
cdef class Request:

    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        raise NotImplementedError

    cdef SchemaSpace _target_space(self, Schema schema):
        # The space this request names, or None while the schema does not
        # know it; its format decodes the reply's tuples.
        cdef SchemaSpace sp = schema.get_space(self.space)
        if sp is not None:
            self.metadata = sp.metadata
        return sp

    cdef int _put_target(self, WriteBuffer buf, int nkeys, SchemaSpace sp,
                         SchemaIndex idx) except -1:
        # The body map's header and its first keys: the space, and the index if
        # any. What follows does not depend on the space's id, so a resend after
        # a schema change writes a new head and copies the rest as it was sent.
        cdef char *p
        if nkeys > 15:
            raise AssertionError('a request body of {} keys'.format(nkeys))
        p = buf.reserve(1 + 2 * 10)
        p[0] = <char> (0x80 | nkeys)
        p[1] = <char> tnt.IPROTO_SPACE_ID
        p = lt_put_uint(p + 2, sp.sid)
        if idx is not None:
            p[0] = <char> tnt.IPROTO_INDEX_ID
            p = lt_put_uint(p + 1, idx.iid)
        buf.commit(p)
        self.nkeys = nkeys
        self.sent_format = sp.metadata
        self.tail_mark = buf.size
        return 0

    cdef SchemaSpace _put_named_target(self, WriteBuffer buf, int nkeys, SchemaSpace sp,
                                       bint with_index):
        # The head of a request whose space or index the client's schema does
        # not know (there is none: fetch_schema=False), sent by name on a server
        # with space_and_index_names (3.0+): IPROTO_SPACE_NAME and
        # IPROTO_INDEX_NAME instead of the ids. An id stays an id. Returns the
        # space the rest of the body is encoded against (no format: names in
        # tuples and keys need the schema; update operations name fields as
        # they are, which the server resolves).
        buf.put_map_header(nkeys)
        if sp is None:
            sp = SchemaSpace.__new__(SchemaSpace)
            sp.sid = -1
            sp.name = self.space
            buf.put_uint(tnt.IPROTO_SPACE_NAME)
            buf.put_str(self.space)
        else:
            buf.put_uint(tnt.IPROTO_SPACE_ID)
            buf.put_uint(sp.sid)
        if with_index:
            if isinstance(self.index, int) and not isinstance(self.index, bool):
                buf.put_uint(tnt.IPROTO_INDEX_ID)
                buf.put_uint(self.index)
            elif isinstance(self.index, str):
                buf.put_uint(tnt.IPROTO_INDEX_NAME)
                buf.put_str(self.index)
            else:
                raise TypeError('index must be a name (str) or an id (int), not {}'
                                .format(type(self.index).__name__))
        self.nkeys = nkeys
        self.sent_format = None
        self.tail_mark = buf.size
        return sp

    cdef int snapshot(self) except -1:
        return 0

    # -- awaiting (the C slot am_send calls _step; see aio.h) ----------------

    cdef object _step(self, int *is_return):
        # A pending request hands itself to the Task, which waits on it as on any
        # Future-compatible object (_asyncio_future_blocking, get_loop(),
        # add_done_callback()); once it is done, the next step returns the
        # response (or raises), as Future.__await__ does.
        cdef object w = self.waiter
        if w is None:
            if self.result_ is not None:
                is_return[0] = 1
                return self.result_
        elif w.done():
            is_return[0] = 1
            if self.result_ is not None:
                return self.result_
            return w.result()
        self._asyncio_future_blocking = True
        is_return[0] = 0
        return self

    def __await__(self):
        return self

    def __iter__(self):
        return self

    # No send(): with __await__, send, throw and close a class counts as a
    # collections.abc.Coroutine, and asyncio.wait() refuses coroutines. `await`
    # only ever sends None, which is __next__ (am_send without a tracer).

    def __next__(self):
        cdef int is_return = 0
        cdef object r = self._step(&is_return)
        if is_return:
            raise StopIteration(r)
        return r

    def throw(self, typ, val=None, tb=None):
        # The Task throws into the awaiting coroutine: its cancellation, or the
        # request's exception. A request still pending is dropped at once.
        self._forget()
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        if tb is not None:
            val = val.with_traceback(tb)
        raise val

    def close(self):
        self._forget()

    def _forget(self):
        proto = self.proto
        if proto is not None and not self.finished:
            (<BaseProtocol> proto)._drop_cancelled(self)

    # -- the waiter ------------------------------------------------------------

    cdef object _promote(self):
        # The asyncio.Future that holds this request's state from now on: made
        # with the state the request had (pending, or its response), and given
        # the callback kept without it. Its callbacks then run as asyncio runs a
        # future's: each through loop.call_soon, in its context.
        cdef object w = self.waiter
        cdef object fn
        if w is not None:
            return w
        w = self.loop.create_future()
        self.waiter = w
        if self.result_ is not None:
            w.set_result(self.result_)
        if self.cb0 is not None:
            fn = self.cb0
            self.cb0 = None
            self._add_callback(fn, self.ctx0)
            self.ctx0 = None
        return w

    cdef int _fail(self, object exc) except -1:
        # The request failed (an error reply, a timeout, a lost connection...):
        # the waiter takes the exception, so that asyncio's rules for one (its
        # traceback logged if nobody retrieves it) are the Future's own.
        cdef object w = self._promote()
        if not w.done():
            w.set_exception(exc)
        return 0

    cdef int _add_callback(self, object fn, object context) except -1:
        cdef _DoneCallback cb = _DoneCallback.__new__(_DoneCallback)
        cb.fn = fn
        cb.req = self
        if self.callbacks is None:
            self.callbacks = []
        self.callbacks.append(cb)
        self.waiter.add_done_callback(cb, context=context)
        return 0

    # -- asyncio.Future's interface, for gather(), wait_for() and the like ----
    # Besides the public methods, asyncio's own code reads a few private
    # members of any future it is given (CPython 3.10-3.13, tasks.py,
    # futures.py, base_events.py; uvloop's loop.pyx): gather()'s callback
    # calls _make_cancelled_error() on a cancelled child (3.10.x before that
    # read _cancel_message), futures._get_loop() falls back to _loop,
    # isfuture() needs _asyncio_future_blocking on the class and not None,
    # and a Task sets it to False on what it waits for. _loop and
    # _asyncio_future_blocking are the request's own; the other private members
    # are its waiter's, which reading them makes.

    @property
    def _loop(self):
        return self.loop

    @property
    def _state(self):
        if self.waiter is None:
            return 'FINISHED' if self.result_ is not None else 'PENDING'
        return self.waiter._state

    @property
    def _cancel_message(self):
        return self._promote()._cancel_message

    @_cancel_message.setter
    def _cancel_message(self, value):
        self._promote()._cancel_message = value

    @property
    def _log_traceback(self):
        return False if self.waiter is None else self.waiter._log_traceback

    @_log_traceback.setter
    def _log_traceback(self, value):
        self._promote()._log_traceback = value

    @property
    def _source_traceback(self):
        return self._promote()._source_traceback

    def _make_cancelled_error(self):
        return self._promote()._make_cancelled_error()

    def cancel(self, msg=None):
        if self.waiter is None and self.result_ is not None:
            return False
        w = self._promote()
        if w.done():
            return False
        self._forget()
        self.finished = True
        return w.cancel(msg)

    def set_result(self, result):
        # The caller resolves the request itself (as with any future): it is
        # dropped, and a late reply is counted as a cancelled one's is.
        w = self._promote()
        if w.done():
            raise _asyncio.InvalidStateError('invalid state')
        self._forget()
        self.finished = True
        w.set_result(result)

    def set_exception(self, exception):
        w = self._promote()
        if w.done():
            raise _asyncio.InvalidStateError('invalid state')
        self._forget()
        self.finished = True
        w.set_exception(exception)

    def cancelled(self):
        return self.waiter is not None and self.waiter.cancelled()

    def done(self):
        if self.waiter is None:
            return self.result_ is not None
        return self.waiter.done()

    def result(self):
        if self.result_ is not None:
            return self.result_
        return self._promote().result()

    def exception(self):
        if self.waiter is None and self.result_ is not None:
            return None
        return self._promote().exception()

    def get_loop(self):
        return self.loop

    def add_done_callback(self, fn, *, context=None):
        if context is None:
            context = PyContext_CopyCurrent()
        if self.waiter is None and self.cb0 is None and self.result_ is None:
            # the first callback of a pending request (the awaiting Task's
            # wakeup): kept here, run by the protocol once the reply is in
            self.cb0 = fn
            self.ctx0 = context
            self.cb0_wakeup = lt_is_task_wakeup(fn)
            return
        self._promote()
        self._add_callback(fn, context)

    def remove_done_callback(self, fn):
        cdef _DoneCallback cb
        cdef int n = 0
        if self.cb0 is not None and self.cb0 == fn:
            self.cb0 = self.ctx0 = None
            n = 1
        if self.callbacks is None:
            return n
        for cb in list(self.callbacks):
            if cb.fn == fn:
                self.callbacks.remove(cb)
                n += self.waiter.remove_done_callback(cb)
        return n

    def __repr__(self):
        return '<{} {} sync={} {}>'.format(
            type(self).__name__, _REQUEST_NAMES.get(self.op, self.op), self.sync,
            'finished' if self.finished else 'pending')


@cython.final
@cython.no_gc
cdef class PingRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        return 0


@cython.final
@cython.no_gc
cdef class SelectRequest(Request):
    cdef int snapshot(self) except -1:
        self.key = _snap(self.key)
        if not self.after_is_pos:
            self.after = _snap(self.after)
        return 0

    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        cdef SchemaSpace sp = self._target_space(schema)
        cdef SchemaIndex idx = sp.get_index(self.index) if sp is not None else None
        if idx is not None:
            self._put_target(buf, 6 + self.page_keys, sp, idx)
        elif self.by_name:
            sp = self._put_named_target(buf, 6 + self.page_keys, sp, True)
            idx = _named_index(self.index)
        else:
            return 1
        cdef char *p = buf.reserve(3 * 10)
        p[0] = <char> tnt.IPROTO_LIMIT
        p = lt_put_uint(p + 1, self.limit)
        p[0] = <char> tnt.IPROTO_OFFSET
        p = lt_put_uint(p + 1, self.offset)
        p[0] = <char> tnt.IPROTO_ITERATOR
        buf.commit(p + 1)
        # an int (new_select's usual) straight to put_int_obj: put_obj's dispatch costs a
        # select ~30 instructions more (callgrind)
        if PyLong_CheckExact(self.iterator):
            buf.put_int_obj(self.iterator)
        else:
            buf.put_obj(self.iterator)
        if self.page_keys:
            self._put_page(buf)
        buf.put_uint(tnt.IPROTO_KEY)
        return _put_key(buf, self.key, idx, sp, self)

    cdef int _put_page(self, WriteBuffer buf) except -1:
        # pagination (2.11+): where to start, and whether to return the position
        cdef object after = self.after
        if after is not None:
            if self.after_is_pos:
                buf.put_uint(tnt.IPROTO_AFTER_POSITION)
                buf.put_raw_str(PyBytes_AS_STRING(after), PyBytes_GET_SIZE(after))
            else:
                buf.put_uint(tnt.IPROTO_AFTER_TUPLE)
                buf.put_obj(after)
        if self.fetch_pos:
            buf.put_uint(tnt.IPROTO_FETCH_POSITION)
            buf.put_bool(True)
        return 0


@cython.final
@cython.no_gc
cdef class InsertRequest(Request):
    cdef int snapshot(self) except -1:
        self.t = _snap(self.t)
        return 0

    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        cdef SchemaSpace sp = self._target_space(schema)
        if sp is not None:
            self._put_target(buf, 2, sp, None)
        elif self.by_name:
            sp = self._put_named_target(buf, 2, sp, False)
        else:
            return 1
        buf.put_uint(tnt.IPROTO_TUPLE)
        return _put_tuple(buf, self.t, sp, self)


@cython.final
@cython.no_gc
cdef class DeleteRequest(Request):
    cdef int snapshot(self) except -1:
        self.key = _snap(self.key)
        return 0

    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        cdef SchemaSpace sp = self._target_space(schema)
        cdef SchemaIndex idx = sp.get_index(self.index) if sp is not None else None
        if idx is not None:
            self._put_target(buf, 3, sp, idx)
        elif self.by_name:
            sp = self._put_named_target(buf, 3, sp, True)
            idx = _named_index(self.index)
        else:
            return 1
        buf.put_uint(tnt.IPROTO_KEY)
        return _put_key(buf, self.key, idx, sp, self)


@cython.final
@cython.no_gc
cdef class UpdateRequest(Request):
    cdef int snapshot(self) except -1:
        self.key = _snap(self.key)
        self.operations = _snap(self.operations)
        return 0

    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        cdef SchemaSpace sp = self._target_space(schema)
        cdef SchemaIndex idx = sp.get_index(self.index) if sp is not None else None
        if idx is not None:
            self._put_target(buf, 4, sp, idx)
        elif self.by_name:
            sp = self._put_named_target(buf, 4, sp, True)
            idx = _named_index(self.index)
        else:
            return 1
        buf.put_uint(tnt.IPROTO_KEY)
        _put_key(buf, self.key, idx, sp, self)
        buf.put_uint(tnt.IPROTO_TUPLE)
        return _put_operations(buf, self.operations, sp, self)


@cython.final
@cython.no_gc
cdef class UpsertRequest(Request):
    cdef int snapshot(self) except -1:
        self.t = _snap(self.t)
        self.operations = _snap(self.operations)
        return 0

    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        cdef SchemaSpace sp = self._target_space(schema)
        if sp is not None:
            self._put_target(buf, 3, sp, None)
        elif self.by_name:
            sp = self._put_named_target(buf, 3, sp, False)
        else:
            return 1
        buf.put_uint(tnt.IPROTO_TUPLE)
        _put_tuple(buf, self.t, sp, self)
        buf.put_uint(tnt.IPROTO_OPS)
        return _put_operations(buf, self.operations, sp, self)


@cython.final
@cython.no_gc
cdef class CallRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        buf.put_map_header(2)
        buf.put_uint(tnt.IPROTO_FUNCTION_NAME)
        buf.put_str(self.func_name)
        buf.put_uint(tnt.IPROTO_TUPLE)
        return buf.put_obj(self.args)


@cython.final
@cython.no_gc
cdef class EvalRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        buf.put_map_header(2)
        buf.put_uint(tnt.IPROTO_EXPR)
        buf.put_str(self.expression)
        buf.put_uint(tnt.IPROTO_TUPLE)
        return buf.put_obj(self.args)


@cython.final
@cython.no_gc
cdef class ExecuteRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        buf.put_map_header(3)
        if isinstance(self.query, str):
            buf.put_uint(tnt.IPROTO_SQL_TEXT)
            buf.put_str(self.query)
        else:
            buf.put_uint(tnt.IPROTO_STMT_ID)
            buf.put_obj(self.query)
        buf.put_uint(tnt.IPROTO_SQL_BIND)
        buf.put_obj(self.args)
        buf.put_uint(tnt.IPROTO_OPTIONS)
        return buf.put_array_header(0)


@cython.final
@cython.no_gc
cdef class IdRequest(Request):
    # IPROTO_ID: the protocol version and every feature this driver speaks, as go-tarantool
    # and tarantool-python announce theirs; a server ignores the ids it does not know
    # (tarantool#7953), so 2.10 takes the 3.0 ones quietly
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        buf.put_map_header(2)
        buf.put_uint(tnt.IPROTO_VERSION)
        buf.put_uint(tnt.LOADTNT_IPROTO_VERSION)
        buf.put_uint(tnt.IPROTO_FEATURES)
        buf.put_array_header(9 if self.tuple_ext else 7)
        buf.put_uint(tnt.IPROTO_FEATURE_STREAMS)
        buf.put_uint(tnt.IPROTO_FEATURE_TRANSACTIONS)
        buf.put_uint(tnt.IPROTO_FEATURE_ERROR_EXTENSION)
        buf.put_uint(tnt.IPROTO_FEATURE_WATCHERS)
        buf.put_uint(tnt.IPROTO_FEATURE_PAGINATION)
        buf.put_uint(tnt.IPROTO_FEATURE_SPACE_AND_INDEX_NAMES)
        buf.put_uint(tnt.IPROTO_FEATURE_WATCH_ONCE)
        if self.tuple_ext:
            # the server then sends tuples as MP_TUPLE with their formats
            buf.put_uint(tnt.IPROTO_FEATURE_DML_TUPLE_EXTENSION)
            buf.put_uint(tnt.IPROTO_FEATURE_CALL_RET_TUPLE_EXTENSION)
        return 0


@cython.final
@cython.no_gc
cdef class BeginRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        buf.put_map_header(2 if self.tx_timeout > 0 else 1)
        buf.put_uint(tnt.IPROTO_TXN_ISOLATION)
        buf.put_uint(self.isolation)
        if self.tx_timeout > 0:
            buf.put_uint(tnt.IPROTO_TIMEOUT)
            buf.put_double(self.tx_timeout)
        return 0


@cython.final
@cython.no_gc
cdef class CommitRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        return 0


@cython.final
@cython.no_gc
cdef class RollbackRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        return 0


@cython.final
@cython.no_gc
cdef class PrepareRequest(Request):
    # IPROTO_PREPARE: SQL text prepares a statement; its id unprepares it.
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        buf.put_map_header(1)
        if isinstance(self.query, str):
            buf.put_uint(tnt.IPROTO_SQL_TEXT)
            return buf.put_str(self.query)
        buf.put_uint(tnt.IPROTO_STMT_ID)
        return buf.put_obj(self.query)


cdef inline int _put_event_key(WriteBuffer buf, str key) except -1:
    # the body of IPROTO_WATCH, IPROTO_UNWATCH and IPROTO_WATCH_ONCE
    buf.put_map_header(1)
    buf.put_uint(tnt.IPROTO_EVENT_KEY)
    return buf.put_str(key)


@cython.final
@cython.no_gc
cdef class WatchRequest(Request):
    # IPROTO_WATCH registers a watcher of a key, or acknowledges the last
    # IPROTO_EVENT of it; IPROTO_UNWATCH drops it. The server answers neither
    # (only a packet it cannot parse), so they are sent, never pending.
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        return _put_event_key(buf, self.key)


@cython.final
@cython.no_gc
cdef class WatchOnceRequest(Request):
    # IPROTO_WATCH_ONCE (3.0+): the key's current value, in IPROTO_DATA[0]
    # (an empty array: no value)
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        return _put_event_key(buf, self.key)


@cython.final
@cython.no_gc
cdef class AuthRequest(Request):
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1:
        buf.put_map_header(2)
        buf.put_uint(tnt.IPROTO_USER_NAME)
        buf.put_str(self.username)
        buf.put_uint(tnt.IPROTO_TUPLE)
        buf.put_array_header(2)
        buf.put_raw_str(b'chap-sha1', 9)
        return buf.put_bin(PyBytes_AS_STRING(self.scramble), PyBytes_GET_SIZE(self.scramble))


cdef bytes chap_sha1_scramble(bytes salt, str password):
    """scramble = sha1(password) XOR sha1(salt[:20] + sha1(sha1(password)))"""
    step1 = _hashlib.sha1(password.encode('utf-8')).digest()
    step2 = _hashlib.sha1(step1).digest()
    step3 = _hashlib.sha1(salt[:20] + step2).digest()
    return bytes(a ^ b for a, b in zip(step1, step3))
