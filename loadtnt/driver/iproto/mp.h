/* Big-endian loads and stores for MessagePack, the only C the core needs.
 * Unaligned access goes through memcpy, which compilers turn into one move. */
#ifndef LOADTNT_MP_H
#define LOADTNT_MP_H

#include <stdint.h>
#include <string.h>

static inline void lt_store_u16(char *p, uint16_t v) { v = __builtin_bswap16(v); memcpy(p, &v, 2); }
static inline void lt_store_u32(char *p, uint32_t v) { v = __builtin_bswap32(v); memcpy(p, &v, 4); }
static inline void lt_store_u64(char *p, uint64_t v) { v = __builtin_bswap64(v); memcpy(p, &v, 8); }

static inline uint16_t lt_load_u16(const char *p) { uint16_t v; memcpy(&v, p, 2); return __builtin_bswap16(v); }
static inline uint32_t lt_load_u32(const char *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
static inline uint64_t lt_load_u64(const char *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }

/* A MessagePack unsigned integer at p in its shortest form (the caller made room
 * for 9 bytes); returns where the next value goes. */
static inline char *lt_put_uint(char *p, uint64_t v) {
    if (v <= 0x7f) { p[0] = (char)v; return p + 1; }
    if (v <= 0xff) { p[0] = (char)0xcc; p[1] = (char)v; return p + 2; }
    if (v <= 0xffff) { p[0] = (char)0xcd; lt_store_u16(p + 1, (uint16_t)v); return p + 3; }
    if (v <= 0xffffffffu) { p[0] = (char)0xce; lt_store_u32(p + 1, (uint32_t)v); return p + 5; }
    p[0] = (char)0xcf; lt_store_u64(p + 1, v); return p + 9;
}

static inline void lt_store_double(char *p, double d) { uint64_t v; memcpy(&v, &d, 8); lt_store_u64(p, v); }
static inline double lt_load_double(const char *p) { uint64_t v = lt_load_u64(p); double d; memcpy(&d, &v, 8); return d; }
static inline float lt_load_float(const char *p) { uint32_t v = lt_load_u32(p); float f; memcpy(&f, &v, 4); return f; }

#include <time.h>

/* The clock asyncio and uvloop use (CLOCK_MONOTONIC), in seconds. */
static inline double lt_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Syncs from here up belong to a protocol's reply sink (the C load loop). */
#define LT_SINK_SYNC_BASE (((uint64_t)1) << 62)

#ifndef LOADTNT_DEBUG
#define LOADTNT_DEBUG 0
#endif

#endif
