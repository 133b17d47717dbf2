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
        object stmt_id_
        bint pending_         # a push_subscribe request's, before its final reply
        object position_      # IPROTO_POSITION (pagination), bytes; else None
