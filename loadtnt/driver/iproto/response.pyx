# Response: what a request resolves to.


@cython.freelist(256)
@cython.final
cdef class Response:

    def __cinit__(self):
        self.rowcount_ = -1

    @property
    def sync(self):
        """The request's sync number."""
        return self.sync_

    @property
    def code(self):
        """The IProto response type: 0 for success, 0x8000 | error code otherwise."""
        return self.code_

    @property
    def return_code(self):
        """The server's error code (0 on success)."""
        return self.return_code_

    @property
    def schema_id(self):
        """The schema version the server reported with this response."""
        return self.schema_id_

    @property
    def stmt_id(self):
        """The prepared statement id (SQL prepare), or None."""
        return None if self.aux_is_position else self.aux_

    @property
    def rowcount(self):
        """Rows in the body, or the SQL row count of a DML statement."""
        if self.body is not None and len(self.body) > 0:
            return len(self.body)
        if self.rowcount_ >= 0:
            return self.rowcount_
        return 0

    @property
    def position(self):
        """The position of the last tuple of a select with ``fetch_pos=True``
        (Tarantool 2.11+): opaque bytes to pass as ``after=`` for the next page;
        None when the server returned none (an empty result)."""
        return self.aux_ if self.aux_is_position else None

    @property
    def data(self):
        """The body (asynctnt 1.x name)."""
        return self.body

    def done(self):
        """False only for a push_subscribe request's Response before its final reply."""
        return not self.pending_

    def __len__(self):
        if self.body is None:
            return 0
        return len(self.body)

    def __getitem__(self, i):
        if self.body is None:
            raise IndexError('response has no body')
        return self.body[i]

    def __iter__(self):
        if self.body is None:
            return iter(())
        return iter(self.body)

    def __repr__(self):
        if self.errmsg is not None:
            return '<Response sync={} code={} errmsg={!r}>'.format(
                self.sync_, self.return_code_, self.errmsg)
        return '<Response sync={} rowcount={} data={!r}>'.format(
            self.sync_, self.rowcount, self.body)
