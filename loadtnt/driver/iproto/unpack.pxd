# MessagePack decoding straight from the read buffer. Every read is bounds
# checked against the end of the packet: a malformed packet raises
# ProtocolError, never reads past it.

cdef class ExtType:
    cdef readonly int code
    cdef readonly bytes data


cdef int _truncated(const char *p, const char *end, Py_ssize_t n) except -1
cdef uint64_t mp_decode_uint(const char **pp, const char *end) except? 0xffffffffffffffff
cdef uint32_t mp_decode_array_len(const char **pp, const char *end) except? 0xffffffff
cdef uint32_t mp_decode_map_len(const char **pp, const char *end) except? 0xffffffff
cdef object mp_decode_obj(const char **pp, const char *end, object encoding)
cdef int mp_skip(const char **pp, const char *end) except -1
