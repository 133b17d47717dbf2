# Tarantool's MessagePack extension types beyond decimal and uuid: MP_ERROR (3),
# MP_DATETIME (4) and MP_INTERVAL (6), byte for byte as the server encodes them.

cdef class IProtoErrorStackFrame:
    cdef readonly:
        object error_type
        object file
        int64_t line
        object message
        int64_t err_no
        int64_t code
        object fields


cdef class IProtoError:
    cdef readonly list trace


cdef class MPInterval:
    cdef public:
        int64_t year
        int64_t month
        int64_t week
        int64_t day
        int64_t hour
        int64_t min
        int64_t sec
        int64_t nsec
    cdef object _adjust


cdef IProtoError mp_decode_error(const char **pp, const char *end, object encoding)
cdef object ext_decode(int8_t ext_type, const char *p, Py_ssize_t n, object encoding)
cdef int put_datetime(WriteBuffer buf, object dt) except -1
cdef int put_interval(WriteBuffer buf, MPInterval iv) except -1
