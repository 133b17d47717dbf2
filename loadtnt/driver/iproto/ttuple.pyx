# TarantoolTuple: a row addressable by position and by field name.


@cython.final
cdef class Field:
    def __repr__(self):
        return '<Field name={!r} type={!r}>'.format(self.name, self.type)


@cython.final
cdef class Metadata:
    def __cinit__(self):
        self.fields = []
        self.names = []
        self.name_id_map = {}

    cdef int add(self, int field_id, Field field) except -1:
        while len(self.fields) <= field_id:
            self.fields.append(None)
            self.names.append(None)
        self.fields[field_id] = field
        self.names[field_id] = field.name
        if field.name is not None:
            self.name_id_map[field.name] = field_id
        return 0

    cdef object name_by_id(self, Py_ssize_t i):
        if 0 <= i < len(self.names):
            return self.names[i]
        return None

    cdef Py_ssize_t id_by_name(self, object name) except -2:
        cdef PyObject *p = PyDict_GetItem(self.name_id_map, name)
        if p is NULL:
            return -1
        return <Py_ssize_t> (<object> p)

    cdef inline Py_ssize_t len(self):
        return len(self.names)

    def __len__(self):
        return len(self.names)

    def __repr__(self):
        return '<Metadata fields={!r}>'.format(self.names)


@cython.freelist(256)
@cython.final
cdef class TarantoolTuple:

    def __init__(self, *args, **kwargs):
        raise TypeError('TarantoolTuple is created by the driver only')

    cdef object _get_by_name(self, object name, bint raise_missing):
        cdef Py_ssize_t i = -1
        if self.metadata is not None:
            i = self.metadata.id_by_name(name)
        if i < 0 or i >= len(self._values):
            if raise_missing:
                raise KeyError(name)
            return None
        return self._values[i]

    def __getitem__(self, item):
        if PyLong_CheckExact(item) or isinstance(item, slice):
            return self._values[item]
        if isinstance(item, str):
            return self._get_by_name(item, True)
        if isinstance(item, int):
            return self._values[item]
        raise TypeError('tuple indices must be int, slice or a field name, not {}'
                        .format(type(item).__name__))

    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __contains__(self, item):
        # dict-like: is this a field name of the tuple
        if self.metadata is None:
            return False
        cdef Py_ssize_t i = self.metadata.id_by_name(item)
        return 0 <= i < len(self._values)

    def get(self, item, default=None):
        if isinstance(item, str):
            if item in self:
                return self._get_by_name(item, False)
            return default
        try:
            return self._values[item]
        except (IndexError, TypeError):
            return default

    cdef int _need_format(self) except -1:
        if self.metadata is None or self.metadata.len() == 0:
            raise ValueError('this tuple has no field names: its space has no format '
                             '(or the schema was not fetched)')
        return 0

    def keys(self):
        """Field names, for the fields that have one; ValueError without a format (as
        asynctnt)."""
        cdef Py_ssize_t i
        self._need_format()
        names = []
        for i in range(len(self._values)):
            name = self.metadata.name_by_id(i)
            if name is not None:
                names.append(name)
        return iter(names)

    def values(self):
        return iter(self._values)

    def items(self):
        """(name, value) for the fields that have a name; ValueError without a format."""
        cdef Py_ssize_t i
        self._need_format()
        pairs = []
        for i in range(len(self._values)):
            name = self.metadata.name_by_id(i)
            if name is not None:
                pairs.append((name, self._values[i]))
        return iter(pairs)

    def __eq__(self, other):
        if type(other) is TarantoolTuple:
            return self._values == (<TarantoolTuple> other)._values
        if isinstance(other, tuple):
            return self._values == other
        if isinstance(other, list):
            return list(self._values) == other
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        if r is NotImplemented:
            return r
        return not r

    def __hash__(self):
        return hash(self._values)

    def __reduce__(self):
        return (list, (list(self._values),))

    def __repr__(self):
        cdef Py_ssize_t i
        cdef object name
        parts = []
        for i in range(len(self._values)):
            name = self.metadata.name_by_id(i) if self.metadata is not None else None
            parts.append('{}={!r}'.format(i if name is None else name, self._values[i]))
        return '<TarantoolTuple {}>'.format(' '.join(parts))


cdef TarantoolTuple ttuple_new(tuple values, Metadata metadata):
    cdef TarantoolTuple t = TarantoolTuple.__new__(TarantoolTuple)
    t._values = values
    t.metadata = metadata
    return t


# -- MP_TUPLE (ext 7, Tarantool 3.0+) ---------------------------------------------
# The extension's data is the tuple's format id (MP_UINT) followed by the tuple
# itself (an MP_ARRAY). The reply that carries MP_TUPLE values also carries
# IPROTO_TUPLE_FORMATS: {format id: [field format, ...]} for every id it uses,
# each field format a map like a space's format ({'name': ..., 'type': ...}).

@cython.final
cdef class _TupleCtx:

    def __cinit__(self, encoding=None):
        self.encoding = encoding
        self.formats = {}
        self.raw = {}

    cdef int load_formats(self, const char *p, const char *end) except -1:
        # Before the body is decoded (the server writes IPROTO_TUPLE_FORMATS
        # after IPROTO_DATA): the formats of this reply, by id. A format whose
        # bytes did not change since the connection last saw its id keeps its
        # Metadata; ids the server reuses for another format get the new one.
        cdef uint32_t n, i, m, j
        cdef uint64_t key, fid
        cdef const char *start
        cdef bytes raw
        cdef object fmt
        n = mp_decode_map_len(&p, end)
        for i in range(n):
            key = mp_decode_uint(&p, end)
            if key != tnt.IPROTO_TUPLE_FORMATS:
                mp_skip(&p, end)
                continue
            m = mp_decode_map_len(&p, end)
            for j in range(m):
                fid = mp_decode_uint(&p, end)
                start = p
                mp_skip(&p, end)
                raw = PyBytes_FromStringAndSize(start, p - start)
                if self.raw.get(fid) == raw:
                    continue
                fmt = mp_decode_obj(&start, p, self.encoding)
                if type(fmt) is not list:
                    raise ProtocolError('the format of tuple format id {} is not an array'
                                        .format(fid))
                self.formats[fid] = _format_metadata(fmt)
                self.raw[fid] = raw
        return 0


cdef object mp_tuple_decode(const char *p, Py_ssize_t n, _TupleCtx ctx):
    cdef const char *end = p + n
    cdef uint64_t fid
    cdef uint32_t m, k
    cdef tuple values
    cdef object item
    cdef PyObject *md
    fid = mp_decode_uint(&p, end)
    m = mp_decode_array_len(&p, end)
    mp_need(p, end, m)
    _enter_recursion(' while decoding an MP_TUPLE')
    try:
        values = PyTuple_New(m)
        for k in range(m):
            item = mp_decode_obj(&p, end, ctx)
            Py_INCREF(item)
            PyTuple_SET_ITEM(values, k, item)
    finally:
        Py_LeaveRecursiveCall()
    if p != end:
        raise ProtocolError('{} trailing bytes in an MP_TUPLE'.format(end - p))
    md = PyDict_GetItem(ctx.formats, fid)
    if md is NULL:
        raise ProtocolError('an MP_TUPLE of format id {} that the reply\'s '
                            'IPROTO_TUPLE_FORMATS does not describe'.format(fid))
    return ttuple_new(values, <Metadata> md)
