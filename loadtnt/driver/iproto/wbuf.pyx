# WriteBuffer: MessagePack encoding straight into one growable C buffer.

cdef enum:
    _WBUF_INITIAL = 64 * 1024
    _MAX_NESTING = 256
    _DECIMAL_MAX_DIGITS = 38


@cython.final
@cython.no_gc_clear
cdef class WriteBuffer:

    def __cinit__(self):
        self.buf = <char *> PyMem_Malloc(_WBUF_INITIAL)
        if self.buf is NULL:
            raise MemoryError()
        self.cap = _WBUF_INITIAL
        self.size = 0
        self.utf8 = True
        self.encoding = 'utf-8'

    def __dealloc__(self):
        if self.buf is not NULL:
            PyMem_Free(self.buf)
            self.buf = NULL

    cdef int _grow(self, Py_ssize_t need) except -1:
        # From the current capacity, or the initial one after a failed
        # allocation left none (0 * 2 would never reach need).
        cdef Py_ssize_t new_cap = self.cap * 2 if self.cap > 0 else _WBUF_INITIAL
        cdef char *new_buf
        while new_cap < need:
            new_cap *= 2
        new_buf = <char *> PyMem_Realloc(self.buf, new_cap)
        if new_buf is NULL:
            raise MemoryError()
        self.buf = new_buf
        self.cap = new_cap
        return 0

    cdef inline int ensure(self, Py_ssize_t extra) except -1:
        if self.size + extra > self.cap:
            self._grow(self.size + extra)
        return 0

    cdef inline char *reserve(self, Py_ssize_t extra) except NULL:
        # Room for up to `extra` bytes written straight to the returned pointer,
        # then commit(where they end): one check for a run of small values.
        if self.size + extra > self.cap:
            self._grow(self.size + extra)
        return &self.buf[self.size]

    cdef inline void commit(self, char *end):
        self.size = end - self.buf

    cdef inline void clear(self):
        self.size = 0

    cdef bytes take(self):
        """Return what was written as bytes and empty the buffer.

        Shrinks back after a large request, so one multi-MB value does not pin
        the memory for the connection's lifetime."""
        cdef bytes out = PyBytes_FromStringAndSize(self.buf, self.size)
        cdef char *small
        self.size = 0
        if self.cap > 16 * _WBUF_INITIAL:
            # allocate first: on failure the large buffer is kept, never none
            small = <char *> PyMem_Malloc(_WBUF_INITIAL)
            if small is not NULL:
                PyMem_Free(self.buf)
                self.buf = small
                self.cap = _WBUF_INITIAL
        return out

    # -- packets -------------------------------------------------------------

    cdef Py_ssize_t begin_packet(self) except -1:
        # 5 bytes for the length prefix, always written as MP_UINT32 (0xce).
        cdef Py_ssize_t start = self.size
        self.ensure(5)
        self.size += 5
        return start

    cdef int end_packet(self, Py_ssize_t start) except -1:
        cdef Py_ssize_t body = self.size - start - 5
        if LOADTNT_DEBUG and not (0 <= start and body >= 0 and self.size <= self.cap):
            raise AssertionError('write buffer invariant broken: start={} size={} cap={}'
                                 .format(start, self.size, self.cap))
        if body > 0xffffffff:
            self.size = start
            raise ValueError('request of {} bytes exceeds the IProto packet limit'.format(body))
        self.buf[start] = <char> 0xce
        lt_store_u32(&self.buf[start + 1], <uint32_t> body)
        return 0

    cdef int rollback(self, Py_ssize_t start) except -1:
        # An encoding error drops the half-written packet; earlier ones stay.
        self.size = start
        return 0

    cdef int put_raw(self, const char *data, Py_ssize_t n) except -1:
        # bytes already encoded (a packet encoded aside, a saved request body)
        self.ensure(n)
        memcpy(&self.buf[self.size], data, <size_t> n)
        self.size += n
        return 0

    cdef int put_header(self, uint32_t code, uint64_t sync, uint64_t schema_id,
                        uint64_t stream_id) except -1:
        # the map header, then up to four keys (fixints) and their values
        cdef char *p = self.reserve(1 + 4 * 10)
        p[0] = <char> (0x80 | (2 + (schema_id > 0) + (stream_id > 0)))
        p[1] = <char> tnt.IPROTO_REQUEST_TYPE
        p = lt_put_uint(p + 2, code)
        p[0] = <char> tnt.IPROTO_SYNC
        p = lt_put_uint(p + 1, sync)
        if schema_id > 0:
            p[0] = <char> tnt.IPROTO_SCHEMA_VERSION
            p = lt_put_uint(p + 1, schema_id)
        if stream_id > 0:
            p[0] = <char> tnt.IPROTO_STREAM_ID
            p = lt_put_uint(p + 1, stream_id)
        self.commit(p)
        return 0

    # -- scalars -------------------------------------------------------------

    cdef int put_nil(self) except -1:
        self.ensure(1)
        self.buf[self.size] = <char> 0xc0
        self.size += 1
        return 0

    cdef int put_bool(self, bint v) except -1:
        self.ensure(1)
        self.buf[self.size] = <char> (0xc3 if v else 0xc2)
        self.size += 1
        return 0

    cdef inline int put_uint(self, uint64_t v) except -1:
        self.commit(lt_put_uint(self.reserve(9), v))
        return 0

    cdef int put_sint(self, int64_t v) except -1:
        cdef char *p
        if v >= 0:
            return self.put_uint(<uint64_t> v)
        self.ensure(9)
        p = &self.buf[self.size]
        if v >= -32:
            p[0] = <char> (<uint8_t> v)
            self.size += 1
        elif v >= -128:
            p[0] = <char> 0xd0
            p[1] = <char> (<int8_t> v)
            self.size += 2
        elif v >= -32768:
            p[0] = <char> 0xd1
            lt_store_u16(p + 1, <uint16_t> (<int16_t> v))
            self.size += 3
        elif v >= -2147483648:
            p[0] = <char> 0xd2
            lt_store_u32(p + 1, <uint32_t> (<int32_t> v))
            self.size += 5
        else:
            p[0] = <char> 0xd3
            lt_store_u64(p + 1, <uint64_t> v)
            self.size += 9
        return 0

    cdef int put_double(self, double v) except -1:
        self.ensure(9)
        self.buf[self.size] = <char> 0xcb
        lt_store_double(&self.buf[self.size + 1], v)
        self.size += 9
        return 0

    cdef int put_raw_str(self, const char *s, Py_ssize_t n) except -1:
        cdef char *p
        self.ensure(n + 5)
        p = &self.buf[self.size]
        if n <= 31:
            p[0] = <char> (0xa0 | n)
            self.size += 1
        elif n <= 0xff:
            p[0] = <char> 0xd9
            p[1] = <char> n
            self.size += 2
        elif n <= 0xffff:
            p[0] = <char> 0xda
            lt_store_u16(p + 1, <uint16_t> n)
            self.size += 3
        elif n <= 0xffffffff:
            p[0] = <char> 0xdb
            lt_store_u32(p + 1, <uint32_t> n)
            self.size += 5
        else:
            raise ValueError('string of {} bytes is too long for MessagePack'.format(n))
        memcpy(&self.buf[self.size], s, <size_t> n)
        self.size += n
        return 0

    cdef int put_str(self, str s) except -1:
        cdef Py_ssize_t n
        cdef const char *data
        cdef bytes encoded
        if self.utf8:
            # Cached in the str object; no copy for ASCII strings.
            data = PyUnicode_AsUTF8AndSize(s, &n)
            return self.put_raw_str(data, n)
        encoded = s.encode(self.encoding)
        return self.put_raw_str(PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))

    cdef int put_bin(self, const char *s, Py_ssize_t n) except -1:
        cdef char *p
        self.ensure(n + 5)
        p = &self.buf[self.size]
        if n <= 0xff:
            p[0] = <char> 0xc4
            p[1] = <char> n
            self.size += 2
        elif n <= 0xffff:
            p[0] = <char> 0xc5
            lt_store_u16(p + 1, <uint16_t> n)
            self.size += 3
        elif n <= 0xffffffff:
            p[0] = <char> 0xc6
            lt_store_u32(p + 1, <uint32_t> n)
            self.size += 5
        else:
            raise ValueError('bytes of length {} are too long for MessagePack'.format(n))
        memcpy(&self.buf[self.size], s, <size_t> n)
        self.size += n
        return 0

    cdef int put_array_header(self, Py_ssize_t n) except -1:
        cdef char *p
        self.ensure(5)
        p = &self.buf[self.size]
        if n <= 15:
            p[0] = <char> (0x90 | n)
            self.size += 1
        elif n <= 0xffff:
            p[0] = <char> 0xdc
            lt_store_u16(p + 1, <uint16_t> n)
            self.size += 3
        else:
            p[0] = <char> 0xdd
            lt_store_u32(p + 1, <uint32_t> n)
            self.size += 5
        return 0

    cdef int put_map_header(self, Py_ssize_t n) except -1:
        cdef char *p
        self.ensure(5)
        p = &self.buf[self.size]
        if n <= 15:
            p[0] = <char> (0x80 | n)
            self.size += 1
        elif n <= 0xffff:
            p[0] = <char> 0xde
            lt_store_u16(p + 1, <uint16_t> n)
            self.size += 3
        else:
            p[0] = <char> 0xdf
            lt_store_u32(p + 1, <uint32_t> n)
            self.size += 5
        return 0

    cdef int put_ext_header(self, int8_t ext_type, Py_ssize_t n) except -1:
        cdef char *p
        self.ensure(6)
        p = &self.buf[self.size]
        if n == 1 or n == 2 or n == 4 or n == 8 or n == 16:
            p[0] = <char> (0xd4 if n == 1 else 0xd5 if n == 2 else
                           0xd6 if n == 4 else 0xd7 if n == 8 else 0xd8)
            p[1] = <char> ext_type
            self.size += 2
        elif n <= 0xff:
            p[0] = <char> 0xc7
            p[1] = <char> n
            p[2] = <char> ext_type
            self.size += 3
        elif n <= 0xffff:
            p[0] = <char> 0xc8
            lt_store_u16(p + 1, <uint16_t> n)
            p[3] = <char> ext_type
            self.size += 4
        else:
            p[0] = <char> 0xc9
            lt_store_u32(p + 1, <uint32_t> n)
            p[5] = <char> ext_type
            self.size += 6
        return 0

    cdef int put_int_obj(self, object v) except -1:
        cdef int overflow = 0
        cdef long long sv = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow == 0:
            if sv >= 0:
                self.commit(lt_put_uint(self.reserve(9), <uint64_t> sv))
                return 0
            return self.put_sint(sv)
        if overflow > 0:
            try:
                return self.put_uint(PyLong_AsUnsignedLongLong(v))
            except OverflowError:
                pass
        raise IntegerOutOfRangeError(
            'integer {} is out of the MessagePack range [-2**63, 2**64-1]'.format(v))

    cdef int put_decimal(self, object v) except -1:
        # MP_EXT type 1: the scale as a MessagePack int (negative for a positive
        # exponent: 1E+38 is one digit and scale -38, as box/decimal encodes it),
        # then packed BCD digits with the sign in the last nibble (0x0c +, 0x0d -).
        cdef:
            int sign
            tuple digits
            object exponent
            Py_ssize_t ndigits, nnibbles, nbytes, i, k, first
            int64_t scale
            uint8_t nibbles[_DECIMAL_MAX_DIGITS]
            char *p
            Py_ssize_t body_len, before
            long d
        sign, digits, exponent = v.as_tuple()
        if not isinstance(exponent, int):
            raise ValueError('Tarantool decimals cannot hold {!r}'.format(v))
        # Every digit is read into C first: as_tuple() of a subclass may hand
        # out objects whose int() runs user code, which may send a request on
        # this connection and move the buffer. Nothing below calls back.
        ndigits = len(digits)
        first = 0
        while first < ndigits - 1 and digits[first] == 0:
            first += 1      # leading zeros carry no precision
        if ndigits - first > _DECIMAL_MAX_DIGITS:
            raise ValueError('Tarantool decimals hold at most {} significant digits: {!r}'
                             .format(<int> _DECIMAL_MAX_DIGITS, v))
        for i in range(first, ndigits):
            d = digits[i]
            if not 0 <= d <= 9:
                raise ValueError('decimal digit {!r} of {!r} is not 0..9'.format(d, v))
            nibbles[i - first] = <uint8_t> d
        ndigits -= first
        if not -0x7fffffff <= exponent <= 0x7fffffff:
            raise ValueError('the exponent of {!r} is out of the range of Tarantool decimals'
                             .format(v))
        scale = -<int64_t> exponent
        nnibbles = ndigits + 1
        if nnibbles & 1:
            nnibbles += 1
        nbytes = nnibbles // 2
        # measure the scale's encoding, then write it and the digits in place
        before = self.size
        self.put_sint(scale)
        body_len = self.size - before + nbytes
        self.size = before
        self.put_ext_header(tnt.MP_DECIMAL, body_len)
        self.put_sint(scale)
        self.ensure(nbytes)
        p = &self.buf[self.size]
        memset(p, 0, <size_t> nbytes)
        # nibble k (0 = high nibble of byte 0); digits right-aligned before sign
        k = nnibbles - 1 - ndigits
        for i in range(ndigits):
            if k & 1:
                p[k >> 1] = <char> (p[k >> 1] | nibbles[i])
            else:
                p[k >> 1] = <char> (p[k >> 1] | (nibbles[i] << 4))
            k += 1
        p[nbytes - 1] = <char> (p[nbytes - 1] | (0x0d if sign else 0x0c))
        self.size += nbytes
        return 0

    cdef int put_uuid(self, object v) except -1:
        # MP_EXT type 2: the 16 bytes in RFC 4122 order, as uuid.UUID.bytes.
        cdef bytes b = v.bytes
        self.put_ext_header(tnt.MP_UUID, 16)
        self.ensure(16)
        memcpy(&self.buf[self.size], PyBytes_AS_STRING(b), 16)
        self.size += 16
        return 0

    cdef int put_sequence(self, object seq) except -1:
        cdef Py_ssize_t i, n
        cdef object item
        if PyList_CheckExact(seq):
            n = PyList_GET_SIZE(seq)
            self.put_array_header(n)
            for i in range(n):
                # put_obj may run user code (__index__, as_tuple, ...) that
                # changes the list: hold a reference, and check its size.
                if i >= PyList_GET_SIZE(seq):
                    raise RuntimeError('a list changed size while it was being encoded')
                item = <object> PyList_GET_ITEM(seq, i)
                self.put_obj(item)
        elif PyTuple_CheckExact(seq):
            n = PyTuple_GET_SIZE(seq)
            self.put_array_header(n)
            for i in range(n):
                self.put_obj(<object> PyTuple_GET_ITEM(seq, i))
        else:
            seq = list(seq)
            return self.put_sequence(seq)
        return 0

    cdef int put_obj(self, object o) except -1:
        cdef Py_ssize_t n
        if PyUnicode_CheckExact(o):
            return self.put_str(<str> o)
        if PyLong_CheckExact(o):
            return self.put_int_obj(o)
        if PyList_CheckExact(o) or PyTuple_CheckExact(o):
            _enter_recursion(' while encoding a MessagePack array')
            try:
                self.put_sequence(o)
            finally:
                Py_LeaveRecursiveCall()
            return 0
        if o is None:
            return self.put_nil()
        if o is True or o is False:
            return self.put_bool(o is True)
        if PyFloat_CheckExact(o):
            return self.put_double(PyFloat_AS_DOUBLE(o))
        if PyDict_CheckExact(o):
            return self._put_dict(<dict> o)
        if PyBytes_CheckExact(o):
            return self.put_bin(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o))
        if type(o) is TarantoolTuple:
            return self.put_sequence((<TarantoolTuple> o)._values)
        if type(o) is ExtType:
            self.put_ext_header((<ExtType> o).code, len((<ExtType> o).data))
            self.ensure(len((<ExtType> o).data))
            memcpy(&self.buf[self.size], PyBytes_AS_STRING((<ExtType> o).data),
                   <size_t> len((<ExtType> o).data))
            self.size += len((<ExtType> o).data)
            return 0
        if isinstance(o, Decimal):
            return self.put_decimal(o)
        if isinstance(o, UUID):
            return self.put_uuid(o)
        if PyDateTime_Check(o):                 # ext.pyx
            return put_datetime(self, o)
        if isinstance(o, MPInterval):
            return put_interval(self, <MPInterval> o)
        # subclasses and other buffer-like types
        if isinstance(o, bool):
            return self.put_bool(o)
        if isinstance(o, int):
            return self.put_int_obj(int(o))
        if isinstance(o, float):
            return self.put_double(float(o))
        if isinstance(o, str):
            return self.put_str(str(o))
        if isinstance(o, (bytes, bytearray, memoryview)):
            o = bytes(o)
            return self.put_bin(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o))
        if isinstance(o, (list, tuple)):
            return self.put_obj(list(o))
        if isinstance(o, dict):
            return self._put_dict(dict(o))
        raise TypeError(
            'cannot encode a value of type {} for Tarantool'.format(type(o).__name__))

    cdef int _put_dict(self, dict d) except -1:
        _enter_recursion(' while encoding a MessagePack map')
        try:
            self.put_map_header(len(d))
            for k, v in d.items():
                self.put_obj(k)
                self.put_obj(v)
        finally:
            Py_LeaveRecursiveCall()
        return 0
