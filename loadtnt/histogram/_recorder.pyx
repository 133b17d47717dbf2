# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The hot-path latency recorder: HdrHistogram's bucket layout in a C array of int64 counts.

``record_ns(ns)`` costs a few tens of nanoseconds from Python.  Export and merging go through
the ``hdrhistogram`` package (see :mod:`loadtnt.histogram`), which shares the layout.
"""
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from loadtnt.histogram import layout as _layout

cdef int64_t HIGHEST = _layout.HIGHEST
cdef int UNIT_MAG = _layout.UNIT_MAGNITUDE
cdef int HALF_MAG = _layout.SUB_BUCKET_HALF_COUNT_MAGNITUDE
cdef int64_t HALF_COUNT = _layout.SUB_BUCKET_HALF_COUNT
cdef int64_t MASK = _layout.SUB_BUCKET_MASK
cdef Py_ssize_t COUNTS_LEN = _layout.COUNTS_LEN


cdef inline Py_ssize_t _index(int64_t v) noexcept nogil:
    cdef int pow2ceiling = 64 - __builtin_clzll(<unsigned long long>(v | MASK))
    cdef int bucket = pow2ceiling - UNIT_MAG - (HALF_MAG + 1)
    cdef int64_t sub = v >> (bucket + UNIT_MAG)
    return ((<Py_ssize_t>(bucket + 1)) << HALF_MAG) + <Py_ssize_t>(sub - HALF_COUNT)


cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil


cdef class Recorder:
    """Counts of latencies in µs; a second ``interval`` array restarts with each ``take_interval``.

    Fields are declared in ``_recorder.pxd`` (other Cython modules record through ``_record``).
    """

    def __cinit__(self):
        self.counts = <int64_t *>calloc(COUNTS_LEN, sizeof(int64_t))
        self.icounts = <int64_t *>calloc(COUNTS_LEN, sizeof(int64_t))
        if self.counts == NULL or self.icounts == NULL:
            raise MemoryError()
        self.total = 0
        self.itotal = 0
        self.clamped = 0
        self.min_value = HIGHEST
        self.max_value = 0

    def __dealloc__(self):
        free(self.counts)
        free(self.icounts)

    cdef void _record(self, int64_t us) noexcept:
        if us < 0:
            us = 0
        elif us > HIGHEST:
            us = HIGHEST
            self.clamped += 1
        cdef Py_ssize_t i = _index(us)
        self.counts[i] += 1
        self.icounts[i] += 1
        self.total += 1
        self.itotal += 1
        if us < self.min_value:
            self.min_value = us
        if us > self.max_value:
            self.max_value = us

    cdef void _record_ns(self, int64_t ns) noexcept:
        # to the nearest µs (floor division would read 1999 ns as 1 µs)
        self._record((ns + 500) // 1000)

    cpdef record(self, int64_t us):
        """Record one latency in microseconds (clamped to 0 .. 1 hour; ``clamped`` counts
        the values above)."""
        self._record(us)

    cpdef record_ns(self, int64_t ns):
        """Record one latency given in nanoseconds (``perf_counter_ns`` differences), rounded
        to the nearest microsecond."""
        self._record_ns(ns)

    cpdef record_since(self, int64_t start_ns):
        """Record the time from ``start_ns`` (a ``time.perf_counter_ns()`` value) to now.

        One call instead of two on the hot path: the clock is read here, in C
        (CLOCK_MONOTONIC, the clock of ``perf_counter_ns`` on Linux).
        """
        cdef timespec ts
        clock_gettime(CLOCK_MONOTONIC, &ts)
        self._record_ns(ts.tv_sec * 1000000000 + ts.tv_nsec - start_ns)

    def nonzero(self):
        """``[(index, count), …]`` of the whole recording."""
        return _nonzero(self.counts)

    def take_interval(self):
        """``[(index, count), …]`` since the last call; restarts the interval."""
        out = _nonzero(self.icounts)
        memset(self.icounts, 0, COUNTS_LEN * sizeof(int64_t))
        self.itotal = 0
        return out

    def reset(self):
        memset(self.counts, 0, COUNTS_LEN * sizeof(int64_t))
        memset(self.icounts, 0, COUNTS_LEN * sizeof(int64_t))
        self.total = 0
        self.itotal = 0
        self.clamped = 0
        self.min_value = HIGHEST
        self.max_value = 0


cdef list _nonzero(int64_t *counts):
    cdef Py_ssize_t i
    cdef list out = []
    for i in range(COUNTS_LEN):
        if counts[i]:
            out.append((i, counts[i]))
    return out
