# a request's args as the request methods take them (None: none; a list or a tuple)
cdef object _args_list(object args)


cdef class _Batch:
    # The bytes of one flush (one transport.write). Requests that may have to
    # be sent again after a schema change keep a reference and their offsets,
    # so a resend uses what was encoded at call time, never the caller's
    # objects as they are later.
    cdef bytes data


cdef class Request:
    # One request in flight: what to encode, how to decode its reply, the
    # future its caller awaits. It is what the request methods return: a
    # Future-compatible object (asyncio's interface, and the members asyncio
    # reads) that the awaiting Task waits on itself, so a cancelled caller
    # removes the request at once (cancel(), throw()). While it is pending or
    # succeeded and has at most one done callback (the awaiting Task's wakeup),
    # it keeps its state itself: no asyncio.Future is made, and its reply runs
    # that callback from the protocol's batch of answered requests. Anything
    # else (a failure, cancel(), a second callback, asyncio's private members)
    # makes its waiter, an asyncio.Future holding its state from then on.
    cdef:
        uint32_t op
        uint64_t sync
        uint64_t stream_id    # 0: none
        object waiter         # the asyncio.Future, once made (_promote); else None
        object loop
        object cb0            # the one done callback kept without a waiter, and its context
        object ctx0
        bint cb0_wakeup       # cb0 is a C Task's wakeup (aio.h: lt_is_task_wakeup)
        public bint _asyncio_future_blocking
        object proto          # the BaseProtocol while pending, else None
        object result_        # the Response, once it arrived
        object timer_bucket   # TimerBucket holding this request's deadline
        list callbacks        # done callbacks registered through the Future API
        double timeout
        double deadline    # CLOCK_MONOTONIC seconds; 0: none
        bint check_schema
        bint system           # the driver's own (auth, schema fetch)
        bint parse_as_tuples
        bint parse_metadata
        bint resent
        bint finished         # no longer pending (resolved, or about to be)
        bint used_names       # field names were resolved by the space format
        bint by_name          # a space or index the schema does not know goes by name
        bint probe            # sent by name after a refetch missed: the server tells why
        Metadata metadata
        object space
        object index
        # where the packet went out (data requests): for a resend
        _Batch batch
        Py_ssize_t pkt_start
        Py_ssize_t pkt_len
        Py_ssize_t tail_off   # offset of what follows the space/index head
        Py_ssize_t tail_mark  # absolute wbuf offset of it while encoding
        int nkeys
        object sent_format    # the field names the body was encoded with
        object push           # _PushState of a push_subscribe request, else None

    # 0: encoded; 1: names a space or index the schema does not know (yet).
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1
    cdef SchemaSpace _target_space(self, Schema schema)
    cdef int _put_target(self, WriteBuffer buf, int nkeys, SchemaSpace sp,
                         SchemaIndex idx) except -1
    cdef SchemaSpace _put_named_target(self, WriteBuffer buf, int nkeys, SchemaSpace sp,
                                       bint with_index)
    cdef int snapshot(self) except -1
    cdef object _step(self, int *is_return)
    cdef object _promote(self)
    cdef int _fail(self, object exc) except -1
    cdef int _add_callback(self, object fn, object context) except -1


cdef class PingRequest(Request):
    pass


cdef class SelectRequest(Request):
    cdef object key, iterator
    cdef uint64_t offset, limit
    cdef object after         # a position (bytes) or a tuple to start after; None: none
    cdef uint8_t page_keys    # pagination keys in the body: after and fetch_pos (0-2)
    cdef bint after_is_pos
    cdef bint fetch_pos

    cdef int _put_page(self, WriteBuffer buf) except -1


cdef class InsertRequest(Request):
    cdef object t


cdef class DeleteRequest(Request):
    cdef object key


cdef class UpdateRequest(Request):
    cdef object key, operations


cdef class UpsertRequest(Request):
    cdef object t, operations


cdef class CallRequest(Request):
    cdef object func_name, args


cdef class EvalRequest(Request):
    cdef object expression, args


cdef class ExecuteRequest(Request):
    cdef object query, args


cdef class IdRequest(Request):
    cdef bint tuple_ext       # announce dml_tuple_extension and call_ret_tuple_extension


cdef class BeginRequest(Request):
    cdef uint32_t isolation
    cdef double tx_timeout


cdef class CommitRequest(Request):
    pass


cdef class RollbackRequest(Request):
    pass


cdef class PrepareRequest(Request):
    cdef object query     # SQL text to prepare, or a statement id to unprepare


cdef class WatchRequest(Request):
    cdef object key       # IPROTO_WATCH (register or acknowledge), IPROTO_UNWATCH


cdef class WatchOnceRequest(Request):
    cdef object key


cdef class AuthRequest(Request):
    cdef object username
    cdef bytes scramble
