# BaseProtocol: the event-loop side. Maps syncs to futures, coalesces writes
# (one transport.write per loop turn, or per 64 requests of it), expires
# requests with per-millisecond timer buckets, and refetches the schema when
# the server says it changed.

_REQUEST_NAMES = {
    tnt.IPROTO_PING: 'ping', tnt.IPROTO_SELECT: 'select', tnt.IPROTO_INSERT: 'insert',
    tnt.IPROTO_REPLACE: 'replace', tnt.IPROTO_UPDATE: 'update', tnt.IPROTO_UPSERT: 'upsert',
    tnt.IPROTO_DELETE: 'delete', tnt.IPROTO_CALL: 'call', tnt.IPROTO_CALL_16: 'call16',
    tnt.IPROTO_EVAL: 'eval', tnt.IPROTO_EXECUTE: 'execute', tnt.IPROTO_AUTH: 'auth',
    tnt.IPROTO_ID: 'id', tnt.IPROTO_BEGIN: 'begin', tnt.IPROTO_COMMIT: 'commit',
    tnt.IPROTO_ROLLBACK: 'rollback', tnt.IPROTO_PREPARE: 'prepare',
    tnt.IPROTO_WATCH_ONCE: 'watch_once',
}


# A loop turn's requests go out in one write, or in several when there are many: the
# server then starts on the first ones while the client is still making the rest. With one
# write per turn, 300 coroutines on a connection made client and server take turns (each
# idle while the other worked: together they used one core of two); a write per 64
# requests (or 64 KiB) lets them overlap. bench/driver_bench.py, 2.6, uvloop, 300
# coroutines, 5 interleaved rounds against one write per turn: call 1.71x, eval 1.73x,
# select 1.49x, insert 1.51x, update 1.75x; ping, whose client was the limit already,
# 0.94x (0.88-1.10). bench/RESULTS-2026-12-07.md.
cdef enum:
    _FLUSH_EVERY = 64
    _FLUSH_BYTES = 65536

# Timeouts at or beyond this (about 31 years) mean "no timeout".
cdef double _MAX_TIMEOUT = 1e9
# A name a schema fetch did not find fails at once for this long (see _on_miss).
cdef double MISS_RETRY_AFTER = 1.0
cdef uint32_t ER_ACCESS_DENIED_CODE = 42


def _consume_exception(fut):
    # Background futures (schema refetch nobody awaits) must not log
    # "exception was never retrieved": the requests waiting on them get it.
    if not fut.cancelled():
        fut.exception()


cdef class ReplySink:
    cdef int on_reply(self, uint64_t sync, uint64_t code, int64_t schema_id,
                      const char *p, const char *end) except -1:
        raise ProtocolError('a reply for sync {} and no load loop to take it'.format(sync))

    cdef int on_lost(self, object exc) except -1:
        return 0


@cython.final
cdef class TimerBucket:
    def __cinit__(self):
        self.cap = 64
        self.n = 0
        self.live = 0
        self.armed = False
        self.syncs = <uint64_t *> PyMem_Malloc(self.cap * sizeof(uint64_t))
        if self.syncs is NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.syncs is not NULL:
            PyMem_Free(self.syncs)
            self.syncs = NULL

    cdef int append(self, uint64_t sync) except -1:
        cdef uint64_t *p
        if self.n == self.cap:
            p = <uint64_t *> PyMem_Realloc(self.syncs, self.cap * 2 * sizeof(uint64_t))
            if p is NULL:
                raise MemoryError()
            self.syncs = p
            self.cap *= 2
        self.syncs[self.n] = sync
        self.n += 1
        return 0


