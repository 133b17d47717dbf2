# Schema: spaces and indexes by name and id, field names from space formats.
# get_space/get_index return None when a name is unknown: the protocol then
# refetches the schema and tries once more before raising TarantoolSchemaError.
# Each remembers the key it last found by identity: a caller names a space with
# the same str or int object request after request, and `is` costs less than a
# dict lookup (about 300 client instructions of a select, bench/instr_bench.py).
# A schema's dicts never change once parsed (a refetch makes a new Schema).

cdef object _NO_KEY = object()


@cython.final
cdef class SchemaIndex:
    def __repr__(self):
        return '<SchemaIndex id={} name={!r} space={}>'.format(self.iid, self.name, self.sid)


@cython.final
cdef class SchemaSpace:
    def __cinit__(self):
        self.indexes = {}
        self.metadata = Metadata()
        self.last_key = _NO_KEY

    cdef SchemaIndex get_index(self, object index):
        cdef PyObject *p
        cdef SchemaIndex idx
        if index is self.last_key:
            return self.last_index
        p = PyDict_GetItem(self.indexes, index)
        if p is not NULL:
            self.last_key = index
            self.last_index = <SchemaIndex> p
            return <SchemaIndex> p
        if isinstance(index, int) and not isinstance(index, bool):
            # An index the client does not know by id: send the id as is.
            idx = SchemaIndex.__new__(SchemaIndex)
            idx.iid = index
            idx.sid = self.sid
            idx.name = None
            return idx
        if not isinstance(index, str):
            raise TypeError('index must be a name (str) or an id (int), not {}'
                            .format(type(index).__name__))
        return None

    def __repr__(self):
        return '<SchemaSpace id={} name={!r} engine={!r}>'.format(self.sid, self.name, self.engine)


cdef SchemaSpace _dummy_space(int sid):
    cdef SchemaSpace sp = SchemaSpace.__new__(SchemaSpace)
    sp.sid = sid
    sp.name = None
    return sp


@cython.final
cdef class Schema:
    def __cinit__(self, int64_t schema_id=-1):
        self.id = schema_id
        self.spaces = {}
        self.last_key = _NO_KEY

    cdef SchemaSpace get_space(self, object space):
        cdef PyObject *p
        if space is self.last_key:
            return self.last_space
        p = PyDict_GetItem(self.spaces, space)
        if p is not NULL:
            self.last_key = space
            self.last_space = <SchemaSpace> p
            return <SchemaSpace> p
        if isinstance(space, int) and not isinstance(space, bool):
            return _dummy_space(space)
        if not isinstance(space, str):
            raise TypeError('space must be a name (str) or an id (int), not {}'
                            .format(type(space).__name__))
        return None

    def __repr__(self):
        return '<Schema id={} spaces={}>'.format(self.id, len(self.spaces) // 2)


cdef Metadata _format_metadata(object fmt):
    cdef Metadata md = Metadata()
    cdef Field f
    cdef int i
    if not isinstance(fmt, list):
        return md
    for i, item in enumerate(fmt):
        f = Field.__new__(Field)
        if isinstance(item, dict):
            f.name = item.get('name')
            f.type = item.get('type')
            f.is_nullable = item.get('is_nullable')
            f.collation = item.get('collation')
        md.add(i, f)
    return md


def tuples_with_format(list rows, object fmt):
    """``rows`` (arrays) as TarantoolTuples named by ``fmt``, a space format (a list of
    ``{'name': ..., 'type': ...}`` maps, as crud's ``metadata``): one Metadata shared by all.
    For what decodes rows outside the core (loadtnt.driver.crud). Returns (rows, metadata)."""
    cdef Metadata md = _format_metadata(fmt)
    cdef list out = []
    for row in rows:
        if type(row) is TarantoolTuple:
            out.append(row)
        else:
            out.append(ttuple_new(tuple(row), md))
    return out, md


cdef Schema schema_parse(int64_t schema_id, list spaces, list indexes):
    """Build a Schema from rows of _vspace and _vindex."""
    cdef:
        Schema schema = Schema(schema_id)
        SchemaSpace sp
        SchemaIndex idx
        Field f
        Metadata md
        int i
        object field_no
        PyObject *p
    for row in spaces:
        if len(row) < 4:
            raise ProtocolError('malformed _vspace row: {!r}'.format(row))
        sp = SchemaSpace.__new__(SchemaSpace)
        sp.sid = row[0]
        sp.owner = row[1]
        sp.name = row[2]
        sp.engine = row[3]
        sp.field_count = row[4] if len(row) > 4 else 0
        sp.flags = row[5] if len(row) > 5 else None
        sp.metadata = _format_metadata(row[6] if len(row) > 6 else None)
        schema.spaces[sp.sid] = sp
        schema.spaces[sp.name] = sp
    for row in indexes:
        if len(row) < 6:
            raise ProtocolError('malformed _vindex row: {!r}'.format(row))
        p = PyDict_GetItem(schema.spaces, row[0])
        if p is NULL:
            continue
        sp = <SchemaSpace> p
        idx = SchemaIndex.__new__(SchemaIndex)
        idx.sid = row[0]
        idx.iid = row[1]
        idx.name = row[2]
        idx.index_type = row[3]
        opts = row[4]
        idx.unique = opts.get('unique') if isinstance(opts, dict) else None
        md = Metadata()
        parts = row[5]
        if isinstance(parts, list):
            for i, part in enumerate(parts):
                field_type = None
                if isinstance(part, dict):
                    field_no = part.get('field')
                    field_type = part.get('type')
                    f_null = part.get('is_nullable')
                elif isinstance(part, list) and part:
                    field_no = part[0]
                    field_type = part[1] if len(part) > 1 else None
                    f_null = None
                else:
                    field_no = None
                    f_null = None
                f = Field.__new__(Field)
                f.type = field_type
                f.is_nullable = f_null
                if isinstance(field_no, int):
                    f.name = sp.metadata.name_by_id(field_no)
                md.add(i, f)
        idx.metadata = md
        sp.indexes[idx.iid] = idx
        sp.indexes[idx.name] = idx
    return schema
