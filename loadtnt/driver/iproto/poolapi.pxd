cdef class Candidates:
    # One pool mode's candidate connections: taken in turn (round robin), or the one
    # with the fewest requests in flight, ties in turn (least outstanding).
    cdef tuple _conns
    cdef Py_ssize_t _n
    cdef Py_ssize_t _i
    cdef object _fail
    cdef bint _least

    cdef object next(self)
    cdef object _next_least(self)


cdef class PoolApi:
    # The request methods of Pool, in C: the pick of a connection and the call
    # of its request method, no Python frame in between.
    cdef public Candidates _read     # reads: the pool's default_mode
    cdef public Candidates _write    # writes: RW
    cdef public Candidates _calls    # call, eval, execute: the pool's call_mode
    cdef public dict _select         # every Mode and its name -> Candidates

    cdef object _pick(self, mode)
