# The one extension module of loadtnt.driver: each concern in its own
# .pxd/.pyx pair, included here in dependency order.
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t,
                          uint8_t, uint16_t, uint32_t, uint64_t)
from cpython.object cimport PyObject

include "wbuf.pxd"
include "unpack.pxd"
include "ext.pxd"
include "ttuple.pxd"
include "schema.pxd"
include "response.pxd"
include "requests.pxd"
include "push.pxd"
include "pending.pxd"
include "coreproto.pxd"
include "baseproto.pxd"
include "api.pxd"
include "poolapi.pxd"
