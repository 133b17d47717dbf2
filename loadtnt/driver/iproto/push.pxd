cdef class _PushState:
    # What a push_subscribe request keeps beside itself (Request.push): the
    # pushes not read yet, the iterators waiting for one, and the Response
    # that PushIterator.response shows from the start (the final reply fills
    # it). Requests without push_subscribe have none: no cost on their path.
    cdef:
        object queue             # collections.deque of pushes, oldest first
        list waiters             # futures of iterators waiting for a push or the end
        object create_future
        Response response
        readonly uint64_t received

    cdef int add(self, object item) except -1
    cdef int wake(self) except -1


cdef class PushIterator:
    cdef:
        Request _request
        _PushState _state
        bint _ended

    cdef object _end(self)
