# MessagePack decoder. Strings decode as str (UTF-8, or the connection's
# encoding), bin as bytes, MP_EXT 1 and 2 as decimal.Decimal and uuid.UUID
# (3, 4 and 6 in ext.pyx; other types as ExtType).

@cython.final
cdef class ExtType:
    """A MessagePack extension value the driver has no Python type for; it is
    sent back to the server as the same extension."""

    def __init__(self, int code, bytes data not None):
        if not -128 <= code <= 127:
            raise ValueError('extension type code {} is out of [-128, 127]'.format(code))
        self.code = code
        self.data = data

    def __eq__(self, other):
        if type(other) is not ExtType:
            return NotImplemented
        return self.code == (<ExtType> other).code and self.data == (<ExtType> other).data

    def __hash__(self):
        return hash((self.code, self.data))

    def __repr__(self):
        return 'ExtType(code={}, data={!r})'.format(self.code, self.data)


cdef int _truncated(const char *p, const char *end, Py_ssize_t n) except -1:
    raise ProtocolError(
        'truncated MessagePack: {} more bytes expected, {} left in the packet'
        .format(n, end - p))


# The bounds checks are inline (a compare per read; the error is raised out of
# line): each of a reply's few dozen reads paid a call for them.
cdef inline int mp_need(const char *p, const char *end, Py_ssize_t n) except -1:
    if end - p < n:
        return _truncated(p, end, n)
    return 0


cdef inline uint8_t mp_peek(const char *p, const char *end) except? 0xff:
    mp_need(p, end, 1)
    return <uint8_t> p[0]


cdef uint64_t mp_decode_uint(const char **pp, const char *end) except? 0xffffffffffffffff:
    cdef const char *p = pp[0]
    cdef uint8_t c = mp_peek(p, end)
    if c <= 0x7f:
        pp[0] = p + 1
        return c
    if c == 0xcc:
        mp_need(p, end, 2)
        pp[0] = p + 2
        return <uint8_t> p[1]
    if c == 0xcd:
        mp_need(p, end, 3)
        pp[0] = p + 3
        return lt_load_u16(p + 1)
    if c == 0xce:
        mp_need(p, end, 5)
        pp[0] = p + 5
        return lt_load_u32(p + 1)
    if c == 0xcf:
        mp_need(p, end, 9)
        pp[0] = p + 9
        return lt_load_u64(p + 1)
    raise ProtocolError('expected an unsigned integer, got MessagePack type 0x{:02x}'.format(c))


cdef inline uint64_t mp_uint_fast(const char **pp, const char *end) except? 0xffffffffffffffff:
    # mp_decode_uint with a positive fixint (every IProto key, most codes) decoded inline
    cdef const char *p = pp[0]
    if p < end and <uint8_t> p[0] <= 0x7f:
        pp[0] = p + 1
        return <uint8_t> p[0]
    return mp_decode_uint(pp, end)


cdef inline uint64_t mp_uint_inline(const char **pp, const char *end) except? 0xffffffffffffffff:
    # mp_decode_uint decoded inline, every width: a reply's header, whose code,
    # sync and schema version Tarantool writes as a fixed layout (uint32,
    # uint64, uint32), and a packet's length
    cdef const char *p = pp[0]
    cdef uint8_t c
    if end - p >= 9:
        c = <uint8_t> p[0]
        if c <= 0x7f:
            pp[0] = p + 1
            return c
        if c == 0xce:
            pp[0] = p + 5
            return lt_load_u32(p + 1)
        if c == 0xcf:
            pp[0] = p + 9
            return lt_load_u64(p + 1)
        if c == 0xcd:
            pp[0] = p + 3
            return lt_load_u16(p + 1)
        if c == 0xcc:
            pp[0] = p + 2
            return <uint8_t> p[1]
    return mp_decode_uint(pp, end)


cdef inline uint32_t _container_len_fast(const char **pp, const char *end, uint8_t fix,
                                         uint8_t b32) except? 0xffffffff:
    # the fix and 32-bit forms of an array's or a map's length (what Tarantool writes:
    # it reserves a 32-bit header before it knows the count) inline, the rest by the
    # checked decoder
    cdef const char *p = pp[0]
    if end - p >= 5:
        if (<uint8_t> p[0] & 0xf0) == fix:
            pp[0] = p + 1
            return <uint8_t> p[0] & 0x0f
        if <uint8_t> p[0] == b32:
            pp[0] = p + 5
            return lt_load_u32(p + 1)
    if fix == 0x80:
        return mp_decode_map_len(pp, end)
    return mp_decode_array_len(pp, end)


cdef inline uint32_t mp_map_len_fast(const char **pp, const char *end) except? 0xffffffff:
    return _container_len_fast(pp, end, 0x80, 0xdf)


