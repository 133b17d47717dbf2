# Api: asynctnt 2.x request methods. Each returns a future that resolves to a
# Response (or raises TarantoolDatabaseError / asyncio.TimeoutError / a
# network error). timeout: seconds; -1 uses the connection's request_timeout,
# 0 means none. push_subscribe=True (call, eval) keeps the request's
# box.session.push values for a PushIterator.


cdef inline object _execute_push(BaseProtocol p, Request req, double timeout):
    # Only requests that subscribe get a _PushState; the others pay nothing.
    req.push = _push_state_new(p.create_future)
    p.execute(req, timeout)
    (<_PushState> req.push).response.sync_ = req.sync
    return req


cdef int _set_page(BaseProtocol p, SelectRequest req, object after, bint fetch_pos) except -1:
    # A server without pagination ignores these keys and returns the first page
    # again: refuse before sending.
    if not p.feature_mask & (1 << tnt.IPROTO_FEATURE_PAGINATION):
        raise TarantoolError(
            'pagination (after=, fetch_pos=) needs Tarantool 2.11 or later; the server at '
            '{} is {} and its IPROTO_ID does not list the pagination feature'.format(
                p.peer, '.'.join(map(str, p.version or ())) or '?'))
    if after is not None:
        if PyBytes_CheckExact(after) or isinstance(after, (bytes, bytearray, memoryview)):
            req.after = bytes(after)
            req.after_is_pos = True
        elif isinstance(after, str):
            req.after = (<str> after).encode('utf-8', 'surrogateescape')
            req.after_is_pos = True
        elif PyList_CheckExact(after) or PyTuple_CheckExact(after) \
                or type(after) is TarantoolTuple:
            req.after = after
        elif isinstance(after, (list, tuple)):
            req.after = list(after)
        else:
            raise TypeError('after must be a position (bytes, as response.position has it) or '
                            'a tuple (list, tuple or TarantoolTuple), not {}'.format(
                                type(after).__name__))
        req.page_keys += 1
    if fetch_pos:
        req.fetch_pos = True
        req.page_keys += 1
    return 0


# The requests, built as the methods below send them: one builder per request
# type, shared with the harness's C load loop (loadtnt/worker/_cloop.pyx), which
# encodes them itself, with no future.

cdef PingRequest new_ping():
    cdef PingRequest req = PingRequest.__new__(PingRequest)
    req.check_schema = False    # nothing in it depends on the client's schema
    req.op = tnt.IPROTO_PING
    return req


cdef CallRequest new_call(uint32_t op, func_name, args):
    cdef CallRequest req = CallRequest.__new__(CallRequest)
    req.check_schema = False    # by function name: valid across DDL
    if not isinstance(func_name, str):
        raise TypeError('func_name must be a str, not {}'.format(type(func_name).__name__))
    req.op = op
    req.func_name = func_name
    req.args = _args_list(args)
    req.parse_as_tuples = op == tnt.IPROTO_CALL_16
    return req


cdef EvalRequest new_eval(expression, args):
    cdef EvalRequest req = EvalRequest.__new__(EvalRequest)
    req.check_schema = False
    if not isinstance(expression, str):
        raise TypeError('expression must be a str, not {}'.format(type(expression).__name__))
    req.op = tnt.IPROTO_EVAL
    req.expression = expression
    req.args = _args_list(args)
    return req


cdef SelectRequest new_select(space, key, offset, limit, index, iterator,
                              bint check_schema_change):
    cdef SelectRequest req = SelectRequest.__new__(SelectRequest)
    req.op = tnt.IPROTO_SELECT
    req.space = space
    req.index = index
    req.key = key
    req.offset = offset
    req.limit = limit
    req.iterator = iterator if PyLong_CheckExact(iterator) else _iterator_value(iterator)
    if key is None and req.iterator == 0 and isinstance(iterator, int):
        req.iterator = 2    # no key: ALL (so it works on a HASH index), as asynctnt
    req.check_schema = check_schema_change
    req.parse_as_tuples = True
    return req


cdef InsertRequest new_insert(space, t, bint replace):
    cdef InsertRequest req = InsertRequest.__new__(InsertRequest)
    req.check_schema = True
    req.op = tnt.IPROTO_REPLACE if replace else tnt.IPROTO_INSERT
    req.space = space
    req.t = t
    req.parse_as_tuples = True
    return req


cdef DeleteRequest new_delete(space, key, index):
    cdef DeleteRequest req = DeleteRequest.__new__(DeleteRequest)
    req.check_schema = True
    req.op = tnt.IPROTO_DELETE
    req.space = space
    req.index = index
    req.key = key
    req.parse_as_tuples = True
    return req


