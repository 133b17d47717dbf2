cdef class Field:
    cdef public:
        object name
        object type
        object collation
        object is_nullable
        object is_autoincrement
        object span


cdef class Metadata:
    # Field names of a space format, an index's parts or an SQL result.
    cdef public:
        list fields
        dict name_id_map
    cdef list names

    cdef int add(self, int field_id, Field field) except -1
    cdef object name_by_id(self, Py_ssize_t i)
    cdef Py_ssize_t id_by_name(self, object name) except -2
    cdef inline Py_ssize_t len(self)


cdef class TarantoolTuple:
    # A row: its values by position, and by field name through its Metadata.
    cdef tuple _values
    cdef readonly Metadata metadata

    cdef object _get_by_name(self, object name, bint raise_missing)
    cdef int _need_format(self) except -1


cdef TarantoolTuple ttuple_new(tuple values, Metadata metadata)


cdef class _TupleCtx:
    # A connection's MP_TUPLE state (tuple_extension=True). It goes where the
    # decoders take the text encoding, so MP_TUPLE values nested anywhere in a
    # reply decode with their formats; other types see its encoding.
    cdef object encoding       # the connection's (None: UTF-8)
    cdef dict formats          # format id -> Metadata
    cdef dict raw              # format id -> its MessagePack, as last announced

    cdef int load_formats(self, const char *p, const char *end) except -1


cdef object mp_tuple_decode(const char *p, Py_ssize_t n, _TupleCtx ctx)
