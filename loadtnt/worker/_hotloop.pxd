from libc.stdint cimport int64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec


cdef inline int64_t now_ns() noexcept nogil:
    # the clock of time.perf_counter_ns on Linux
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


cdef class Budget:
    # Requests left to send, shared by a phase's coroutines (and C load loops)
    cdef public long long left
