cdef class Api:
    # The request methods of Connection, in C: one call from user code to the
    # encoded bytes, no Python frame in between.
    cdef public BaseProtocol _protocol

    cdef BaseProtocol _proto(self)
    cdef object _call(self, uint32_t op, func_name, args, double timeout, bint push_subscribe)
    cdef object _prepare(self, query, double timeout)
