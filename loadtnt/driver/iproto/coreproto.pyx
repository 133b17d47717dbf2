# CoreProtocol: the IProto state machine. Bytes in, packets out; the event
# loop glue (futures, timers, the transport) lives in protocol.pyx.

cdef enum:
    _RBUF_INITIAL = 64 * 1024
    _RBUF_MIN_FREE = 16 * 1024
    _RBUF_SHRINK_ABOVE = 4 * 1024 * 1024
    _MAX_PACKET = 1 << 30


cdef class CoreProtocol:

    def __cinit__(self):
        self.rbuf = bytearray(_RBUF_INITIAL)
        self.rstart = 0
        self.rend = 0
        self.want = 0
        self.wbuf = WriteBuffer()
        self.state = CS_GREETING
        self.encoding = None
        self.version = None
        self.salt = None
        self.max_packet = _MAX_PACKET

    # -- asyncio.BufferedProtocol: the loop reads straight into rbuf ----------

    def get_buffer(self, Py_ssize_t sizehint):
        cdef Py_ssize_t used, need
        if self.rstart == self.rend:
            self.rstart = self.rend = 0
            if len(self.rbuf) > _RBUF_SHRINK_ABOVE and self.want <= _RBUF_INITIAL:
                self.rbuf = bytearray(_RBUF_INITIAL)
        used = self.rend - self.rstart
        need = self.want - used
        # Room for what a length prefix announces, but never more than the
        # bytes that already arrived: a forged prefix (1 GiB, then silence)
        # costs what was sent, and a real large packet grows the buffer by
        # doubling as its bytes come in.
        if need > used and need > _RBUF_INITIAL:
            need = used if used > _RBUF_INITIAL else _RBUF_INITIAL
        self._reserve(need)
        return memoryview(self.rbuf)[self.rend:]

    cdef int _reserve(self, Py_ssize_t need) except -1:
        # At least `need` free bytes after rend (and _RBUF_MIN_FREE).
        cdef Py_ssize_t cap = len(self.rbuf)
        cdef Py_ssize_t used
        cdef bytearray nbuf
        if need < _RBUF_MIN_FREE:
            need = _RBUF_MIN_FREE
        if cap - self.rend < need:
            used = self.rend - self.rstart
            if self.rstart > 0 and cap - used >= need:
                memmove(PyByteArray_AS_STRING(self.rbuf),
                        PyByteArray_AS_STRING(self.rbuf) + self.rstart, <size_t> used)
            else:
                # A new buffer rather than a resize: the previous memoryview
                # may still be alive in the loop's frame. Double while small;
                # a large packet gets just what it needs.
                if cap * 2 - used >= need and cap * 2 <= _RBUF_SHRINK_ABOVE:
                    cap *= 2
                else:
                    cap = used + need
                nbuf = bytearray(cap)
                memcpy(PyByteArray_AS_STRING(nbuf),
                       PyByteArray_AS_STRING(self.rbuf) + self.rstart, <size_t> used)
                self.rbuf = nbuf
            self.rstart = 0
            self.rend = used
        if LOADTNT_DEBUG:
            _check_rbuf(self)
        return 0

    def buffer_updated(self, Py_ssize_t nbytes):
        self.rend += nbytes
        self._parse()

    def data_received(self, data):
        # Plain asyncio.Protocol path (used by transports that do not support
        # BufferedProtocol): copy into rbuf and parse. These bytes did arrive,
        # so they get all the room they need.
        cdef Py_ssize_t n = len(data)
        cdef object view
        if self.rstart == self.rend:
            self.rstart = self.rend = 0
        self._reserve(n)
        view = memoryview(self.rbuf)[self.rend:self.rend + n]
        view[:] = data
        view = None
        self.buffer_updated(n)

    # -- framing --------------------------------------------------------------

    cdef int _parse(self) except -1:
        cdef:
            char *base = PyByteArray_AS_STRING(self.rbuf)
            const char *p
            const char *end
            const char *q
            uint64_t length
            uint8_t c
            Py_ssize_t prefix
        if self.state == CS_CLOSED:
            self.rstart = self.rend
            return 0
        if self.state == CS_GREETING:
            if self.rend - self.rstart < tnt.GREETING_SIZE:
                self.want = tnt.GREETING_SIZE
                return 0
            self._parse_greeting(base + self.rstart)
            self.rstart += tnt.GREETING_SIZE
            self.state = CS_CONNECTED
            self._on_greeting()
        while self.state != CS_CLOSED:
            p = base + self.rstart
            end = base + self.rend
            if p == end:
                self.want = 0
                break
            # the length prefix: an MP_UINT, always 0xce from Tarantool
            c = <uint8_t> p[0]
            if c <= 0x7f:
                prefix = 1
            elif c == 0xcc:
                prefix = 2
            elif c == 0xcd:
                prefix = 3
            elif c == 0xce:
                prefix = 5
            elif c == 0xcf:
                prefix = 9
            else:
                raise ProtocolError('bad packet length prefix byte 0x{:02x}'.format(c))
            if end - p < prefix:
                self.want = prefix
                break
            q = p
            length = mp_uint_inline(&q, end)
            if length > <uint64_t> self.max_packet:
                raise ProtocolError('packet of {} bytes exceeds the {} byte limit '
                                    '(max_packet_size)'.format(length, self.max_packet))
            if <uint64_t> (end - q) < length:
                self.want = prefix + <Py_ssize_t> length
                break
            self.rstart += prefix + <Py_ssize_t> length
            self._on_packet(q, q + length)
            # _on_packet never re-enters the loop, so base is still valid
        if self.rstart == self.rend:
            self.rstart = self.rend = 0
        if LOADTNT_DEBUG:
            _check_rbuf(self)
        return 0

    cdef int _parse_greeting(self, const char *p) except -1:
        cdef bytes line1 = PyBytes_FromStringAndSize(p, 64)
        cdef bytes line2 = PyBytes_FromStringAndSize(p + 64, 64)
        if not line1.startswith(b'Tarantool '):
            raise ProtocolError('not a Tarantool greeting: {!r}'.format(line1[:32]))
        parts = line1.decode('ascii', 'replace').split()
        ver = parts[1] if len(parts) > 1 else ''
        nums = []
        for piece in ver.split('-')[0].split('.'):
            if not piece.isdigit():
                break
            nums.append(int(piece))
        self.version = tuple(nums)
        try:
            self.salt = _base64.b64decode(line2[:44])
        except Exception:
            raise ProtocolError('bad salt in the Tarantool greeting') from None
        if len(self.salt) < tnt.SCRAMBLE_SIZE:
            raise ProtocolError('short salt in the Tarantool greeting')
        return 0

    cdef int _on_greeting(self) except -1:
        return 0

    cdef int _on_packet(self, const char *p, const char *end) except -1:
        return 0

    cdef int _parse_body(self, const char *p, const char *end, Response resp,
                         Request req) except -1:
        cdef:
            uint32_t n, i, m, j, k, rows
            uint64_t key
            list data
            object item
            Metadata md
        n = mp_map_len_fast(&p, end)
        for i in range(n):
            key = mp_uint_fast(&p, end)
            if key == tnt.IPROTO_DATA:
                if not req.parse_as_tuples:
                    resp.body = mp_decode_obj(&p, end, self.encoding)
                    if type(resp.body) is not list:
                        raise ProtocolError('IPROTO_DATA is not an array')
                    continue
                md = resp.metadata if resp.metadata is not None else req.metadata
                rows = mp_array_len_fast(&p, end)
                mp_need(p, end, rows)
                data = PyList_New(rows)
                for j in range(rows):
                    m = mp_array_len_fast(&p, end)
                    mp_need(p, end, m)
                    values = PyTuple_New(m)
                    for k in range(m):
                        item = mp_decode_obj(&p, end, self.encoding)
                        Py_INCREF(item)
                        PyTuple_SET_ITEM(values, k, item)
                    item = ttuple_new(<tuple> values, md)
                    Py_INCREF(item)
                    PyList_SET_ITEM(data, j, item)
                resp.body = data
            elif key == tnt.IPROTO_ERROR_24:
                item = mp_decode_obj(&p, end, self.encoding)
                if isinstance(item, bytes):
                    item = (<bytes> item).decode('utf-8', 'replace')
                elif not isinstance(item, str):
                    raise ProtocolError('IPROTO_ERROR_24 is not a string')
                resp.errmsg = item
            elif key == tnt.IPROTO_ERROR:
                resp.error = mp_decode_error(&p, end, self.encoding)
            elif key == tnt.IPROTO_METADATA:
                if req.parse_metadata:
                    resp.metadata = _sql_metadata(mp_decode_obj(&p, end, self.encoding))
                    if resp.body is not None:
                        for item in resp.body:
                            if type(item) is TarantoolTuple:
                                (<TarantoolTuple> item).metadata = resp.metadata
                else:
                    mp_skip(&p, end)
            elif key == tnt.IPROTO_POSITION:
                # pagination (2.11+): opaque bytes, sent back as after=
                if resp.aux_ is not None:
                    raise ProtocolError('IPROTO_POSITION in a reply with IPROTO_STMT_ID')
                resp.aux_ = _raw_str(&p, end)
                resp.aux_is_position = True
            elif key == tnt.IPROTO_BIND_METADATA:
                resp.params = _sql_metadata(mp_decode_obj(&p, end, self.encoding))
            elif key == tnt.IPROTO_BIND_COUNT:
                resp.params_count = <int> mp_decode_uint(&p, end)
            elif key == tnt.IPROTO_STMT_ID:
                if resp.aux_is_position:
                    raise ProtocolError('IPROTO_STMT_ID in a reply with IPROTO_POSITION')
                resp.aux_ = mp_decode_obj(&p, end, self.encoding)
            elif key == tnt.IPROTO_VERSION or key == tnt.IPROTO_FEATURES or \
                    key == tnt.IPROTO_AUTH_TYPE:
                # an IPROTO_ID reply
                if resp.body is None:
                    resp.body = {}
                item = mp_decode_obj(&p, end, self.encoding)
                if not isinstance(resp.body, dict):
                    raise ProtocolError('IPROTO_ID keys in a reply with data')
                resp.body[('version' if key == tnt.IPROTO_VERSION else 'features'
                           if key == tnt.IPROTO_FEATURES else 'auth_type')] = item
            elif key == tnt.IPROTO_SQL_INFO:
                item = mp_decode_obj(&p, end, self.encoding)
                if not isinstance(item, dict):
                    raise ProtocolError('IPROTO_SQL_INFO is not a map')
                rowcount = item.get(tnt.SQL_INFO_ROW_COUNT, 0)
                ids = item.get(tnt.SQL_INFO_AUTOINCREMENT_IDS)
                if type(rowcount) is not int or not (ids is None or type(ids) is list):
                    raise ProtocolError('malformed IPROTO_SQL_INFO: {!r}'.format(item))
                resp.rowcount_ = rowcount
                resp.autoincrement_ids = ids
            else:
                mp_skip(&p, end)
        if p != end:
            raise ProtocolError('{} trailing bytes after the response body'.format(end - p))
        return 0


    cdef int _parse_body_ext(self, const char *p, const char *end, Response resp,
                             Request req) except -1:
        # tuple_extension=True (a TupleExtProtocol's _parse_body, so the plain
        # protocol pays nothing for it): this reply's formats first (the server
        # writes IPROTO_TUPLE_FORMATS after IPROTO_DATA), then the body decoded
        # with the _TupleCtx in the encoding's place, so that an MP_TUPLE
        # anywhere in it has its field names. Rows come as MP_TUPLE, not
        # arrays: IPROTO_DATA is decoded whole, then plain rows become tuples.
        cdef object encoding = self.encoding
        cdef bint as_tuples = req.parse_as_tuples
        self.tuple_ctx.load_formats(p, end)
        self.encoding = self.tuple_ctx
        req.parse_as_tuples = False
        try:
            CoreProtocol._parse_body(self, p, end, resp, req)
        finally:
            self.encoding = encoding
            req.parse_as_tuples = as_tuples
        if as_tuples and resp.body is not None:
            _rows_as_tuples(resp.body, resp.metadata if resp.metadata is not None
                            else req.metadata)
        return 0