cdef UpdateRequest new_update(space, key, operations, index):
    cdef UpdateRequest req = UpdateRequest.__new__(UpdateRequest)
    req.check_schema = True
    req.op = tnt.IPROTO_UPDATE
    req.space = space
    req.index = index
    req.key = key
    req.operations = operations if operations is not None else []
    req.parse_as_tuples = True
    return req


cdef UpsertRequest new_upsert(space, t, operations):
    cdef UpsertRequest req = UpsertRequest.__new__(UpsertRequest)
    req.check_schema = True
    req.op = tnt.IPROTO_UPSERT
    req.space = space
    req.t = t
    req.operations = operations if operations is not None else []
    req.parse_as_tuples = True
    return req


cdef ExecuteRequest new_execute(query, args, bint parse_metadata):
    cdef ExecuteRequest req = ExecuteRequest.__new__(ExecuteRequest)
    if not isinstance(query, (str, int)):
        raise TypeError('query must be SQL text or a statement id, not {}'
                        .format(type(query).__name__))
    req.op = tnt.IPROTO_EXECUTE
    req.query = query
    req.args = _args_list(args)
    req.parse_as_tuples = True
    req.parse_metadata = parse_metadata
    req.check_schema = False    # SQL names are resolved by the server
    return req


cdef class Api:

    def __cinit__(self):
        self._protocol = None

    cdef BaseProtocol _proto(self):
        # a Stream uses its connection's current protocol
        cdef BaseProtocol p = self._protocol if self._conn is None else self._conn._protocol
        if p is None or p.state != CS_READY:
            if p is not None and p.state == CS_PARKED:
                return p    # the server is restarting: wait for the reconnect
            raise TarantoolNotConnectedError('not connected to Tarantool')
        return p

    def ping(self, *, double timeout=-1.0):
        """Ping the server."""
        return self._ping(timeout)

    cdef object _ping(self, double timeout):
        # also Pool's ping, straight from C
        cdef BaseProtocol p = self._proto()
        cdef PingRequest req = new_ping()
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    def call(self, func_name, args=None, *, double timeout=-1.0, bint push_subscribe=False):
        """Call a stored function (1.7+ semantics: its return values, as they are)."""
        return self._call(tnt.IPROTO_CALL, func_name, args, timeout, push_subscribe)

    def call16(self, func_name, args=None, *, double timeout=-1.0, bint push_subscribe=False):
        """Call a stored function with 1.6 semantics (each return value wrapped in a tuple)."""
        return self._call(tnt.IPROTO_CALL_16, func_name, args, timeout, push_subscribe)

    cdef object _call(self, uint32_t op, func_name, args, double timeout, bint push_subscribe):
        cdef BaseProtocol p = self._proto()
        cdef CallRequest req = new_call(op, func_name, args)
        req.stream_id = self._stream_id
        if push_subscribe:
            return _execute_push(p, req, timeout)
        return p.execute(req, timeout)

    def eval(self, expression, args=None, *, double timeout=-1.0, bint push_subscribe=False):
        """Evaluate a Lua expression with args as `...`."""
        return self._eval(expression, args, timeout, push_subscribe)

    cdef object _eval(self, expression, args, double timeout, bint push_subscribe):
        cdef BaseProtocol p = self._proto()
        cdef EvalRequest req = new_eval(expression, args)
        req.stream_id = self._stream_id
        if push_subscribe:
            return _execute_push(p, req, timeout)
        return p.execute(req, timeout)

    def select(self, space, key=None, *, offset=0, limit=0xffffffff, index=0, iterator=0,
               double timeout=-1.0, bint check_schema_change=True, after=None,
               bint fetch_pos=False):
        """Select tuples from a space by an index (name or id) and key.

        Pagination (Tarantool 2.11+): ``after`` starts after a position (the bytes
        of an earlier ``response.position``) or after a tuple (a list or a
        TarantoolTuple); ``fetch_pos=True`` returns the last tuple's position in
        ``response.position``."""
        return self._select(space, key, offset, limit, index, iterator, timeout,
                            check_schema_change, after, fetch_pos)

    cdef object _select(self, space, key, offset, limit, index, iterator, double timeout,
                        bint check_schema_change, after, bint fetch_pos):
        # also Pool's select, straight from C
        cdef BaseProtocol p = self._proto()
        cdef SelectRequest req = new_select(space, key, offset, limit, index, iterator,
                                            check_schema_change)
        if after is not None or fetch_pos:
            _set_page(p, req, after, fetch_pos)
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    def insert(self, space, t, *, bint replace=False, double timeout=-1.0):
        """Insert a tuple (a list, or a dict by field names)."""
        return self._insert(space, t, replace, timeout)

    cdef object _insert(self, space, t, bint replace, double timeout):
        # insert and replace; also Pool's, straight from C (as the others below)
        cdef BaseProtocol p = self._proto()
        cdef InsertRequest req = new_insert(space, t, replace)
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    def replace(self, space, t, *, double timeout=-1.0):
        """Insert or replace a tuple."""
        return self._insert(space, t, True, timeout)

    def delete(self, space, key, *, index=0, double timeout=-1.0):
        """Delete the tuple with this key."""
        return self._delete(space, key, index, timeout)

    cdef object _delete(self, space, key, index, double timeout):
        cdef BaseProtocol p = self._proto()
        cdef DeleteRequest req = new_delete(space, key, index)
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    def update(self, space, key, operations, *, index=0, double timeout=-1.0):
        """Update a tuple: operations as [[op, field (number or name), args...], ...]."""
        return self._update(space, key, operations, index, timeout)

    cdef object _update(self, space, key, operations, index, double timeout):
        cdef BaseProtocol p = self._proto()
        cdef UpdateRequest req = new_update(space, key, operations, index)
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    def upsert(self, space, t, operations, *, double timeout=-1.0):
        """Insert t, or apply operations to the tuple with its key."""
        return self._upsert(space, t, operations, timeout)

    cdef object _upsert(self, space, t, operations, double timeout):
        cdef BaseProtocol p = self._proto()
        cdef UpsertRequest req = new_upsert(space, t, operations)
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    def execute(self, query, args=None, *, bint parse_metadata=True, double timeout=-1.0):
        """Execute an SQL statement (text, or a prepared statement id)."""
        return self._execute(query, args, parse_metadata, timeout)

    cdef object _execute(self, query, args, bint parse_metadata, double timeout):
        cdef BaseProtocol p = self._proto()
        cdef ExecuteRequest req = new_execute(query, args, parse_metadata)
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    # -- interactive transactions (a Stream's; 2.10+) -------------------------

    def begin(self, isolation=0, double tx_timeout=0.0, double timeout=-1.0):
        """Begin a transaction in this stream: isolation an Isolation (or its
        value); tx_timeout in seconds (0: the server's default)."""
        cdef BaseProtocol p = self._proto()
        cdef BeginRequest req = BeginRequest.__new__(BeginRequest)
        if isinstance(isolation, bool) or not isinstance(isolation, int):
            raise TypeError('isolation must be an Isolation, not {}'.format(
                type(isolation).__name__))
        if not 0 <= isolation <= 3:
            raise ValueError('unknown isolation level {}'.format(isolation))
        if tx_timeout < 0:
            raise ValueError('tx_timeout must not be negative, not {:g}'.format(tx_timeout))
        req.op = tnt.IPROTO_BEGIN
        req.stream_id = self._stream_id
        req.isolation = isolation
        req.tx_timeout = tx_timeout
        return p.execute(req, timeout)

    def commit(self, double timeout=-1.0):
        """Commit this stream's transaction."""
        return self._end_txn(CommitRequest.__new__(CommitRequest), tnt.IPROTO_COMMIT, timeout)

    def rollback(self, double timeout=-1.0):
        """Roll this stream's transaction back."""
        return self._end_txn(RollbackRequest.__new__(RollbackRequest), tnt.IPROTO_ROLLBACK,
                             timeout)

    cdef object _end_txn(self, Request req, uint32_t op, double timeout):
        # commit and rollback: a body-less request of this stream
        cdef BaseProtocol p = self._proto()
        req.op = op
        req.stream_id = self._stream_id
        return p.execute(req, timeout)

    def prepare_iproto(self, query, double timeout=-1.0):
        """Prepare an SQL statement (IPROTO_PREPARE): the Response has its stmt_id,
        params (the bound parameters' metadata), params_count and, for a SELECT,
        metadata. Connection.prepare() wraps it in a PreparedStatement."""
        return self._prepare(query, timeout)

    def unprepare_iproto(self, stmt_id, double timeout=-1.0):
        """Unprepare the statement with this id (IPROTO_PREPARE with IPROTO_STMT_ID)."""
        return self._prepare(stmt_id, timeout)

    cdef object _prepare(self, query, double timeout):
        cdef BaseProtocol p = self._proto()
        cdef PrepareRequest req = PrepareRequest.__new__(PrepareRequest)
        # as asynctnt: text prepares, an id unprepares, whichever method sends it
        if not isinstance(query, (str, int)) or isinstance(query, bool):
            raise TypeError('query must be SQL text or a statement id, not {}'
                            .format(type(query).__name__))
        req.op = tnt.IPROTO_PREPARE
        req.stream_id = self._stream_id
        req.query = query
        req.parse_as_tuples = True
        req.parse_metadata = True
        req.check_schema = False    # SQL names are resolved by the server
        return p.execute(req, timeout)