cdef inline uint32_t mp_array_len_fast(const char **pp, const char *end) except? 0xffffffff:
    return _container_len_fast(pp, end, 0x90, 0xdd)


cdef inline uint32_t _decode_container_len(const char **pp, const char *end, uint8_t fix,
                                           uint8_t b16, uint8_t b32,
                                           const char *what) except? 0xffffffff:
    # Arrays and maps share their length encoding: fix (0x90 / 0x80 | n), 16 and 32 bit.
    cdef const char *p = pp[0]
    cdef uint8_t c = mp_peek(p, end)
    if fix <= c <= fix + 0x0f:
        pp[0] = p + 1
        return c & 0x0f
    if c == b16:
        mp_need(p, end, 3)
        pp[0] = p + 3
        return lt_load_u16(p + 1)
    if c == b32:
        mp_need(p, end, 5)
        pp[0] = p + 5
        return lt_load_u32(p + 1)
    raise ProtocolError('expected {}, got MessagePack type 0x{:02x}'.format(
        what.decode('ascii'), c))


cdef uint32_t mp_decode_array_len(const char **pp, const char *end) except? 0xffffffff:
    return _decode_container_len(pp, end, 0x90, 0xdc, 0xdd, b'an array')


cdef uint32_t mp_decode_map_len(const char **pp, const char *end) except? 0xffffffff:
    return _decode_container_len(pp, end, 0x80, 0xde, 0xdf, b'a map')


cdef inline Py_ssize_t mp_sized_len(const char **pp, const char *end, int width) except -1:
    # The length of a str, bin or ext 8/16/32 (width 0, 1, 2: a length of 1, 2 or 4
    # bytes after the header byte at *pp); moves *pp past the length (to a str's or
    # bin's payload, to an ext's type byte), checking that n bytes follow.
    cdef const char *p = pp[0]
    cdef Py_ssize_t n
    if width == 0:
        mp_need(p, end, 2)
        n = <uint8_t> p[1]
        p += 2
    elif width == 1:
        mp_need(p, end, 3)
        n = lt_load_u16(p + 1)
        p += 3
    else:
        mp_need(p, end, 5)
        n = lt_load_u32(p + 1)
        p += 5
    mp_need(p, end, n)
    pp[0] = p
    return n


cdef inline object _decode_utf8(const char *s, Py_ssize_t n):
    # short ASCII text (most names and values) without the UTF-8 decoder's set-up
    if n <= 64 and lt_is_ascii(s, n):
        return lt_ascii_new(s, n)
    return PyUnicode_DecodeUTF8(s, n, NULL)


cdef inline object _decode_str(const char *s, Py_ssize_t n, object encoding):
    # Text that is not valid in the connection's encoding comes back as bytes
    # (as asynctnt does) instead of failing the whole packet.
    try:
        if encoding is None:
            return _decode_utf8(s, n)
        if type(encoding) is _TupleCtx:
            if (<_TupleCtx> encoding).encoding is None:
                return _decode_utf8(s, n)
            return PyUnicode_Decode(s, n, PyUnicode_AsUTF8((<_TupleCtx> encoding).encoding),
                                    NULL)
        return PyUnicode_Decode(s, n, PyUnicode_AsUTF8(encoding), NULL)
    except UnicodeDecodeError:
        return PyBytes_FromStringAndSize(s, n)


cdef object _decode_decimal(const char *p, Py_ssize_t n):
    cdef:
        const char *end = p + n
        const char *q = p
        int64_t scale
        uint8_t c, nib
        Py_ssize_t i, nbytes
        list digits = []
        int sign
    c = mp_peek(q, end)
    if c <= 0x7f:
        scale = c
        q += 1
    elif c >= 0xe0:
        scale = <int8_t> c
        q += 1
    elif c == 0xd0:
        mp_need(q, end, 2)
        scale = <int8_t> q[1]
        q += 2
    elif c == 0xcc:
        mp_need(q, end, 2)
        scale = <uint8_t> q[1]
        q += 2
    elif c == 0xd1:
        mp_need(q, end, 3)
        scale = <int16_t> lt_load_u16(q + 1)
        q += 3
    elif c == 0xcd:
        mp_need(q, end, 3)
        scale = lt_load_u16(q + 1)
        q += 3
    else:
        raise ProtocolError('bad decimal scale: MessagePack type 0x{:02x}'.format(c))
    nbytes = end - q
    if nbytes < 1:
        raise ProtocolError('decimal without digits')
    for i in range(nbytes):
        c = <uint8_t> q[i]
        nib = c >> 4
        if nib > 9:
            raise ProtocolError('bad decimal digit nibble 0x{:x}'.format(nib))
        digits.append(nib)
        if i < nbytes - 1:
            nib = c & 0x0f
            if nib > 9:
                raise ProtocolError('bad decimal digit nibble 0x{:x}'.format(nib))
            digits.append(nib)
    nib = (<uint8_t> q[nbytes - 1]) & 0x0f
    if nib == 0x0b or nib == 0x0d:
        sign = 1
    elif nib == 0x0a or nib == 0x0c or nib == 0x0e or nib == 0x0f:
        sign = 0
    else:
        raise ProtocolError('bad decimal sign nibble 0x{:x}'.format(nib))
    return Decimal((sign, tuple(digits), -scale))