cdef bytes _raw_str(const char **pp, const char *end):
    # An MP_STR's bytes as they are (no text decoding).
    cdef const char *p = pp[0]
    cdef uint8_t c = mp_peek(p, end)
    cdef Py_ssize_t n
    if 0xa0 <= c <= 0xbf:
        n = c & 0x1f
        p += 1
        mp_need(p, end, n)
    elif c == 0xd9 or c == 0xda or c == 0xdb:
        n = mp_sized_len(&p, end, c - 0xd9)
    else:
        raise ProtocolError('expected a string, got MessagePack type 0x{:02x}'.format(c))
    pp[0] = p + n
    return PyBytes_FromStringAndSize(p, n)


cdef int _rows_as_tuples(list rows, Metadata md) except -1:
    # tuple_extension=True: rows that came as MP_TUPLE are TarantoolTuples with
    # their own format already; plain arrays (an older server) get the space's.
    cdef Py_ssize_t i
    cdef object row
    for i in range(len(rows)):
        row = rows[i]
        if type(row) is list:
            rows[i] = ttuple_new(tuple(<list> row), md)
        elif type(row) is not TarantoolTuple:
            raise ProtocolError('a row of IPROTO_DATA is neither an array nor an MP_TUPLE')
    return 0


cdef Metadata _sql_metadata(object obj):
    cdef Metadata md = Metadata()
    cdef Field f
    if not isinstance(obj, list):
        raise ProtocolError('SQL metadata is not an array')
    for i, item in enumerate(obj):
        if not isinstance(item, dict):
            raise ProtocolError('SQL metadata field is not a map')
        f = Field.__new__(Field)
        f.name = item.get(tnt.IPROTO_FIELD_NAME)
        f.type = item.get(tnt.IPROTO_FIELD_TYPE)
        f.collation = item.get(tnt.IPROTO_FIELD_COLL)
        f.is_nullable = item.get(tnt.IPROTO_FIELD_IS_NULLABLE)
        f.is_autoincrement = item.get(tnt.IPROTO_FIELD_IS_AUTOINCREMENT)
        f.span = item.get(tnt.IPROTO_FIELD_SPAN)
        md.add(i, f)
    return md


cdef int _check_rbuf(CoreProtocol p) except -1:
    # debug builds only (make debug): the read buffer's offsets stay ordered
    if not (0 <= p.rstart <= p.rend <= len(p.rbuf)):
        raise AssertionError('read buffer invariant broken: start={} end={} cap={}'.format(
            p.rstart, p.rend, len(p.rbuf)))
    return 0
