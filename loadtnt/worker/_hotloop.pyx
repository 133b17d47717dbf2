# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The closed-loop coroutines in C: time, send, await, record, with no Python call in between.

Same behaviour as :mod:`._pyhotloop` (the fallback when this is not built); the harness's cost
per request is then two clock reads and one histogram increment, all in C.
"""
from libc.stdint cimport int64_t

from loadtnt.histogram._recorder cimport Recorder


cdef class Budget:
    """Requests left to send, shared by a phase's coroutines (set to 0 to stop them)."""

    def __init__(self, long long left):
        self.left = left

    def stop(self):
        self.left = 0


async def closed_one(Budget budget, fn, Recorder rec, on_error):
    """Send ``fn()`` until the budget is spent; ``await on_error(k, exc, fails)`` on failures,
    ``fails`` being this coroutine's consecutive failures (it backs off on them)."""
    cdef int64_t t0
    cdef long fails = 0
    while budget.left > 0:
        budget.left -= 1
        t0 = now_ns()
        try:
            await fn()
        except Exception as e:
            fails += 1
            await on_error(0, e, fails)
        else:
            fails = 0
            rec._record_ns(now_ns() - t0)


async def closed_mix(Budget budget, list fns, list recs, pick, on_error):
    """Like :func:`closed_one` over several ops; ``pick()`` gives the index of the next one."""
    cdef int64_t t0
    cdef Py_ssize_t k
    cdef long fails = 0
    while budget.left > 0:
        budget.left -= 1
        k = pick()
        t0 = now_ns()
        try:
            await fns[k]()
        except Exception as e:
            fails += 1
            await on_error(k, e, fails)
        else:
            fails = 0
            (<Recorder>recs[k])._record_ns(now_ns() - t0)
