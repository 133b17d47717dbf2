# C helpers from mp.h: big-endian loads/stores and the debug switch.
from libc.stdint cimport uint16_t, uint32_t, uint64_t

cdef extern from "mp.h" nogil:
    void lt_store_u16(char *p, uint16_t v)
    void lt_store_u32(char *p, uint32_t v)
    void lt_store_u64(char *p, uint64_t v)
    char *lt_put_uint(char *p, uint64_t v)
    uint16_t lt_load_u16(const char *p)
    uint32_t lt_load_u32(const char *p)
    uint64_t lt_load_u64(const char *p)
    void lt_store_double(char *p, double d)
    double lt_load_double(const char *p)
    float lt_load_float(const char *p)
    double lt_monotonic()
    const bint LOADTNT_DEBUG
