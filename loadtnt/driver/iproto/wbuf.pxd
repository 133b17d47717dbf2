cdef class WriteBuffer:
    # A growable C buffer that requests are encoded into. The protocol keeps one
    # and flushes it once per event loop turn (write coalescing).
    cdef:
        char *buf
        Py_ssize_t size
        Py_ssize_t cap
        bint utf8          # str encoded as UTF-8 without a codec lookup
        object encoding    # the codec name otherwise

    cdef int _grow(self, Py_ssize_t need) except -1
    cdef inline int ensure(self, Py_ssize_t extra) except -1
    cdef inline char *reserve(self, Py_ssize_t extra) except NULL
    cdef inline void commit(self, char *end)
    cdef inline void clear(self)
    cdef bytes take(self)

    cdef Py_ssize_t begin_packet(self) except -1
    cdef int end_packet(self, Py_ssize_t start) except -1
    cdef int rollback(self, Py_ssize_t start) except -1

    cdef int put_raw(self, const char *data, Py_ssize_t n) except -1
    cdef int put_header(self, uint32_t code, uint64_t sync, uint64_t schema_id,
                        uint64_t stream_id) except -1
    cdef int put_nil(self) except -1
    cdef int put_bool(self, bint v) except -1
    cdef inline int put_uint(self, uint64_t v) except -1
    cdef int put_sint(self, int64_t v) except -1
    cdef int put_double(self, double v) except -1
    cdef int put_raw_str(self, const char *s, Py_ssize_t n) except -1
    cdef int put_str(self, str s) except -1
    cdef int put_bin(self, const char *s, Py_ssize_t n) except -1
    cdef int put_array_header(self, Py_ssize_t n) except -1
    cdef int put_map_header(self, Py_ssize_t n) except -1
    cdef int put_ext_header(self, int8_t ext_type, Py_ssize_t n) except -1
    cdef int put_int_obj(self, object v) except -1
    cdef int put_decimal(self, object v) except -1
    cdef int put_uuid(self, object v) except -1
    cdef int put_obj(self, object o) except -1
    cdef int put_sequence(self, object seq) except -1
    cdef int _put_dict(self, dict d) except -1
