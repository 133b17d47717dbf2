# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The harness's load loop in C (``drivers: [loadtnt-c]``): no asyncio Task or Future per request.

A :class:`CLoop` drives the *slots* of one connection (a scenario's coroutines, as many as it has
on that connection). It encodes each slot's request straight into loadtnt.driver's write buffer,
with a sync of its own (from ``SINK_SYNC_BASE`` up), and the protocol hands the replies with such
syncs to the loop (:class:`ReplySink`) instead of to a pending request's future. A reply records
its latency into the op's Cython recorder and, in closed loop, the slot's next request is sent at
once; in open loop the scheduler (Python, :class:`loadtnt.worker.load.Phase`) submits each due
slot, which goes out on an idle slot or waits in a backlog for the next reply.

What the coroutine path does per request and this one does not: a Task step, a Future, a Request
object, a Response, the body's values as Python objects, the pending dict. What it keeps: the
driver's connection (greeting, auth, schema, the write coalescing: one write per 64 requests or
per loop turn), its request encoders (the same ``Request.encode_body``), the same latency
definition (from just before the request is encoded to the reply's arrival; in open loop from
the intended time too), the same error kinds (a database error with its code and message,
timeouts, a lost connection) and the closed loop's back-off after repeated failures.

A successful reply's body is walked (its MessagePack checked, so a malformed one still closes
the connection) but not decoded. A constant request (ping, a select of one key, a call without
varying arguments) is encoded once and copied per send with its sync patched in; a request with
generated values calls the scenario's generators and encodes them per send.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memset

cimport loadtnt.driver.iproto.tarantool as tnt
from loadtnt.driver.iproto.protocol cimport (
    CS_READY,
    SINK_SYNC_BASE,
    BaseProtocol,
    CallRequest,
    DeleteRequest,
    EvalRequest,
    ExecuteRequest,
    InsertRequest,
    ReplySink,
    Request,
    Response,
    SelectRequest,
    UpdateRequest,
    UpsertRequest,
    WriteBuffer,
    _args_list,
    mp_skip,
    new_call,
    new_delete,
    new_eval,
    new_execute,
    new_insert,
    new_ping,
    new_select,
    new_update,
    new_upsert,
)
from loadtnt.histogram._recorder cimport Recorder
from loadtnt.worker._hotloop cimport Budget, now_ns

import asyncio

from loadtnt.driver.exceptions import (
    TarantoolDatabaseError,
    TarantoolNotConnectedError,
    TarantoolSchemaError,
)

cdef extern from "mp.h":
    void lt_store_u64(char *p, uint64_t v)

from loadtnt.drivers.loadtnt_c import C_OPS as OPS  # what it sends (not transactions, crud)

cdef enum:
    K_CONST = 0       # the whole packet encoded once: a template with its sync patched in
    K_KEY = 1         # select, delete: the key generated per request
    K_TUPLE = 2       # insert, replace: the tuple
    K_KEY_OPS = 3     # update: the key and/or the operations
    K_TUPLE_OPS = 4   # upsert: the tuple and/or the operations
    K_ARGS = 5        # call, call16, eval, execute: the arguments

cdef enum:
    SLOT_BITS = 20                   # a sync is SINK_SYNC_BASE | generation << 20 | slot
    MAX_SLOTS = 1 << SLOT_BITS
    LATE_NS = 1000000                # a send this late counts in late_sends (as load.py)

cdef double BACKOFF_MIN_S = 0.001     # closed loop: after the second failure in a row, doubling
cdef double BACKOFF_MAX_S = 0.1       # ... up to this (as load.py)


