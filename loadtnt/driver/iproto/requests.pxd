cdef class Request:
    # One request in flight: what to encode (again, after a schema refetch),
    # how to decode its reply, and the future its caller awaits.
    cdef:
        uint32_t op
        uint64_t sync
        object waiter
        double timeout
        double deadline    # CLOCK_MONOTONIC seconds; 0: none
        bint check_schema
        bint parse_as_tuples
        bint parse_metadata
        bint resent
        Metadata metadata
        object space
        object index

    # 0: encoded; 1: names a space or index the schema does not know (yet).
    cdef int encode_body(self, WriteBuffer buf, Schema schema) except -1
    cdef SchemaSpace _target_space(self, Schema schema)


cdef class PingRequest(Request):
    pass


cdef class SelectRequest(Request):
    cdef object key, iterator
    cdef uint64_t offset, limit


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


cdef class AuthRequest(Request):
    cdef object username
    cdef bytes scramble
