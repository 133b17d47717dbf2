cdef class SchemaIndex:
    cdef public:
        int iid
        int sid
        object name
        object index_type
        object unique
        Metadata metadata


cdef class SchemaSpace:
    cdef public:
        int sid
        int owner
        object name
        object engine
        int field_count
        object flags
        Metadata metadata
        dict indexes
    cdef:
        object last_key       # the name or id get_index last found, and what it found:
        SchemaIndex last_index    # a request names the same object again and again

    cdef SchemaIndex get_index(self, object index)


cdef class Schema:
    cdef public:
        int64_t id
        dict spaces
    cdef:
        object last_key       # the same for get_space (see SchemaSpace)
        SchemaSpace last_space

    cdef SchemaSpace get_space(self, object space)


cdef Metadata _format_metadata(object fmt)
