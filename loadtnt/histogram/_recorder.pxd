from libc.stdint cimport int64_t


cdef class Recorder:
    cdef int64_t *counts
    cdef int64_t *icounts
    cdef public int64_t total
    cdef public int64_t min_value
    cdef public int64_t max_value
    cdef public int64_t itotal
    cdef public int64_t clamped

    cdef void _record(self, int64_t us) noexcept
    cdef void _record_ns(self, int64_t ns) noexcept
    cpdef record(self, int64_t us)
    cpdef record_ns(self, int64_t ns)
    cpdef record_since(self, int64_t start_ns)