cdef class COp:
    """One operation of a scenario, ready for :class:`CLoop`: its request, encoded once when
    nothing in it varies, else with the generators of the fields that do."""

    cdef readonly str op
    cdef readonly object conn       # the loadtnt.driver Connection it was built on
    cdef Request req
    cdef int kind
    cdef object g1, g2              # generators: key/tuple/args, and operations
    cdef bytes template             # K_CONST: the packet; its sync's 8 bytes at sync_off
    cdef Py_ssize_t sync_off
    cdef readonly bint is_c_op

    def __init__(self, conn, str op, dict consts, dict gens):
        """``conn``: a connected loadtnt.driver Connection; ``consts``: the op's constant
        fields (``space``, ``key``, ``function``...); ``gens``: zero-argument callables of the
        fields that vary per request. Names are resolved with the connection's schema now: a
        space or index it does not know raises TarantoolSchemaError."""
        cdef BaseProtocol proto = conn._protocol
        cdef Request req
        cdef WriteBuffer scratch
        cdef bytes data, mark
        if op not in OPS:
            raise ValueError('loadtnt-c cannot send {!r} (it sends {})'.format(
                op, ', '.join(sorted(OPS))))
        if proto is None or proto.state != CS_READY:
            raise TarantoolNotConnectedError('not connected to Tarantool')
        self.op = op
        self.conn = conn
        self.is_c_op = True
        self.g1 = self.g2 = None

        def value(name, default=None):
            # a varying field is generated per send: an empty list stands in while the
            # request is built (a generator is never called here: a sequence keeps its start)
            return [] if name in gens else consts.get(name, default)

        space = consts.get('space')
        if op == 'ping':
            req = new_ping()
        elif op == 'select':
            req = new_select(space, value('key', []), consts.get('offset', 0),
                             consts.get('limit', 0xffffffff), consts.get('index', 0),
                             consts.get('iterator', 0), False)
            self._vary(K_KEY, gens.get('key'), None)
        elif op in ('insert', 'replace'):
            req = new_insert(space, value('tuple'), op == 'replace')
            self._vary(K_TUPLE, gens.get('tuple'), None)
        elif op == 'delete':
            req = new_delete(space, value('key'), consts.get('index', 0))
            self._vary(K_KEY, gens.get('key'), None)
        elif op == 'update':
            req = new_update(space, value('key'), value('operations'), consts.get('index', 0))
            self._vary(K_KEY_OPS, gens.get('key'), gens.get('operations'))
        elif op == 'upsert':
            req = new_upsert(space, value('tuple'), value('operations'))
            self._vary(K_TUPLE_OPS, gens.get('tuple'), gens.get('operations'))
        elif op in ('call', 'call16'):
            req = new_call(tnt.IPROTO_CALL if op == 'call' else tnt.IPROTO_CALL_16,
                           consts.get('function'), value('args'))
            self._vary(K_ARGS, gens.get('args'), None)
        elif op == 'eval':
            req = new_eval(consts.get('expression'), value('args'))
            self._vary(K_ARGS, gens.get('args'), None)
        else:
            req = new_execute(consts.get('query'), value('args'), False)
            self._vary(K_ARGS, gens.get('args'), None)
        # no schema version in the header: the space ids are the ones resolved here, and a
        # DDL during the run does not make the server refuse the requests
        req.check_schema = False
        req.sync = SINK_SYNC_BASE
        self.req = req
        scratch = WriteBuffer()
        if proto._encode_into(scratch, req) != 0:
            raise TarantoolSchemaError(proto._miss_message(req))
        if self.kind == K_CONST:
            data = scratch.take()
            mark = b'\xcf' + (<object> SINK_SYNC_BASE).to_bytes(8, 'big')
            self.sync_off = data.find(mark) + 1
            if self.sync_off <= 0:
                raise AssertionError('no sync in the encoded header')
            self.template = data

    cdef int _vary(self, int kind, object g1, object g2) except -1:
        if g1 is None and g2 is None:
            self.kind = K_CONST
        else:
            self.kind = kind
            self.g1, self.g2 = g1, g2
        return 0

    cdef int encode(self, BaseProtocol proto, uint64_t sync) except -1:
        cdef WriteBuffer wbuf
        cdef Request req = self.req
        cdef object v
        if self.kind == K_CONST:
            wbuf = proto.wbuf
            wbuf.put_raw(self.template, len(self.template))
            lt_store_u64(wbuf.buf + wbuf.size - len(self.template) + self.sync_off, sync)
            return 0
        if self.kind == K_KEY:
            v = self.g1()
            if type(req) is SelectRequest:
                (<SelectRequest> req).key = v
            else:
                (<DeleteRequest> req).key = v
        elif self.kind == K_TUPLE:
            (<InsertRequest> req).t = self.g1()
        elif self.kind == K_KEY_OPS:
            if self.g1 is not None:
                (<UpdateRequest> req).key = self.g1()
            if self.g2 is not None:
                v = self.g2()
                (<UpdateRequest> req).operations = v if v is not None else []
        elif self.kind == K_TUPLE_OPS:
            if self.g1 is not None:
                (<UpsertRequest> req).t = self.g1()
            if self.g2 is not None:
                v = self.g2()
                (<UpsertRequest> req).operations = v if v is not None else []
        else:
            v = _args_list(self.g1())
            if type(req) is CallRequest:
                (<CallRequest> req).args = v
            elif type(req) is EvalRequest:
                (<EvalRequest> req).args = v
            else:
                (<ExecuteRequest> req).args = v
        req.sync = sync
        if proto._encode(req) != 0:
            raise TarantoolSchemaError(proto._miss_message(req))
        return 0