cdef object _decode_ext(int8_t ext_type, const char *p, Py_ssize_t n, object encoding):
    if ext_type == tnt.MP_DECIMAL:
        return _decode_decimal(p, n)
    if ext_type == tnt.MP_UUID:
        if n != 16:
            raise ProtocolError('UUID extension of {} bytes, expected 16'.format(n))
        return UUID(bytes=PyBytes_FromStringAndSize(p, 16))
    if ext_type == tnt.MP_TUPLE and type(encoding) is _TupleCtx:
        return mp_tuple_decode(p, n, <_TupleCtx> encoding)    # ttuple.pyx
    return ext_decode(ext_type, p, n, encoding)    # ext.pyx: error, datetime, interval


cdef object _decode_array(const char **pp, const char *end, uint32_t n, object encoding):
    cdef list out
    cdef uint32_t i
    cdef object item
    # Each element takes at least one byte: a lying length cannot make us
    # allocate more than the packet holds.
    mp_need(pp[0], end, n)
    out = PyList_New(n)
    for i in range(n):
        item = mp_decode_obj(pp, end, encoding)
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
    return out


cdef object _hashable(list k):
    try:
        return tuple(_hashable(x) if type(x) is list else x for x in k)
    except TypeError:
        raise ProtocolError('an unhashable MessagePack value used as a map key') from None


cdef object _decode_map(const char **pp, const char *end, uint32_t n, object encoding):
    cdef dict out = {}
    cdef uint32_t i
    cdef object k
    mp_need(pp[0], end, <Py_ssize_t> n * 2)
    for i in range(n):
        k = mp_decode_obj(pp, end, encoding)
        if type(k) is list:
            k = _hashable(k)
        elif type(k) is dict:
            raise ProtocolError('a MessagePack map used as a map key')
        out[k] = mp_decode_obj(pp, end, encoding)
    return out


cdef object mp_decode_obj(const char **pp, const char *end, object encoding):
    cdef:
        const char *p = pp[0]
        uint8_t c = mp_peek(p, end)
        Py_ssize_t n
        int8_t ext_type
        uint64_t u
        object res
    if c <= 0x7f:
        pp[0] = p + 1
        return <long> c
    if c >= 0xe0:
        pp[0] = p + 1
        return <long> (<int8_t> c)
    if 0xa0 <= c <= 0xbf:
        n = c & 0x1f
        mp_need(p, end, 1 + n)
        pp[0] = p + 1 + n
        return _decode_str(p + 1, n, encoding)
    if 0x90 <= c <= 0x9f:
        pp[0] = p + 1
        _enter_recursion(' while decoding a MessagePack array')
        try:
            return _decode_array(pp, end, c & 0x0f, encoding)
        finally:
            Py_LeaveRecursiveCall()
    if 0x80 <= c <= 0x8f:
        pp[0] = p + 1
        _enter_recursion(' while decoding a MessagePack map')
        try:
            return _decode_map(pp, end, c & 0x0f, encoding)
        finally:
            Py_LeaveRecursiveCall()
    if c == 0xc0:
        pp[0] = p + 1
        return None
    if c == 0xc2:
        pp[0] = p + 1
        return False
    if c == 0xc3:
        pp[0] = p + 1
        return True
    if 0xcc <= c <= 0xcf:
        u = mp_uint_inline(pp, end)
        # through a C int64 while it fits: PyLong_FromLong has a one-digit fast
        # path that PyLong_FromUnsignedLong lacks (3.11)
        if u <= <uint64_t> 0x7fffffffffffffff:
            return <int64_t> u
        return u
    if c == 0xd0:
        mp_need(p, end, 2)
        pp[0] = p + 2
        return <long> (<int8_t> p[1])
    if c == 0xd1:
        mp_need(p, end, 3)
        pp[0] = p + 3
        return <long> (<int16_t> lt_load_u16(p + 1))
    if c == 0xd2:
        mp_need(p, end, 5)
        pp[0] = p + 5
        return <long> (<int32_t> lt_load_u32(p + 1))
    if c == 0xd3:
        mp_need(p, end, 9)
        pp[0] = p + 9
        return <int64_t> lt_load_u64(p + 1)
    if c == 0xca:
        mp_need(p, end, 5)
        pp[0] = p + 5
        return <double> lt_load_float(p + 1)
    if c == 0xcb:
        mp_need(p, end, 9)
        pp[0] = p + 9
        return lt_load_double(p + 1)
    if c == 0xd9 or c == 0xda or c == 0xdb:
        n = mp_sized_len(&p, end, c - 0xd9)
        pp[0] = p + n
        return _decode_str(p, n, encoding)
    if c == 0xc4 or c == 0xc5 or c == 0xc6:
        n = mp_sized_len(&p, end, c - 0xc4)
        pp[0] = p + n
        return PyBytes_FromStringAndSize(p, n)
    if c == 0xdc or c == 0xdd:
        n = mp_decode_array_len(pp, end)
        _enter_recursion(' while decoding a MessagePack array')
        try:
            return _decode_array(pp, end, <uint32_t> n, encoding)
        finally:
            Py_LeaveRecursiveCall()
    if c == 0xde or c == 0xdf:
        n = mp_decode_map_len(pp, end)
        _enter_recursion(' while decoding a MessagePack map')
        try:
            return _decode_map(pp, end, <uint32_t> n, encoding)
        finally:
            Py_LeaveRecursiveCall()
    if 0xd4 <= c <= 0xd8:
        n = 1 << (c - 0xd4)
        mp_need(p, end, 2 + n)
        ext_type = <int8_t> p[1]
        pp[0] = p + 2 + n
        return _decode_ext(ext_type, p + 2, n, encoding)
    if c == 0xc7 or c == 0xc8 or c == 0xc9:
        n = mp_sized_len(&p, end, c - 0xc7)     # p: at the type byte, then the n bytes
        mp_need(p, end, 1 + n)
        ext_type = <int8_t> p[0]
        pp[0] = p + 1 + n
        return _decode_ext(ext_type, p + 1, n, encoding)
    raise ProtocolError('invalid MessagePack type byte 0x{:02x}'.format(c))


