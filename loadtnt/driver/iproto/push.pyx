# box.session.push: the IPROTO_CHUNK packets of a push_subscribe request are
# buffered on its _PushState (no loss, however slow the reader) and read with
# asynctnt's PushIterator, which ends at the final reply, or with the error
# that ended the request (its reply, a timeout, a lost connection).


@cython.final
cdef class _PushState:

    cdef int add(self, object item) except -1:
        self.queue.append(item)
        self.received += 1
        return self.wake()

    cdef int wake(self) except -1:
        # Called for each push and when the request ends (BaseProtocol._finish).
        cdef list waiters = self.waiters
        if not waiters:
            return 0
        self.waiters = []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        return 0


cdef _PushState _push_state_new(object create_future):
    cdef _PushState st = _PushState.__new__(_PushState)
    st.queue = _collections.deque()
    st.waiters = []
    st.create_future = create_future
    st.response = Response.__new__(Response)
    st.response.pending_ = True
    return st


_INVALID_PUSH_FUTURE = ('Future is invalid. Make sure to call with a future returned from a '
                        'method with push_subscribe=True flag')


@cython.final
cdef class PushIterator:
    """``async for push in PushIterator(conn.call(..., push_subscribe=True))``:
    the values of box.session.push, in order, until the final reply (which
    awaiting the request returns). Ends with the request's error if it failed:
    an error reply, a timeout, or the connection lost."""

    def __init__(self, fut):
        if not isinstance(fut, Request) or (<Request> fut).push is None:
            raise ValueError(_INVALID_PUSH_FUTURE)
        self._request = <Request> fut
        self._state = <_PushState> self._request.push
        self._ended = False

    def __iter__(self):
        raise RuntimeError('Cannot use iter with PushIterator - use aiter')

    def __next__(self):
        raise RuntimeError('Cannot use next with PushIterator - use anext')

    def __aiter__(self):
        return self

    async def __anext__(self):
        cdef _PushState st = self._state
        while True:
            if st.queue:
                return st.queue.popleft()
            if self._request.finished:
                return self._end()
            fut = st.create_future()
            st.waiters.append(fut)
            try:
                await fut
            finally:
                if not fut.done() and fut in st.waiters:
                    st.waiters.remove(fut)    # this iterator's task was cancelled

    cdef object _end(self):
        # Every push was read and the request is over: stop, or raise what
        # ended it. As asynctnt: an error reply is raised once (then the
        # iterator is exhausted, the reply being in); a failure without a
        # reply (a lost connection, a timeout) is raised on every call.
        cdef Request req = self._request
        if self._ended or req.result_ is not None:
            self._ended = True
            raise StopAsyncIteration
        waiter = req._promote()
        if not waiter.done():
            # dropped with no outcome (the coroutine awaiting it was closed)
            raise _asyncio.CancelledError('the {} request was dropped before its reply'.format(
                _REQUEST_NAMES.get(req.op, req.op)))
        exc = waiter.exception()    # CancelledError if it was cancelled
        if exc is None:
            self._ended = True
            raise StopAsyncIteration
        if not self._state.response.pending_:
            self._ended = True      # the error reply itself arrived
        raise exc

    @property
    def response(self):
        """The request's Response: done() once the final reply arrived."""
        return self._state.response