cdef struct Slot:
    uint64_t sync       # of the request in flight; 0: none
    uint64_t gen        # sends so far (the sync's generation)
    int64_t t_sent      # ns: just before the request was encoded
    int64_t t_due       # open loop: the intended time
    int32_t op          # the op in flight
    int32_t fails       # consecutive failures (closed loop: back-off)


cdef struct Due:
    int64_t t
    int32_t op


cdef class CLoop(ReplySink):
    """The slots of one connection. Closed loop: :meth:`start` sends every slot's first
    request, and each reply sends that slot's next one until the shared :class:`Budget` is
    spent; ``await wait()`` returns when the last reply is in. Open loop (``open_loop=True``):
    :meth:`submit` sends a due slot on an idle slot or keeps it in the backlog; :meth:`finish`
    says no more will come, :meth:`cut` that the backlog is not to be sent (the window ended);
    ``await wait()`` returns when nothing is in flight (nor, unless cut, in the backlog)."""

    cdef object conn
    cdef BaseProtocol proto
    cdef list ops                 # COp per op index
    cdef list states              # the phase's OpState per op index
    cdef list recs                # states[k].rec (Recorder)
    cdef list service             # open loop: states[k].service
    cdef list lateness            # open loop: states[k].lateness
    cdef object on_error          # on_error(k, exc): the phase counts it by kind
    cdef Budget budget
    cdef Slot *slots
    cdef Py_ssize_t nslots
    cdef double *cum              # cumulative weights (a mix)
    cdef Py_ssize_t nops
    cdef uint64_t rng
    cdef readonly Py_ssize_t inflight
    cdef Py_ssize_t parked        # slots waiting on a back-off timer
    cdef bint open_loop
    cdef bint finishing           # open loop: no more submits
    cdef bint is_cut              # open loop: the backlog is not sent
    cdef int32_t *idle            # open loop: a stack of idle slots
    cdef Py_ssize_t nidle
    cdef Due *backlog             # open loop: a ring of due slots waiting for an idle one
    cdef Py_ssize_t bl_head, bl_len, bl_cap
    cdef int64_t timeout_ns
    cdef object timeout_handle
    cdef object loop
    cdef object done
    cdef object resume_cb
    cdef readonly uint64_t late_replies

    def __cinit__(self):
        self.slots = NULL
        self.cum = NULL
        self.idle = NULL
        self.backlog = NULL

    def __dealloc__(self):
        PyMem_Free(self.slots)
        PyMem_Free(self.cum)
        PyMem_Free(self.idle)
        PyMem_Free(self.backlog)

    def __init__(self, list ops, list states, weights, Py_ssize_t nslots, Budget budget,
                 on_error, *, double timeout=0.0, bint open_loop=False, uint64_t seed=0):
        cdef Py_ssize_t k
        cdef double total = 0.0
        if not ops or len(ops) != len(states) or len(ops) != len(weights):
            raise ValueError('ops, states and weights must be as many, and some')
        if not 0 < nslots < MAX_SLOTS:
            raise ValueError('slots must be between 1 and {}'.format(MAX_SLOTS - 1))
        self.conn = (<COp> ops[0]).conn
        for o in ops:
            if (<COp?> o).conn is not self.conn:
                raise ValueError("a CLoop's ops must be built on the same connection")
        self.ops = list(ops)
        self.states = list(states)
        self.recs = [s.rec for s in states]
        for r in self.recs:
            if not isinstance(r, Recorder):
                raise TypeError('a CLoop records into Cython Recorders (loadtnt.histogram)')
        self.open_loop = open_loop
        if open_loop:
            self.service = [s.service for s in states]
            self.lateness = [s.lateness for s in states]
        self.on_error = on_error
        self.budget = budget
        self.nops = len(ops)
        self.cum = <double *> PyMem_Malloc(self.nops * sizeof(double))
        self.slots = <Slot *> PyMem_Malloc(nslots * sizeof(Slot))
        self.idle = <int32_t *> PyMem_Malloc(nslots * sizeof(int32_t))
        if self.cum is NULL or self.slots is NULL or self.idle is NULL:
            raise MemoryError()
        memset(self.slots, 0, nslots * sizeof(Slot))
        for k in range(self.nops):
            total += float(weights[k])
            self.cum[k] = total
        if not total > 0:
            raise ValueError('the weights must add up to more than 0')
        self.nslots = nslots
        for k in range(nslots):
            self.idle[k] = <int32_t> (nslots - 1 - k)
        self.nidle = nslots
        self.rng = seed | 1
        self.timeout_ns = <int64_t> (timeout * 1e9) if timeout > 0 else 0
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        self.resume_cb = self._resume

    # -- the mix -----------------------------------------------------------

    cdef inline Py_ssize_t _pick(self) noexcept:
        cdef uint64_t x
        cdef double r
        cdef Py_ssize_t k = 0
        if self.nops == 1:
            return 0
        x = self.rng    # xorshift64*
        x ^= x >> 12
        x ^= x << 25
        x ^= x >> 27
        self.rng = x
        r = <double> ((x * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0)
        r *= self.cum[self.nops - 1]
        while k < self.nops - 1 and self.cum[k] <= r:
            k += 1
        return k

    # -- sending -----------------------------------------------------------

    cdef BaseProtocol _ready(self):
        # the connection's protocol, once it is ready (after a reconnect, a new one)
        cdef BaseProtocol p = self.proto
        if p is not None and p.state == CS_READY:
            return p
        p = self.conn._protocol
        if p is None or p.state != CS_READY:
            return None
        if p.sink is not None and p.sink is not self:
            raise RuntimeError('another load loop already runs on this connection')
        p.sink = self
        self.proto = p
        return p

    cdef int _send(self, Py_ssize_t i, Py_ssize_t k, int64_t t_due) except -1:
        # one request of op k on slot i; a failure to send counts as the request's error
        cdef Slot *s = &self.slots[i]
        cdef BaseProtocol p
        cdef uint64_t sync
        s.op = <int32_t> k
        s.t_due = t_due
        s.gen += 1
        sync = SINK_SYNC_BASE | ((s.gen & ((1ULL << 41) - 1)) << SLOT_BITS) | <uint64_t> i
        s.t_sent = now_ns()
        try:
            p = self._ready()
            if p is None:
                raise TarantoolNotConnectedError('not connected to Tarantool')
            (<COp> self.ops[k]).encode(p, sync)
        except Exception as e:
            self._failed(i, e)
            return 0
        s.sync = sync
        self.inflight += 1
        if self.open_loop:
            self._note_send(k, s.t_sent, t_due)
        p._schedule_flush()
        return 0

    cdef int _note_send(self, Py_ssize_t k, int64_t sent, int64_t t_due) except -1:
        state = self.states[k]
        state.sent += 1
        state.isent += 1
        (<Recorder> self.lateness[k])._record_ns(sent - t_due if sent > t_due else 0)
        if sent - t_due > LATE_NS:
            state.late_sends += 1
        return 0

    cdef int _next(self, Py_ssize_t i) except -1:
        # slot i is free: its next request, or none
        cdef Due d
        if not self.open_loop:
            if self.budget.left > 0:
                self.budget.left -= 1
                return self._send(i, self._pick(), 0)
        elif self.bl_len > 0 and not self.is_cut:
            d = self.backlog[self.bl_head]
            self.bl_head = (self.bl_head + 1) % self.bl_cap
            self.bl_len -= 1
            return self._send(i, d.op, d.t)
        else:
            self.idle[self.nidle] = <int32_t> i
            self.nidle += 1
        self._check_done()
        return 0

    cdef int _check_done(self) except -1:
        if self.inflight or self.parked or self.done.done():
            return 0
        if self.open_loop:
            if not (self.finishing or self.is_cut) or (self.bl_len and not self.is_cut):
                return 0
        elif self.budget.left > 0:
            return 0
        self._stop_timeouts()
        self.done.set_result(None)
        return 0

    def start(self):
        """Closed loop: every slot sends its first request (as the budget allows)."""
        cdef Py_ssize_t i
        if self.open_loop:
            raise RuntimeError('an open-loop CLoop sends what submit() gives it')
        self._ready()
        self._start_timeouts()
        self.nidle = 0
        for i in range(self.nslots):
            self._next(i)
        self._check_done()

    def submit(self, int64_t t_due, Py_ssize_t k):
        """Open loop: a slot of op ``k`` is due at ``t_due`` (perf_counter_ns): sent now on an
        idle slot, else kept in the backlog until a reply frees one."""
        cdef Py_ssize_t i
        cdef Due *nb
        cdef Py_ssize_t j, cap
        if self.nidle > 0 and not self.is_cut:
            self.nidle -= 1
            i = self.idle[self.nidle]
            return self._send(i, k, t_due)
        if self.bl_len == self.bl_cap:
            cap = self.bl_cap * 2 if self.bl_cap else 1024
            nb = <Due *> PyMem_Malloc(cap * sizeof(Due))
            if nb is NULL:
                raise MemoryError()
            for j in range(self.bl_len):
                nb[j] = self.backlog[(self.bl_head + j) % self.bl_cap]
            PyMem_Free(self.backlog)
            self.backlog = nb
            self.bl_cap = cap
            self.bl_head = 0
        j = (self.bl_head + self.bl_len) % self.bl_cap
        self.backlog[j].t = t_due
        self.backlog[j].op = <int32_t> k
        self.bl_len += 1
        return 0

    def begin_open(self):
        """Open loop: the window starts (timeouts are watched from now on)."""
        self._ready()
        self._start_timeouts()

    def finish(self):
        """Open loop: nothing more will be submitted."""
        self.finishing = True
        self._check_done()

    def cut(self):
        """The window is over: in-flight requests finish, nothing more is sent (closed loop:
        the shared budget is set to 0 by the phase; open loop: the backlog stays, for
        :meth:`take_backlog`)."""
        self.is_cut = True
        self._check_done()

    def take_backlog(self):
        """Open loop: the due slots never sent, as ``[(t_due, op), ...]`` (emptied)."""
        out = []
        while self.bl_len:
            d = self.backlog[self.bl_head]
            out.append((d.t, d.op))
            self.bl_head = (self.bl_head + 1) % self.bl_cap
            self.bl_len -= 1
        return out

    @property
    def backlog_len(self):
        return self.bl_len

    @property
    def idle_slots(self):
        """Open loop: slots with nothing in flight (a submit goes out at once on one)."""
        return self.nidle if not self.is_cut else 0

    def wait(self):
        """A future that resolves once the loop is done (see the class)."""
        return self.done

    # -- replies -----------------------------------------------------------

    cdef int on_reply(self, uint64_t sync, uint64_t code, int64_t schema_id,
                      const char *p, const char *end) except -1:
        cdef Py_ssize_t i = <Py_ssize_t> (sync & (MAX_SLOTS - 1))
        cdef Slot *s
        cdef int64_t now
        cdef Py_ssize_t k
        cdef object exc = None
        if i >= self.nslots or self.slots[i].sync != sync:
            self.late_replies += 1    # timed out before (or from a loop gone): dropped
            if p != end:
                mp_skip(&p, end)
            return 0
        s = &self.slots[i]
        now = now_ns()
        k = s.op
        # the body is read while the request still counts as in flight: a malformed one
        # raises, the connection is closed, and on_lost fails this request with the others
        if code != tnt.IPROTO_OK:
            exc = self._db_error(k, code, p, end)
        elif p != end:
            mp_skip(&p, end)    # walked, not decoded
        s.sync = 0
        self.inflight -= 1
        if code == tnt.IPROTO_OK:
            s.fails = 0
            if self.open_loop:
                (<Recorder> self.recs[k])._record_ns(
                    now - (s.t_due if s.t_due < s.t_sent else s.t_sent))
                (<Recorder> self.service[k])._record_ns(now - s.t_sent)
            else:
                (<Recorder> self.recs[k])._record_ns(now - s.t_sent)
            return self._next(i)
        return self._failed(i, exc)

    cdef object _db_error(self, Py_ssize_t k, uint64_t code, const char *p, const char *end):
        # the server's error reply, read by the driver's own body parser and raised as the
        # coroutine path raises it (code, message, the MP_ERROR stack)
        cdef Response resp = Response.__new__(Response)
        resp.code_ = <uint32_t> code
        resp.return_code_ = <uint32_t> (code & 0x7fff)
        resp.encoding = self.proto.encoding
        if p != end:
            self.proto._parse_body(p, end, resp, (<COp> self.ops[k]).req)
        return TarantoolDatabaseError(resp.return_code_,
                                      resp.errmsg if resp.errmsg is not None else '', resp.error)

    cdef int _failed(self, Py_ssize_t i, object exc) except -1:
        # slot i's request failed: counted by kind; the slot goes on after a pause, as a
        # coroutine of load.py does: the loop's next turn, or (closed loop) a back-off once
        # it failed twice in a row
        cdef Slot *s = &self.slots[i]
        cdef double delay
        s.fails += 1
        self.on_error(s.op, exc)
        self.parked += 1
        if s.fails < 2 or self.open_loop:
            self.loop.call_soon(self.resume_cb, i)
        else:
            delay = BACKOFF_MIN_S * (1 << min(s.fails - 2, 20))
            self.loop.call_later(delay if delay < BACKOFF_MAX_S else BACKOFF_MAX_S,
                                 self.resume_cb, i)
        return 0

    def _resume(self, Py_ssize_t i):
        self.parked -= 1
        self._next(i)

    cdef int on_lost(self, object exc) except -1:
        # the connection went: every request in flight failed (as the driver's would)
        cdef Py_ssize_t i
        self.proto = None
        msg = 'lost connection to Tarantool{}'.format(': {}'.format(exc) if exc else '')
        for i in range(self.nslots):
            if self.slots[i].sync != 0:
                self.slots[i].sync = 0
                self.inflight -= 1
                err = TarantoolNotConnectedError(msg)
                err.__cause__ = exc
                self._failed(i, err)
        self._check_done()
        return 0

    # -- timeouts ----------------------------------------------------------

    cdef int _start_timeouts(self) except -1:
        if self.timeout_ns > 0 and self.timeout_handle is None:
            self.timeout_handle = self.loop.call_later(self._tick_s(), self._check_timeouts)
        return 0

    cdef int _stop_timeouts(self) except -1:
        if self.timeout_handle is not None:
            self.timeout_handle.cancel()
            self.timeout_handle = None
        return 0

    cdef double _tick_s(self):
        # a timed-out request is seen within a quarter of the timeout (1 ms to 100 ms)
        cdef double t = self.timeout_ns / 4e9
        return 0.001 if t < 0.001 else (0.1 if t > 0.1 else t)

    def _check_timeouts(self):
        cdef Py_ssize_t i
        cdef int64_t now = now_ns()
        cdef Slot *s
        self.timeout_handle = None
        for i in range(self.nslots):
            s = &self.slots[i]
            if s.sync != 0 and now - s.t_sent >= self.timeout_ns:
                s.sync = 0    # its reply, if it comes, is a late one
                self.inflight -= 1
                self._failed(i, asyncio.TimeoutError(
                    'Tarantool request timed out after {:g} s'.format(self.timeout_ns / 1e9)))
        if not self.done.done():
            self._start_timeouts()
        self._check_done()

    def detach(self):
        """Leave the connection's protocol (its later replies with our syncs are errors)."""
        self._stop_timeouts()
        if self.proto is not None and self.proto.sink is self:
            self.proto.sink = None
        self.proto = None

