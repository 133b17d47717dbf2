cdef class PendingTable:
    # The requests awaiting a reply, by sync: a direct-mapped C array (slot =
    # sync & mask) over the syncs, which a protocol hands out one after the
    # other, so the requests in flight fill consecutive slots. A sync whose
    # slot is taken (by a request pending since the syncs went once round the
    # table) waits in a dict aside. No PyLong and no hashing per request.
    cdef:
        uint64_t *keys        # 0: empty (syncs start at 1)
        PyObject **vals       # owned references
        size_t mask
        Py_ssize_t n          # requests in the array
        dict aside            # sync -> request, for syncs whose slot was taken

    cdef int put(self, uint64_t sync, object req) except -1
    cdef object pop(self, uint64_t sync)         # the request, or None
    cdef object get(self, uint64_t sync)         # the request, or None
    cdef Py_ssize_t size(self)
    cdef list values(self)
    cdef int _grow(self) except -1
