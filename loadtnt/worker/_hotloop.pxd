cdef class Budget:
    # Requests left to send, shared by a phase's coroutines (and C load loops)
    cdef public long long left
