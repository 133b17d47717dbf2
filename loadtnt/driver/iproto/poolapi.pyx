# PoolApi: the request methods of loadtnt.driver.Pool. Each picks a connection
# by the request's mode - the mode's Candidates, precomputed by the Python side
# whenever a role or a connection changes - and returns that connection's own
# request (an awaitable), as if the caller had called it.


cdef extern from "Python.h":
    Py_ssize_t PyDict_GET_SIZE(object d)     # a macro: reads the dict's ma_used
    Py_ssize_t PY_SSIZE_T_MAX


# the balancers a Candidates knows (Pool validates the name, Candidates the flag)
BALANCERS = ("round_robin", "least_outstanding")


@cython.final
cdef class Candidates:
    """One mode's candidates: in turn (round robin) or, with ``least=True``, the one with
    the fewest requests in flight, ties in turn (least outstanding); with none, ``fail()``
    raises."""

    def __cinit__(self, conns, fail, bint least=False):
        self._conns = tuple(conns)
        self._n = len(self._conns)
        self._i = -1
        self._fail = fail
        self._least = least
        if least:
            for conn in self._conns:
                if not isinstance(conn, Api):
                    raise TypeError(f"least outstanding needs Connections, not {conn!r}")

    cdef object next(self):
        if self._n == 1:
            return self._conns[0]
        if self._n == 0:
            return self._fail()
        if self._least:
            return self._next_least()
        self._i += 1
        if self._i >= self._n:
            self._i = 0
        return self._conns[self._i]

    cdef object _next_least(self):
        # The connection whose protocol has the fewest requests pending (sent or queued,
        # not yet answered): the size of its pending table, read in C. The scan starts
        # after the last pick, so ties go in turn; an idle one ends it at once. A
        # connection with no protocol (lost since the last rebuild) comes last.
        cdef Py_ssize_t n = self._n, i = self._i, k, best = -1, count
        cdef Py_ssize_t fewest = PY_SSIZE_T_MAX
        cdef BaseProtocol proto
        for k in range(n):
            i += 1
            if i >= n:
                i = 0
            proto = (<Api> PyTuple_GET_ITEM(self._conns, i))._protocol
            if proto is None:
                continue
            count = proto.pending.size()
            if count < fewest:
                fewest = count
                best = i
                if count == 0:
                    break
        if best < 0:            # none has a protocol: in turn (the request fails there)
            best = self._i + 1
            if best >= n:
                best = 0
        self._i = best
        return <object> PyTuple_GET_ITEM(self._conns, best)

    def __call__(self):
        return self.next()

    def __len__(self):
        return self._n

    @property
    def connections(self):
        return self._conns

    @property
    def balancer(self):
        return "least_outstanding" if self._least else "round_robin"


cdef class PoolApi:

    def __cinit__(self):
        self._select = {}

    cdef object _pick(self, mode):
        cdef object c
        try:
            c = self._select[mode]
        except (KeyError, TypeError):
            c = self._select[self._mode_of(mode)]    # a ValueError for a bad one
        return (<Candidates> c).next()

    def ping(self, *, mode=None, double timeout=-1.0):
        """Ping an instance of ``mode`` (default_mode)."""
        conn = self._read.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._ping(timeout)     # Connection.ping's body, no lookup

    def select(self, space, key=None, *, mode=None, offset=0, limit=0xffffffff, index=0,
               iterator=0, double timeout=-1.0, bint check_schema_change=True, after=None,
               bint fetch_pos=False):
        """Connection.select on an instance of ``mode`` (default_mode)."""
        conn = self._read.next() if mode is None else self._pick(mode)
        # Connection.select's body, no lookup and no keyword dict
        return (<Api?> conn)._select(space, key, offset, limit, index, iterator, timeout,
                                     check_schema_change, after, fetch_pos)

    # The others call Connection's bodies from C too: a Python-level call with a keyword
    # dict and a bound method cost the pool 7-12% more client instructions than the
    # Connection's own request (bench/instr_bench.py); this costs 1-2%.

    def insert(self, space, t, *, mode=None, bint replace=False, double timeout=-1.0):
        """Connection.insert on an instance of ``mode`` (RW)."""
        conn = self._write.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._insert(space, t, replace, timeout)

    def replace(self, space, t, *, mode=None, double timeout=-1.0):
        """Connection.replace on an instance of ``mode`` (RW)."""
        conn = self._write.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._insert(space, t, True, timeout)

    def update(self, space, key, operations, *, mode=None, index=0, double timeout=-1.0):
        """Connection.update on an instance of ``mode`` (RW)."""
        conn = self._write.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._update(space, key, operations, index, timeout)

    def upsert(self, space, t, operations, *, mode=None, double timeout=-1.0):
        """Connection.upsert on an instance of ``mode`` (RW)."""
        conn = self._write.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._upsert(space, t, operations, timeout)

    def delete(self, space, key, *, mode=None, index=0, double timeout=-1.0):
        """Connection.delete on an instance of ``mode`` (RW)."""
        conn = self._write.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._delete(space, key, index, timeout)

    def call(self, func_name, args=None, *, mode=None, double timeout=-1.0,
             bint push_subscribe=False):
        """Connection.call on an instance of ``mode`` (call_mode: RW unless the pool says)."""
        conn = self._calls.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._call(tnt.IPROTO_CALL, func_name, args, timeout, push_subscribe)

    def call16(self, func_name, args=None, *, mode=None, double timeout=-1.0,
               bint push_subscribe=False):
        """Connection.call16 on an instance of ``mode`` (call_mode)."""
        conn = self._calls.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._call(tnt.IPROTO_CALL_16, func_name, args, timeout,
                                   push_subscribe)

    def eval(self, expression, args=None, *, mode=None, double timeout=-1.0,
             bint push_subscribe=False):
        """Connection.eval on an instance of ``mode`` (call_mode)."""
        conn = self._calls.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._eval(expression, args, timeout, push_subscribe)

    def execute(self, query, args=None, *, mode=None, bint parse_metadata=True,
                double timeout=-1.0):
        """Connection.execute on an instance of ``mode`` (call_mode)."""
        conn = self._calls.next() if mode is None else self._pick(mode)
        return (<Api?> conn)._execute(query, args, parse_metadata, timeout)
