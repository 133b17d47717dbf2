cdef class Response:
    cdef public:
        object body
        object errmsg
        object error
        Metadata metadata
        Metadata params
        int params_count
        object autoincrement_ids
        object encoding
    cdef:
        uint64_t sync_
        uint32_t code_
        uint32_t return_code_
        int64_t schema_id_
        int64_t rowcount_
        # IPROTO_STMT_ID (SQL) or IPROTO_POSITION (a select's, pagination): a
        # reply has one or neither, so they share a slot and a Response costs
        # what it did before pagination
        object aux_
        bint aux_is_position
        bint pending_         # a push_subscribe request's, before its final reply
