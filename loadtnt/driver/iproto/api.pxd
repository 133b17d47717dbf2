cdef class Api:
    # The request methods of Connection, in C: one call from user code to the
    # encoded bytes, no Python frame in between.
    cdef public BaseProtocol _protocol
    cdef public Api _conn            # a Stream's connection (None: this is one)
    cdef public uint64_t _stream_id  # a Stream's IPROTO_STREAM_ID; 0: none

    cdef BaseProtocol _proto(self)
    cdef object _ping(self, double timeout)
    cdef object _select(self, space, key, offset, limit, index, iterator, double timeout,
                        bint check_schema_change, after, bint fetch_pos)
    cdef object _call(self, uint32_t op, func_name, args, double timeout, bint push_subscribe)
    cdef object _eval(self, expression, args, double timeout, bint push_subscribe)
    cdef object _insert(self, space, t, bint replace, double timeout)
    cdef object _delete(self, space, key, index, double timeout)
    cdef object _update(self, space, key, operations, index, double timeout)
    cdef object _upsert(self, space, t, operations, double timeout)
    cdef object _execute(self, query, args, bint parse_metadata, double timeout)
    cdef object _end_txn(self, Request req, uint32_t op, double timeout)
    cdef object _prepare(self, query, double timeout)


# The request builders the methods above use (also the C load loop's)
cdef PingRequest new_ping()
cdef CallRequest new_call(uint32_t op, func_name, args)
cdef EvalRequest new_eval(expression, args)
cdef SelectRequest new_select(space, key, offset, limit, index, iterator,
                              bint check_schema_change)
cdef InsertRequest new_insert(space, t, bint replace)
cdef DeleteRequest new_delete(space, key, index)
cdef UpdateRequest new_update(space, key, operations, index)
cdef UpsertRequest new_upsert(space, t, operations)
cdef ExecuteRequest new_execute(query, args, bint parse_metadata)
