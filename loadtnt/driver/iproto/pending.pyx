# PendingTable: a protocol's requests in flight by sync (see pending.pxd).
# bench/instr_bench.py: the dict it replaces cost a ping ~700 client
# instructions (a PyLong for the sync, SetItem, and a pop with its hashing).

cdef enum:
    _PENDING_MIN = 1024


@cython.final
@cython.no_gc
cdef class PendingTable:

    def __cinit__(self):
        self.mask = _PENDING_MIN - 1
        self.n = 0
        self.aside = None
        self.keys = <uint64_t *> PyMem_Calloc(_PENDING_MIN, sizeof(uint64_t))
        self.vals = <PyObject **> PyMem_Calloc(_PENDING_MIN, sizeof(PyObject *))
        if self.keys is NULL or self.vals is NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef size_t i
        if self.keys is not NULL and self.vals is not NULL:
            for i in range(self.mask + 1):
                if self.keys[i] != 0:
                    Py_XDECREF(self.vals[i])
        PyMem_Free(self.keys)
        PyMem_Free(self.vals)
        self.keys = NULL
        self.vals = NULL

    cdef inline Py_ssize_t size(self):
        return self.n + (PyDict_GET_SIZE(self.aside) if self.aside is not None else 0)

    cdef int put(self, uint64_t sync, object req) except -1:
        cdef size_t i
        if sync == 0:
            raise AssertionError('sync 0 is never a request\'s')
        if <size_t> self.n * 2 >= self.mask + 1:
            self._grow()
        i = sync & self.mask
        if self.keys[i] == 0:
            self.keys[i] = sync
            Py_INCREF(req)
            self.vals[i] = <PyObject *> req
            self.n += 1
            return 0
        if self.aside is None:
            self.aside = {}
        self.aside[sync] = req
        return 0

    cdef object pop(self, uint64_t sync):
        cdef size_t i = sync & self.mask
        cdef object req
        if self.keys[i] == sync and sync != 0:    # 0 marks an empty slot: no request has it
            req = <object> self.vals[i]     # takes a reference
            Py_DECREF(req)                  # the table's, given up
            self.keys[i] = 0
            self.vals[i] = NULL
            self.n -= 1
            return req
        if self.aside is not None and PyDict_GET_SIZE(self.aside):
            return self.aside.pop(sync, None)
        return None

    cdef object get(self, uint64_t sync):
        cdef size_t i = sync & self.mask
        cdef PyObject *p
        if self.keys[i] == sync and sync != 0:
            return <object> self.vals[i]
        if self.aside is not None and PyDict_GET_SIZE(self.aside):
            p = PyDict_GetItem(self.aside, sync)
            if p is not NULL:
                return <object> p
        return None

    cdef list values(self):
        # in no particular order
        cdef list out = []
        cdef size_t i
        for i in range(self.mask + 1):
            if self.keys[i] != 0:
                out.append(<object> self.vals[i])
        if self.aside is not None:
            out.extend(self.aside.values())
        return out

    cdef int _grow(self) except -1:
        # Twice the slots; the requests aside come back in where they fit.
        cdef size_t cap = (self.mask + 1) * 2
        cdef size_t old_cap = self.mask + 1
        cdef uint64_t *keys = <uint64_t *> PyMem_Calloc(cap, sizeof(uint64_t))
        cdef PyObject **vals = <PyObject **> PyMem_Calloc(cap, sizeof(PyObject *))
        cdef uint64_t *old_keys = self.keys
        cdef PyObject **old_vals = self.vals
        cdef dict aside = self.aside
        cdef size_t i, j
        if keys is NULL or vals is NULL:
            PyMem_Free(keys)
            PyMem_Free(vals)
            raise MemoryError()
        for i in range(old_cap):
            if old_keys[i] != 0:
                j = old_keys[i] & (cap - 1)
                keys[j] = old_keys[i]       # distinct slots before: distinct now
                vals[j] = old_vals[i]
        self.keys = keys
        self.vals = vals
        self.mask = cap - 1
        PyMem_Free(old_keys)
        PyMem_Free(old_vals)
        if aside:
            self.aside = None
            for sync, req in aside.items():
                self.put(sync, req)
        return 0
