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

    cdef SchemaIndex get_index(self, object index)


cdef class Schema:
    cdef public:
        int64_t id
        dict spaces

    cdef SchemaSpace get_space(self, object space)


cdef Metadata _format_metadata(object fmt)