cdef int mp_skip(const char **pp, const char *end) except -1:
    """Step over one value without building it: unknown keys cost no objects
    and no text decoding."""
    cdef:
        const char *p = pp[0]
        uint8_t c
        uint64_t left = 1
        Py_ssize_t n
    while left > 0:
        left -= 1
        c = mp_peek(p, end)
        if c <= 0x7f or c >= 0xe0 or c == 0xc0 or c == 0xc2 or c == 0xc3:
            p += 1
            continue
        if 0xa0 <= c <= 0xbf:
            n = 1 + (c & 0x1f)
        elif 0x90 <= c <= 0x9f:
            left += c & 0x0f
            n = 1
        elif 0x80 <= c <= 0x8f:
            left += 2 * <uint64_t> (c & 0x0f)
            n = 1
        elif c == 0xcc or c == 0xd0:
            n = 2
        elif c == 0xcd or c == 0xd1:
            n = 3
        elif c == 0xce or c == 0xd2 or c == 0xca:
            n = 5
        elif c == 0xcf or c == 0xd3 or c == 0xcb:
            n = 9
        elif c == 0xd9 or c == 0xc4:
            mp_need(p, end, 2)
            n = 2 + <uint8_t> p[1]
        elif c == 0xda or c == 0xc5:
            mp_need(p, end, 3)
            n = 3 + <Py_ssize_t> lt_load_u16(p + 1)
        elif c == 0xdb or c == 0xc6:
            mp_need(p, end, 5)
            n = 5 + <Py_ssize_t> lt_load_u32(p + 1)
        elif c == 0xdc:
            mp_need(p, end, 3)
            left += lt_load_u16(p + 1)
            n = 3
        elif c == 0xdd:
            mp_need(p, end, 5)
            left += lt_load_u32(p + 1)
            n = 5
        elif c == 0xde:
            mp_need(p, end, 3)
            left += 2 * <uint64_t> lt_load_u16(p + 1)
            n = 3
        elif c == 0xdf:
            mp_need(p, end, 5)
            left += 2 * <uint64_t> lt_load_u32(p + 1)
            n = 5
        elif 0xd4 <= c <= 0xd8:
            n = 2 + (1 << (c - 0xd4))
        elif c == 0xc7:
            mp_need(p, end, 2)
            n = 3 + <uint8_t> p[1]
        elif c == 0xc8:
            mp_need(p, end, 3)
            n = 4 + <Py_ssize_t> lt_load_u16(p + 1)
        elif c == 0xc9:
            mp_need(p, end, 5)
            n = 6 + <Py_ssize_t> lt_load_u32(p + 1)
        else:
            raise ProtocolError('invalid MessagePack type byte 0x{:02x}'.format(c))
        mp_need(p, end, n)
        p += n
        if left > <uint64_t> (end - p):
            raise ProtocolError('truncated MessagePack: {} values expected, {} bytes left'
                                .format(left, end - p))
    pp[0] = p
    return 0