cdef class BaseProtocol(CoreProtocol):

    def __init__(self, *, loop, peer='', encoding=None, double request_timeout=-1.0,
                 bint auto_refetch_schema=True, on_lost=None,
                 Py_ssize_t max_packet_size=0, on_event=None,
                 bint tuple_extension=False):
        self.loop = loop
        self.create_future = loop.create_future
        self.pending = PendingTable()
        self.ready = []
        self.ready_cb = self._run_ready
        self.done_fut = loop.create_future()
        self.done_fut.set_result(None)
        self.next_sync_ = 0
        self.schema = Schema(-1)
        self.auto_refetch_schema = auto_refetch_schema
        self.request_timeout = request_timeout
        self.flush_scheduled = False
        self.flush_cb = self._flush
        self.timer_cb = self._on_timer
        self.timers = {}
        self.schema_waiting = []
        self.missing = {}
        self.user = None
        self.schema_future = None
        self.greeting_waiter = loop.create_future()
        self.greeting_waiter.add_done_callback(_consume_exception)
        self.closed_waiter = loop.create_future()
        self.on_lost = on_lost
        self.on_event = on_event
        self.peer = peer
        self.lost_exc = None
        self.late_replies = 0
        self.timeouts = 0
        self.cancelled = 0
        self.dropped_pushes = 0
        self.batch = None
        self.encoding_busy = False
        self.deferred = None
        if max_packet_size > 0:
            self.max_packet = max_packet_size
        if encoding is None or encoding.lower().replace('_', '-') in ('utf-8', 'utf8'):
            self.encoding = None
            self.wbuf.utf8 = True
        else:
            ''.encode(encoding)     # unknown codecs fail here, not mid-request
            self.encoding = encoding
            self.wbuf.utf8 = False
            self.wbuf.encoding = encoding
        if tuple_extension:
            if not isinstance(self, TupleExtBaseProtocol):
                raise ValueError('tuple_extension=True needs a TupleExtProtocol')
            self.tuple_ctx = _TupleCtx(self.encoding)

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        cdef object cause = self.lost_exc if self.lost_exc is not None else exc
        self.state = CS_CLOSED
        self.transport = None
        if not self.greeting_waiter.done():
            self.greeting_waiter.set_exception(TarantoolNetworkError(
                'connection to Tarantool at {} closed before the greeting{}'.format(
                    self.peer, ': {}'.format(cause) if cause else '')))
        self._fail_all(cause)
        if self.sink is not None:
            sink, self.sink = self.sink, None
            (<ReplySink> sink).on_lost(cause)
        if not self.closed_waiter.done():
            self.closed_waiter.set_result(None)
        if self.on_lost is not None:
            self.on_lost(self, cause)

    def eof_received(self):
        return False

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    def buffer_updated(self, Py_ssize_t nbytes):
        self.rend += nbytes
        try:
            self._parse()
        except ProtocolError as e:
            self._close_with(e)
        except Exception as e:
            err = ProtocolError('failed to handle a packet from {}: {!r}'.format(self.peer, e))
            err.__cause__ = e
            self._close_with(err)

    # -- lifecycle hooks, used by connection.py ------------------------------

    def wait_greeting(self):
        return self.greeting_waiter

    def wait_closed(self):
        return self.closed_waiter

    def auth(self, str username, str password):
        cdef AuthRequest req
        if self.state != CS_CONNECTED and self.state != CS_READY:
            raise TarantoolNotConnectedError('not connected to Tarantool at {}'.format(self.peer))
        req = AuthRequest.__new__(AuthRequest)
        req.op = tnt.IPROTO_AUTH
        req.username = username
        self.user = username
        req.scramble = chap_sha1_scramble(self.salt, password or '')
        req.system = True
        return self._submit(req, 0.0)    # bound by connect_timeout, as the schema fetch

    def identify(self):
        """IPROTO_ID: resolves to a dict of the server's version, features and
        auth_type (a 2.6 server answers ER_UNKNOWN_REQUEST_TYPE)."""
        cdef IdRequest req
        if self.state != CS_CONNECTED and self.state != CS_READY:
            raise TarantoolNotConnectedError('not connected to Tarantool at {}'.format(self.peer))
        req = IdRequest.__new__(IdRequest)
        req.op = tnt.IPROTO_ID
        req.system = True
        req.tuple_ext = self.tuple_ctx is not None
        return self._submit(req, 0.0)

    def set_features(self, ids, *, bint send_names=False):
        """What IPROTO_ID said: the server's feature ids. send_names: spaces and
        indexes the schema does not know go by name (no schema was fetched and
        the server has space_and_index_names)."""
        cdef uint64_t mask = 0
        for i in ids:
            if 0 <= i < 64:
                mask |= (<uint64_t> 1) << <int> i
        self.feature_mask = mask
        self.send_names = send_names and bool(
            mask & (1 << tnt.IPROTO_FEATURE_SPACE_AND_INDEX_NAMES))

    def refetch_schema(self, double timeout=-1.0):
        """Fetch the schema again. timeout: seconds for each of its two selects
        (-1: the connection's request_timeout; 0: none, when the caller bounds it)."""
        if self.state != CS_CONNECTED and self.state != CS_READY:
            raise TarantoolNotConnectedError('not connected to Tarantool at {}'.format(self.peer))
        return self._start_schema_refetch(timeout)

    def send_watch(self, str key):
        """IPROTO_WATCH: register a watcher of key on this connection, or
        acknowledge its last IPROTO_EVENT (the server sends the next one only
        then). No reply; nothing is pending."""
        return self._send_watch(tnt.IPROTO_WATCH, key)

    def send_unwatch(self, str key):
        """IPROTO_UNWATCH: no more events of key on this connection."""
        return self._send_watch(tnt.IPROTO_UNWATCH, key)

    cdef int _send_watch(self, uint32_t op, str key) except -1:
        cdef WatchRequest req
        if self.state != CS_READY:
            raise TarantoolNotConnectedError('not connected to Tarantool at {}'.format(self.peer))
        req = WatchRequest.__new__(WatchRequest)
        req.op = op
        req.key = key
        req.system = True
        # a sync of its own: an error reply (a packet the server could not
        # parse) finds nothing pending and is counted in late_replies
        req.sync = self._next_sync()
        self._encode(req)
        self._schedule_flush()
        return 0

    def watch_once(self, str key, double timeout=-1.0):
        """IPROTO_WATCH_ONCE (3.0+): a request whose reply's body is [value] or []."""
        cdef WatchOnceRequest req = WatchOnceRequest.__new__(WatchOnceRequest)
        req.op = tnt.IPROTO_WATCH_ONCE
        req.key = key
        req.check_schema = False
        return self.execute(req, timeout)

    def park(self):
        """Make this (unconnected) protocol a waiting room: the requests given to it
        wait, with their timers, until adopt() moves them to a connected protocol."""
        if self.transport is not None or self.state != CS_GREETING:
            raise AssertionError('only a protocol that never connected can be parked')
        self.state = CS_PARKED

    def is_parked(self):
        return self.state == CS_PARKED

    def adopt(self, BaseProtocol room):
        """Send the requests waiting in a parked protocol on this (ready) one,
        each with what is left of its timeout. Returns how many were sent."""
        cdef PendingTable waiting
        cdef Request req
        cdef TimerBucket bucket
        cdef double now, deadline
        cdef int rc
        cdef Py_ssize_t n = 0
        if self.state != CS_READY or room.state != CS_PARKED:
            raise AssertionError('adopt() moves requests from a parked protocol to a ready one')
        waiting = room.pending
        room.pending = PendingTable()
        for bucket in room.timers.values():
            bucket.armed = False
            bucket.handle.cancel()
        room.timers = {}
        now = lt_monotonic()
        for obj in sorted(waiting.values(), key=_by_sync):
            req = <Request> obj
            if req.finished:
                continue
            req.timer_bucket = None
            deadline = req.deadline
            req.sync = self._next_sync()
            req.proto = self
            self.pending.put(req.sync, req)
            if deadline > 0:
                if deadline <= now:
                    self.pending.pop(req.sync)
                    self.timeouts += 1
                    self._finish(req)
                    req._fail(_asyncio.TimeoutError(
                        'Tarantool {} request timed out after {:g} s'.format(
                            _REQUEST_NAMES.get(req.op, req.op), req.timeout)))
                    continue
                self._add_to_bucket(req, <int64_t> ceil(deadline * 1000.0))
            try:
                rc = self._encode(req)
            except BaseException as e:
                self._fail_request(req, e)
                continue
            if rc != 0:
                if not self.auto_refetch_schema:
                    self._fail_request(req, TarantoolSchemaError(self._miss_message(req)))
                    continue
                self._on_miss(req)
            n += 1
        self._schedule_flush()
        return n

    def fail_parked(self, exc_type, str message):
        """Fail every request waiting in this parked protocol."""
        cdef list waiting = self.pending.values()
        cdef Request req
        cdef TimerBucket bucket
        self.pending = PendingTable()
        for bucket in self.timers.values():
            bucket.armed = False
            bucket.handle.cancel()
        self.timers = {}
        for obj in waiting:
            req = <Request> obj
            self._finish(req)
            req._fail(exc_type(message))
        return len(waiting)

    def inflight_waiters(self):
        """The requests sent and not answered yet (each a Future-compatible object)."""
        return self.pending.values()

    def set_ready(self):
        if self.state == CS_CONNECTED:
            self.state = CS_READY

    def close(self):
        if self.transport is not None:
            self.transport.close()

    def abort(self):
        if self.transport is not None:
            self.transport.abort()

    def is_connected(self):
        return self.state == CS_CONNECTED or self.state == CS_READY

    def is_ready(self):
        return self.state == CS_READY

    def pending_count(self):
        """Requests awaiting a reply (timed-out and cancelled ones are dropped at once)."""
        return self.pending.size()

    def read_buffer_size(self):
        """Bytes allocated for the read buffer."""
        return len(self.rbuf)

    def timer_count(self):
        """Armed timeout buckets: one per millisecond of deadlines still pending."""
        return len(self.timers)

    def _drop_cancelled(self, Request req):
        # The caller gave up (its task was cancelled, wait_for timed out): the
        # entry and its timer go now; a late reply is counted in late_replies.
        if self.pending.get(req.sync) is req:
            self.pending.pop(req.sync)
            self.cancelled += 1
        self._finish(req)

    @property
    def schema_id(self):
        return self.schema.id

    # -- sending -------------------------------------------------------------

    cdef inline uint64_t _next_sync(self):
        self.next_sync_ += 1
        return self.next_sync_

    cdef object execute(self, Request req, double timeout):
        # What the request methods return: the request itself, an awaitable
        # with asyncio's Future interface (see Request in requests.pyx).
        if self.state != CS_READY:
            if self.state == CS_PARKED:
                return self._park(req, timeout)
            raise TarantoolNotConnectedError(
                'not connected to Tarantool at {}'.format(self.peer))
        self._submit(req, timeout)
        return req

    cdef object _park(self, Request req, double timeout):
        # A waiting room (after a graceful-shutdown announcement): pending and
        # timed as if sent, encoded by adopt() on the new connection from a copy
        # of the caller's values as they are now.
        req.sync = self._next_sync()
        req.loop = self.loop
        req.proto = self
        self.pending.put(req.sync, req)
        if timeout < 0:
            timeout = self.request_timeout
        if timeout > 0:
            self._arm_timer(req, timeout)
        req.snapshot()
        return req

    cdef object _submit(self, Request req, double timeout):
        cdef int rc
        req.sync = self._next_sync()
        rc = self._encode(req)
        if rc != 0:
            if self.send_names and not req.system:
                req.by_name = True    # no schema: IPROTO_SPACE_NAME / INDEX_NAME
                rc = self._encode(req)
            elif not self.auto_refetch_schema:
                raise TarantoolSchemaError(self._miss_message(req))
        req.loop = self.loop
        req.proto = self
        if LOADTNT_DEBUG and self.pending.get(req.sync) is not None:
            raise AssertionError('sync {} is already pending'.format(req.sync))
        self.pending.put(req.sync, req)
        if timeout < 0:
            timeout = self.request_timeout
        if timeout > 0:
            self._arm_timer(req, timeout)
        if rc != 0:
            # encoded later, when the schema knows the name: from a copy of
            # the caller's values as they are now
            req.snapshot()
            self._on_miss(req)
        else:
            self._schedule_flush()
        return req

    cdef int _encode(self, Request req) except -1:
        # A request started while another is being encoded (from a finalizer
        # the GC ran, or a value's __index__ or as_tuple) is encoded on its own
        # and appended after the packet in progress: packets never interleave.
        cdef int rc
        cdef Py_ssize_t start
        if self.encoding_busy:
            return self._encode_aside(req)
        self.encoding_busy = True
        try:
            start = self.wbuf.size
            rc = self._encode_into(self.wbuf, req)
            if rc == 0 and req.check_schema:
                self._note_sent(req, start)
        finally:
            self.encoding_busy = False
            if self.deferred is not None:
                self._append_deferred()
        return rc

    cdef int _encode_into(self, WriteBuffer buf, Request req) except -1:
        cdef Py_ssize_t start = buf.begin_packet()
        cdef int rc
        cdef int64_t schema_id = 0
        if req.check_schema and self.auto_refetch_schema and self.schema.id > 0:
            schema_id = self.schema.id
        try:
            buf.put_header(req.op, req.sync, <uint64_t> schema_id, req.stream_id)
            rc = req.encode_body(buf, self.schema)
        except RecursionError as e:
            buf.rollback(start)
            if isinstance(e, ValueNestingError):
                raise
            raise ValueNestingError('cannot encode a value nested this deeply, or one that '
                                    'contains itself ({})'.format(e)) from None
        except BaseException:
            buf.rollback(start)
            raise
        if rc != 0:
            buf.rollback(start)
            return rc
        buf.end_packet(start)
        req.tail_off = req.tail_mark - start
        return 0

    cdef int _encode_aside(self, Request req) except -1:
        cdef WriteBuffer buf = WriteBuffer()
        cdef int rc
        buf.utf8 = self.wbuf.utf8
        buf.encoding = self.wbuf.encoding
        rc = self._encode_into(buf, req)
        if rc == 0:
            if self.deferred is None:
                self.deferred = []
            self.deferred.append((req, buf.take()))
        return rc

    cdef int _append_deferred(self) except -1:
        cdef list deferred = self.deferred
        cdef Request req
        cdef bytes data
        cdef Py_ssize_t start
        self.deferred = None
        for req, data in deferred:
            start = self.wbuf.size
            self.wbuf.put_raw(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
            if req.check_schema:
                self._note_sent(req, start)
        return 0

    cdef inline int _note_sent(self, Request req, Py_ssize_t start) except -1:
        # where the packet lies in this loop turn's write: kept for a resend
        if self.batch is None:
            self.batch = _Batch.__new__(_Batch)
        req.batch = self.batch
        req.pkt_start = start
        req.pkt_len = self.wbuf.size - start
        return 0

    cdef int _resend_saved(self, Request req) except -1:
        # Send a request again as it was first encoded (never from the
        # caller's objects, which may have changed since): a new header and
        # space/index head for the new schema, then the rest copied.
        cdef bytes data = req.batch.data if req.batch is not None else None
        cdef SchemaSpace sp
        cdef SchemaIndex idx = None
        cdef Py_ssize_t start
        if data is None:
            raise TarantoolSchemaError('{} request to {} was lost before it could be sent again'
                                       .format(_REQUEST_NAMES.get(req.op, req.op), self.peer))
        sp = req._target_space(self.schema)
        if sp is not None and req.op != tnt.IPROTO_INSERT and req.op != tnt.IPROTO_REPLACE \
                and req.op != tnt.IPROTO_UPSERT:
            idx = sp.get_index(req.index)
            if idx is None:
                sp = None
        if sp is None:
            raise TarantoolSchemaError(self._miss_message(req))
        if req.used_names and not _same_names(<Metadata> req.sent_format, sp.metadata):
            raise TarantoolSchemaError(
                'the format of space {!r} changed while a {} request that names its fields was '
                'in flight; it was not sent again'.format(
                    req.space, _REQUEST_NAMES.get(req.op, req.op)))
        start = self.wbuf.begin_packet()
        self.wbuf.put_header(req.op, req.sync, <uint64_t> max(self.schema.id, 0), req.stream_id)
        req._put_target(self.wbuf, req.nkeys, sp, idx)
        self.wbuf.put_raw(PyBytes_AS_STRING(data) + req.pkt_start + req.tail_off,
                          req.pkt_len - req.tail_off)
        self.wbuf.end_packet(start)
        req.tail_off = req.tail_mark - start
        self._note_sent(req, start)
        return 0

    cdef int _schedule_flush(self) except -1:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush_cb)
        self.unflushed += 1
        if (self.unflushed >= _FLUSH_EVERY or self.wbuf.size >= _FLUSH_BYTES) \
                and not self.encoding_busy:
            self._write_out()
        return 0

    def _run_ready(self):
        # The wakeups of the Tasks whose requests this read answered, each in
        # its context, as the loop would run them one by one from call_soon:
        # one loop callback for the batch instead of one Handle per request.
        # An exception is the loop's to report, as a Handle's is; the rest run.
        cdef list ready = self.ready
        cdef Request req
        cdef Py_ssize_t i, n = PyList_GET_SIZE(ready)
        self.ready = []
        for i in range(n):
            req = <Request> PyList_GET_ITEM(ready, i)
            fn = req.cb0
            if fn is None:
                continue    # removed, or moved to a waiter since
            ctx = req.ctx0
            req.cb0 = None
            req.ctx0 = None
            try:
                PyContext_Enter(ctx)
            except Exception:
                # that context is running already (a callback that added the
                # request's callback with its own context), or is not one:
                # the loop runs it, or says what is wrong with it
                self.loop.call_soon(fn, req, context=ctx)
                continue
            try:
                if req.cb0_wakeup:
                    # a C Task's wakeup reads only whether the future it is
                    # given raised, then steps the coroutine, whose await
                    # returns the request's response (Request._step)
                    fn(self.done_fut)
                else:
                    fn(req)
            except (SystemExit, KeyboardInterrupt):
                PyContext_Exit(ctx)
                if i + 1 < n:     # the rest still run, after the loop stops
                    self.ready.extend(ready[i + 1:])
                    self.loop.call_soon(self.ready_cb)
                raise
            except BaseException as e:
                PyContext_Exit(ctx)
                self.loop.call_exception_handler({
                    'message': 'Exception in callback {!r}({!r})'.format(fn, req),
                    'exception': e,
                    'protocol': self,
                })
                continue
            PyContext_Exit(ctx)

    def _flush(self):
        self.flush_scheduled = False
        self._write_out()

    cdef int _write_out(self) except -1:
        cdef _Batch batch = self.batch
        cdef bytes data
        self.unflushed = 0
        self.batch = None
        if self.wbuf.size == 0:
            return 0
        if self.transport is None or self.state == CS_CLOSED:
            self.wbuf.clear()
            return 0
        data = self.wbuf.take()
        if batch is not None:
            batch.data = data
        self.transport.write(data)
        return 0

    # -- timeouts ------------------------------------------------------------

    cdef int _arm_timer(self, Request req, double timeout) except -1:
        if not timeout < _MAX_TIMEOUT:
            return 0    # inf, or centuries: no timer (and no int64 overflow)
        req.timeout = timeout
        req.deadline = lt_monotonic() + timeout
        return self._add_to_bucket(req, <int64_t> ceil(req.deadline * 1000.0))

    cdef int _add_to_bucket(self, Request req, int64_t key) except -1:
        # Deadlines are bucketed by millisecond: one loop timer per bucket,
        # cancelled as soon as the last of its requests is answered.
        cdef TimerBucket bucket
        cdef PyObject *p = PyDict_GetItem(self.timers, key)
        if p is NULL:
            bucket = TimerBucket.__new__(TimerBucket)
            bucket.key = key
            bucket.handle = self.loop.call_at(key / 1000.0, self.timer_cb, key)
            bucket.armed = True
            self.timers[key] = bucket
        else:
            bucket = <TimerBucket> p
        bucket.append(req.sync)
        bucket.live += 1
        req.timer_bucket = bucket
        return 0

    cdef inline int _finish(self, Request req) except -1:
        # The request is no longer pending: release its timer slot (the
        # bucket's timer is cancelled with its last request) and the protocol.
        cdef TimerBucket bucket
        req.finished = True
        req.proto = None
        req.batch = None      # never sent again: the flush's bytes need not outlive it
        if req.push is not None:
            (<_PushState> req.push).wake()    # its iterators end (or raise)
        if req.timer_bucket is not None:
            bucket = <TimerBucket> req.timer_bucket
            req.timer_bucket = None
            bucket.live -= 1
            if bucket.live == 0 and bucket.armed:
                bucket.armed = False
                bucket.handle.cancel()
                PyDict_DelItem(self.timers, bucket.key)
        return 0

    def _on_timer(self, int64_t key):
        self._fire_timer(key)

    cdef int _fire_timer(self, int64_t key) except -1:
        cdef TimerBucket bucket
        cdef Request req
        cdef object p
        cdef Py_ssize_t i
        cdef uint64_t sync
        cdef double now
        bucket = self.timers.pop(key, None)
        if bucket is None:
            return 0
        bucket.armed = False
        now = lt_monotonic()
        for i in range(bucket.n):
            sync = bucket.syncs[i]
            p = self.pending.get(sync)
            if p is None:
                continue
            req = <Request> p
            if req.timer_bucket is not bucket:
                continue
            if req.deadline > now:
                # the loop's clock runs in coarse steps (uvloop: 1 ms) and
                # may fire early: never expire a request before its time
                req.timer_bucket = None
                self._add_to_bucket(req, max(<int64_t> ceil(req.deadline * 1000.0), key + 1))
                continue
            self.pending.pop(sync)
            self.timeouts += 1
            self._finish(req)
            req._fail(_asyncio.TimeoutError(
                'Tarantool {} request timed out after {:g} s'.format(
                    _REQUEST_NAMES.get(req.op, req.op), req.timeout)))
        return 0

    # -- receiving -----------------------------------------------------------

    cdef int _on_greeting(self) except -1:
        if not self.greeting_waiter.done():
            self.greeting_waiter.set_result((self.version, self.salt))
        return 0

    cdef int _on_packet(self, const char *p, const char *end) except -1:
        cdef:
            uint32_t nkeys, i
            uint64_t key
            uint64_t code = 0xffffffffffffffff
            uint64_t sync = 0
            int64_t schema_id = 0
            bint has_sync = False
            object popped
            Request req
            Response resp
            object waiter
        nkeys = mp_map_len_fast(&p, end)
        for i in range(nkeys):
            key = mp_uint_fast(&p, end)
            if key == tnt.IPROTO_REQUEST_TYPE:
                code = mp_uint_inline(&p, end)
            elif key == tnt.IPROTO_SYNC:
                sync = mp_uint_inline(&p, end)
                has_sync = True
            elif key == tnt.IPROTO_SCHEMA_VERSION:
                schema_id = <int64_t> mp_uint_inline(&p, end)
            else:
                mp_skip(&p, end)
        if not has_sync or code == 0xffffffffffffffff:
            if code == tnt.IPROTO_EVENT:
                return self._on_event(p, end)
            raise ProtocolError('response header without {}'.format(
                'IPROTO_SYNC' if not has_sync else 'IPROTO_REQUEST_TYPE'))
        if code == tnt.IPROTO_CHUNK:
            return self._on_push(sync, p, end)    # box.session.push; the final reply follows
        if code != tnt.IPROTO_OK and not (code & tnt.IPROTO_TYPE_ERROR):
            if code == tnt.IPROTO_EVENT:
                return self._on_event(p, end)    # box.broadcast, sync 0
            raise ProtocolError('unexpected response type 0x{:x}'.format(code))
        if sync >= SINK_SYNC_BASE and self.sink is not None:
            return self.sink.on_reply(sync, code, schema_id, p, end)
        popped = self.pending.pop(sync)
        if popped is None:
            self.late_replies += 1    # timed out before: discarded
            return 0
        req = <Request> popped

        if req.push is None:
            resp = Response.__new__(Response)
        else:
            resp = (<_PushState> req.push).response    # the one PushIterator.response shows
            resp.pending_ = False
        resp.sync_ = sync
        resp.code_ = <uint32_t> code
        resp.schema_id_ = schema_id
        resp.encoding = self.encoding
        if code != tnt.IPROTO_OK:
            resp.return_code_ = <uint32_t> (code & 0x7fff)
        if p != end:
            try:
                self._parse_body(p, end, resp, req)
            except TarantoolError as e:
                self._fail_request(req, e)
                raise
            except Exception as e:
                # whatever odd input made the decoder raise, the caller sees a
                # protocol error (the connection is closed by buffer_updated)
                err = ProtocolError('malformed {} response from {}: {!r}'.format(
                    _REQUEST_NAMES.get(req.op, req.op), self.peer, e))
                err.__cause__ = e
                self._fail_request(req, err)
                raise err

        if (schema_id > 0 and schema_id != self.schema.id and self.state == CS_READY
                and self.auto_refetch_schema and not req.system):
            self._start_schema_refetch(-1.0)

        waiter = req.waiter
        if code == tnt.IPROTO_OK:
            self._finish(req)
            req.result_ = resp
            if waiter is None:
                # no asyncio.Future: the awaiting Task's wakeup (if it awaits
                # yet) runs with this read's other answered requests
                if req.cb0 is not None:
                    if PyList_GET_SIZE(self.ready) == 0:
                        self.loop.call_soon(self.ready_cb)
                    self.ready.append(req)
                return 0
            try:
                waiter.set_result(resp)
            except _asyncio.InvalidStateError:
                # cancelled without our knowing: the reply is dropped, and the
                # request reads as cancelled (result() raises), as its waiter does
                req.result_ = None
            return 0
        if (resp.return_code_ == tnt.ER_WRONG_SCHEMA_VERSION and not req.resent
                and self.auto_refetch_schema):
            req.resent = True
            self.pending.put(sync, req)
            self._wait_schema(req)
            return 0
        self._finish(req)
        if req.probe:
            return self._probe_failed(req, resp)
        req._fail(TarantoolDatabaseError(
            resp.return_code_, resp.errmsg if resp.errmsg is not None else '', resp.error))
        return 0

    cdef int _probe_failed(self, Request req, Response resp) except -1:
        # The server's word on a name the schema lacks (see _probe_by_name).
        cdef str server = resp.errmsg if resp.errmsg is not None else ''
        cdef str message
        if resp.return_code_ == ER_ACCESS_DENIED_CODE:
            message = ('{!r} exists on {} but user {!r} may not access it, so the schema this '
                       'user sees does not list it (the server says: {}); grant the privilege, '
                       'and the next request finds it'.format(
                           req.space, self.peer, self.user or 'guest', server))
        elif self.schema.get_space(req.space) is None:
            message = ('space {!r} does not exist on {} (the server says: {})'.format(
                req.space, self.peer, server))
        else:
            message = ('index {!r} does not exist in space {!r} on {} (the server says: {})'
                       .format(req.index, req.space, self.peer, server))
        self._remember_miss(req, message, resp.return_code_)
        req._fail(SchemaMissError(resp.return_code_, message, resp.error))
        return 0

    cdef int _on_push(self, uint64_t sync, const char *p, const char *end) except -1:
        # An IPROTO_CHUNK: {IPROTO_DATA: [value]}, queued on the request's
        # _PushState. One for a request that did not subscribe (or is no
        # longer pending) is dropped and counted.
        cdef object rp = self.pending.get(sync)
        cdef uint32_t n, i
        cdef object data = None
        if rp is None or (<Request> rp).push is None:
            self.dropped_pushes += 1
            return 0
        if self.tuple_ctx is not None and p != end:
            self.tuple_ctx.load_formats(p, end)
        n = mp_decode_map_len(&p, end) if p != end else 0
        for i in range(n):
            if mp_decode_uint(&p, end) == tnt.IPROTO_DATA:
                data = mp_decode_obj(&p, end, self.encoding if self.tuple_ctx is None
                                     else self.tuple_ctx)
            else:
                mp_skip(&p, end)
        if p != end:
            raise ProtocolError('{} trailing bytes after a push body'.format(end - p))
        if type(data) is not list:
            raise ProtocolError('IPROTO_CHUNK from {} without an IPROTO_DATA array'.format(
                self.peer))
        return (<_PushState> (<Request> rp).push).add(data)

    cdef int _on_event(self, const char *p, const char *end) except -1:
        # An IPROTO_EVENT: {IPROTO_EVENT_KEY: key[, IPROTO_EVENT_DATA: value]}
        # (no data: the key has no value). Handed to the lifecycle's on_event,
        # which keeps the key's state and calls the user's callbacks later,
        # outside this read path.
        cdef uint32_t n, i
        cdef uint64_t k
        cdef object key = None
        cdef object data = None
        n = mp_decode_map_len(&p, end) if p != end else 0
        for i in range(n):
            k = mp_decode_uint(&p, end)
            if k == tnt.IPROTO_EVENT_KEY:
                key = mp_decode_obj(&p, end, self.encoding)
            elif k == tnt.IPROTO_EVENT_DATA:
                data = mp_decode_obj(&p, end, self.encoding)
            else:
                mp_skip(&p, end)
        if p != end:
            raise ProtocolError('{} trailing bytes after an event body'.format(end - p))
        if type(key) is not str:
            raise ProtocolError('IPROTO_EVENT from {} without a string IPROTO_EVENT_KEY'.format(
                self.peer))
        if self.on_event is not None:
            self.on_event(self, key, data)
        return 0

    # -- schema --------------------------------------------------------------

    cdef int _wait_schema(self, Request req) except -1:
        self.schema_waiting.append(req)
        self._start_schema_refetch(-1.0)
        return 0

    # A name the schema does not know makes the driver fetch the schema again
    # before it gives up: a space granted after connect is found so (a grant
    # does not change the schema version, so nothing else would tell). A name
    # that is really missing must not make every request a refetch (two
    # selects of _vspace/_vindex, proportional to the schema's size): once a
    # refetch did not find it, requests naming it fail at once for
    # MISS_RETRY_AFTER seconds, then the next one refetches again. Misses that
    # come while a refetch is in flight wait for that one (_start_schema_refetch).

    cdef object _miss_key(self, Request req):
        if self.schema.get_space(req.space) is None:
            return req.space
        return (req.space, req.index)

    cdef int _on_miss(self, Request req) except -1:
        cdef object key
        cdef object seen
        cdef double age
        if self.missing:
            key = self._miss_key(req)
            seen = self.missing.get(key)
            if seen is not None:
                age = lt_monotonic() - <double> (<tuple> seen)[0]
                if age < MISS_RETRY_AFTER:
                    message = ('{} (not found again by a schema fetch {:.2f} s ago; the next '
                               'request naming it after {:g} s fetches the schema again)'.format(
                                   (<tuple> seen)[1] or self._miss_message(req), age,
                                   MISS_RETRY_AFTER))
                    self._fail_request(req, SchemaMissError((<tuple> seen)[2], message, None)
                                       if (<tuple> seen)[2] else TarantoolSchemaError(message))
                    return 0
                del self.missing[key]
        self._wait_schema(req)
        return 0

    cdef object _start_schema_refetch(self, double timeout):
        cdef SelectRequest spaces, indexes
        if self.schema_future is not None:
            return self.schema_future
        fut = self.create_future()
        fut.add_done_callback(_consume_exception)
        self.schema_future = fut
        spaces = _system_select(tnt.SPACE_VSPACE)
        indexes = _system_select(tnt.SPACE_VINDEX)
        try:
            both = _asyncio.gather(self._submit(spaces, timeout), self._submit(indexes, timeout))
        except BaseException as e:
            self.schema_future = None
            fut.set_exception(e)
            return fut
        both.add_done_callback(self._on_schema_fetched)
        return fut

    def _on_schema_fetched(self, both):
        fut = self.schema_future
        self.schema_future = None
        if both.cancelled():
            exc = TarantoolSchemaError('schema fetch was cancelled')
        else:
            exc = both.exception()
        if exc is None:
            spaces, indexes = both.result()
            try:
                self.schema = schema_parse(
                    (<Response> spaces).schema_id_, spaces.body, indexes.body)
            except Exception as e:
                exc = e
        if exc is not None:
            err = TarantoolSchemaError('could not fetch the schema: {}'.format(exc))
            err.__cause__ = exc
            waiting = self.schema_waiting
            self.schema_waiting = []
            for req in waiting:
                self._fail_request(req, err)
            if fut is not None and not fut.done():
                fut.set_exception(err)
            return
        if fut is not None and not fut.done():
            fut.set_result(self.schema)
        self._resend_after_schema()

    cdef int _resend_after_schema(self) except -1:
        cdef list waiting = self.schema_waiting
        cdef Request req
        cdef int rc
        self.schema_waiting = []
        for obj in waiting:
            req = <Request> obj
            if req.finished or self.state == CS_CLOSED:
                if not req.finished:
                    self.pending.pop(req.sync)
                    self._finish(req)
                continue
            try:
                if req.batch is not None:
                    # sent before and refused for a stale schema: as sent
                    self._resend_saved(req)
                    continue
                # never sent (a name the schema did not know): from the copy
                rc = self._encode(req)
            except BaseException as e:
                self._fail_request(req, e)
                continue
            if rc != 0 and self._probe_by_name(req):
                continue
            if rc != 0:
                self._remember_miss(req, None, 0)
                self._fail_request(req, TarantoolSchemaError(self._miss_message(req)))
        self._schedule_flush()
        return 0

    cdef int _remember_miss(self, Request req, object message, uint32_t code=0) except -1:
        if len(self.missing) >= 1024:    # bounded: a client naming random spaces
            self.missing.clear()
        self.missing[self._miss_key(req)] = (lt_monotonic(), message, code)
        return 0

    cdef bint _probe_by_name(self, Request req) except -1:
        # The refetched schema still lacks the name: a space that does not exist
        # and one this user may not see look the same in _vspace. A 3.0+ server
        # takes names in requests (space_and_index_names) and answers which it is
        # (ER_NO_SUCH_SPACE / ER_NO_SUCH_INDEX_NAME, or ER_ACCESS_DENIED): the
        # request goes by name once, and its error becomes a TarantoolSchemaError
        # that says so (_on_response). Returns whether it was sent.
        cdef int rc
        if req.system or req.by_name or not (
                self.feature_mask & (1 << tnt.IPROTO_FEATURE_SPACE_AND_INDEX_NAMES)):
            return False
        if not isinstance(req.space, str) and not isinstance(req.index, str):
            return False
        req.by_name = True
        req.probe = True
        try:
            rc = self._encode(req)
        except BaseException:
            rc = 1
        if rc != 0:
            req.by_name = req.probe = False
            return False
        return True

    cdef str _miss_message(self, Request req):
        cdef SchemaSpace sp = self.schema.get_space(req.space)
        if self.schema.id < 0 and not self.auto_refetch_schema:
            # no schema was fetched (fetch_schema=False)
            return ('{} {!r} is given by name, but no schema was fetched (fetch_schema=False): '
                    'names in requests need Tarantool 3.0 or later (the IPROTO feature '
                    'space_and_index_names); the server at {} is {}; use ids, or '
                    'fetch_schema=True'.format(
                        'space' if sp is None else 'index',
                        req.space if sp is None else req.index, self.peer,
                        '.'.join(map(str, self.version or ())) or '?'))
        if sp is None:
            return ('space {!r} not found in the schema of {} (schema id {}) as user {!r} sees '
                    'it: it does not exist, or this user has no privilege on it (a user\'s '
                    'schema lists only what it may access)'.format(
                        req.space, self.peer, self.schema.id, self.user or 'guest'))
        return 'index {!r} not found in space {!r} of {} (schema id {})'.format(
            req.index, req.space, self.peer, self.schema.id)

    # -- failure -------------------------------------------------------------

    cdef int _fail_request(self, Request req, object exc) except -1:
        if self.pending.get(req.sync) is req:
            self.pending.pop(req.sync)
        self._finish(req)
        if req.loop is not None:
            req._fail(exc)
        return 0

    cdef int _fail_all(self, object cause) except -1:
        cdef list pending = self.pending.values()
        cdef Request req
        cdef TimerBucket bucket
        self.pending = PendingTable()
        self.schema_waiting = []
        for bucket in self.timers.values():
            bucket.armed = False
            bucket.handle.cancel()
        self.timers = {}
        self.wbuf.clear()
        self.batch = None
        msg = 'lost connection to Tarantool at {}{}'.format(
            self.peer, ': {}'.format(cause) if cause else '')
        cls = type(cause) if isinstance(cause, ProtocolError) else TarantoolNotConnectedError
        for obj in pending:
            req = <Request> obj
            self._finish(req)
            exc = cls(msg)
            exc.__cause__ = cause
            req._fail(exc)
        return 0

    cdef int _close_with(self, object exc) except -1:
        if self.lost_exc is None:
            self.lost_exc = exc
        self.state = CS_CLOSED
        self._fail_all(exc)
        if self.transport is not None:
            self.transport.abort()
        return 0


def _by_sync(req):
    return (<Request> req).sync


cdef class TupleExtBaseProtocol(BaseProtocol):
    # A connection with tuple_extension=True: replies go through
    # _parse_body_ext (MP_TUPLE formats). A subclass, so that the plain
    # protocol's reply path has no check for it.

    cdef int _parse_body(self, const char *p, const char *end, Response resp,
                         Request req) except -1:
        return self._parse_body_ext(p, end, resp, req)


cdef SelectRequest _system_select(int space_id):
    cdef SelectRequest req = SelectRequest.__new__(SelectRequest)
    req.op = tnt.IPROTO_SELECT
    req.space = space_id
    req.index = 0
    req.key = None
    req.offset = 0
    req.limit = 0xffffffff
    req.iterator = 2    # ALL
    req.check_schema = False
    req.system = True
    req.parse_as_tuples = False
    return req


cdef bint _same_names(Metadata a, Metadata b):
    # Whether two space formats name the same fields at the same positions.
    cdef list na = a.names if a is not None else None
    cdef list nb = b.names if b is not None else None
    if not na and not nb:
        return True
    return na == nb
