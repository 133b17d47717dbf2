cdef class TimerBucket:
    # The syncs of requests whose deadlines fall in one millisecond: one loop
    # timer per bucket instead of one TimerHandle per request.
    cdef:
        uint64_t *syncs
        Py_ssize_t n
        Py_ssize_t cap
        object handle
        int64_t key
        Py_ssize_t live    # its requests still pending
        bint armed         # its loop timer is set

    cdef int append(self, uint64_t sync) except -1


# Replies whose sync is at or above this go to the protocol's sink (the harness's
# C load loop, loadtnt/worker/_cloop.pyx), not to the pending requests: the
# protocol's own syncs count up from 1 and never get there.
cdef extern from "mp.h":
    const uint64_t SINK_SYNC_BASE "LT_SINK_SYNC_BASE"


cdef class ReplySink:
    # What takes the replies of requests that a sink encoded into the protocol's
    # write buffer itself (no Request pending, no future): on_reply gets the
    # header's sync and code and the body's bytes; on_lost is told when the
    # connection goes.
    cdef int on_reply(self, uint64_t sync, uint64_t code, int64_t schema_id,
                      const char *p, const char *end) except -1
    cdef int on_lost(self, object exc) except -1


cdef class BaseProtocol(CoreProtocol):
    cdef:
        public ReplySink sink    # replies with syncs from SINK_SYNC_BASE go here
        object loop
        object transport
        object create_future
        PendingTable pending     # requests awaiting a reply, by sync
        list ready               # answered requests whose awaiting Task is to be woken
        object ready_cb          # self._run_ready, scheduled once per batch of them
        object done_fut          # a Future resolved to None: what a Task's wakeup is given
        uint64_t next_sync_
        readonly Schema schema
        bint auto_refetch_schema
        double request_timeout
        bint flush_scheduled
        int unflushed            # requests put in wbuf since the last write
        object flush_cb
        object timer_cb
        dict timers
        list schema_waiting
        dict missing          # a name the last refetch did not find -> (when, message, code)
        object user           # the user authenticated as (None: guest), for messages
        object schema_future
        object greeting_waiter
        object on_lost
        object on_event          # on_event(protocol, key, value) for each IPROTO_EVENT
        object closed_waiter
        object peer
        object lost_exc
        readonly uint64_t late_replies
        readonly uint64_t timeouts
        readonly uint64_t cancelled
        readonly uint64_t dropped_pushes    # IPROTO_CHUNKs for no push_subscribe request
        _Batch batch             # this loop turn's write, until flushed
        bint encoding_busy       # a packet is being encoded into wbuf
        list deferred            # packets encoded meanwhile, appended after it
        readonly uint64_t feature_mask   # 1 << IPROTO_FEATURE_*, from IPROTO_ID
        bint send_names          # no schema: unknown spaces and indexes go by name (3.0+)

    cdef object execute(self, Request req, double timeout)
    cdef object _submit(self, Request req, double timeout)
    cdef object _park(self, Request req, double timeout)
    cdef int _send_watch(self, uint32_t op, str key) except -1
    cdef int _on_event(self, const char *p, const char *end) except -1
    cdef int _encode(self, Request req) except -1
    cdef int _encode_into(self, WriteBuffer buf, Request req) except -1
    cdef int _encode_aside(self, Request req) except -1
    cdef int _append_deferred(self) except -1
    cdef inline int _note_sent(self, Request req, Py_ssize_t start) except -1
    cdef int _resend_saved(self, Request req) except -1
    cdef inline int _finish(self, Request req) except -1
    cdef int _on_push(self, uint64_t sync, const char *p, const char *end) except -1
    cdef int _schedule_flush(self) except -1
    cdef int _write_out(self) except -1
    cdef int _arm_timer(self, Request req, double timeout) except -1
    cdef int _fire_timer(self, int64_t key) except -1
    cdef int _add_to_bucket(self, Request req, int64_t key) except -1
    cdef int _wait_schema(self, Request req) except -1
    cdef int _on_miss(self, Request req) except -1
    cdef int _remember_miss(self, Request req, object message, uint32_t code=*) except -1
    cdef bint _probe_by_name(self, Request req) except -1
    cdef int _probe_failed(self, Request req, Response resp) except -1
    cdef object _miss_key(self, Request req)
    cdef object _start_schema_refetch(self, double timeout)
    cdef int _resend_after_schema(self) except -1
    cdef str _miss_message(self, Request req)
    cdef int _fail_request(self, Request req, object exc) except -1
    cdef int _fail_all(self, object exc) except -1
    cdef int _close_with(self, object exc) except -1
    cdef inline uint64_t _next_sync(self)


cdef class TupleExtBaseProtocol(BaseProtocol):
    pass
