cdef enum ConnState:
    CS_GREETING = 0     # TCP connected, waiting for the 128-byte greeting
    CS_CONNECTED = 1    # greeting read: auth and schema may be sent
    CS_READY = 2        # the lifecycle said so: user requests may be sent
    CS_CLOSED = 3
    CS_PARKED = 4       # a waiting room with no transport: requests wait in it
                        # (after a graceful-shutdown announcement) for the
                        # reconnect, which adopts them


cdef class CoreProtocol:
    # Frames and parses packets; knows nothing of the event loop.
    cdef:
        bytearray rbuf
        Py_ssize_t rstart
        Py_ssize_t rend
        Py_ssize_t want
        WriteBuffer wbuf
        int state
        object encoding           # None: UTF-8 fast path
        readonly object version
        bytes salt
        Py_ssize_t max_packet     # a longer length prefix is a protocol error
        _TupleCtx tuple_ctx       # MP_TUPLE formats (tuple_extension=True), else None

    cdef int _reserve(self, Py_ssize_t need) except -1
    cdef int _parse(self) except -1
    cdef int _parse_greeting(self, const char *p) except -1
    cdef int _on_greeting(self) except -1
    cdef int _on_packet(self, const char *p, const char *end) except -1
    cdef int _parse_body(self, const char *p, const char *end, Response resp, Request req) except -1
    cdef int _parse_body_ext(self, const char *p, const char *end, Response resp,
                             Request req) except -1
