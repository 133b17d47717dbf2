# Tarantool's extension types, byte for byte as the server encodes them
# (src/box/mp_error.cc, src/lib/core/mp_datetime.c, mp_interval.c):
#
#   MP_ERROR (3)     {MP_ERROR_STACK: [{type, file, line, message, errno, code, fields}, ...]}:
#                    the same map as IPROTO_ERROR (0x52), the error first, then its causes.
#   MP_DATETIME (4)  int64 seconds since the epoch, then (only when one is not zero)
#                    int32 nsec, int16 tzoffset (minutes), int16 tzindex; all little-endian.
#   MP_INTERVAL (6)  uint8 field count, then (field id, MessagePack int) pairs for the
#                    fields that are not zero: year .. nsec, adjust (EXCESS is the zero).
#
# As asynctnt 2.4 maps them to Python: IProtoError with IProtoErrorStackFrame,
# datetime.datetime (a naive one is local time, as datetime.timestamp() says), MPInterval
# with Adjust. Every decode is bounds checked: malformed bytes raise ProtocolError.

cdef enum:
    _DT_MIN_TZOFFSET = -720     # minutes; Tarantool rejects anything outside
    _DT_MAX_TZOFFSET = 840
    _DT_TAIL_SIZE = 8           # nsec, tzoffset, tzindex

# datetime.datetime holds years 1..9999 (a day of margin for the UTC offset);
# Tarantool's range is wider, and values beyond this come back as ExtType.
cdef int64_t _PY_MIN_SECONDS = -62135596800 - 86400
cdef int64_t _PY_MAX_SECONDS = 253402300799 + 86400

_EPOCH_NAIVE = _datetime.datetime(1970, 1, 1)
_EPOCH_UTC = _datetime.datetime(1970, 1, 1, tzinfo=_datetime.timezone.utc)
_timedelta = _datetime.timedelta
_fromtimestamp = _datetime.datetime.fromtimestamp
cdef dict _fixed_timezones = {}
from operator import index as _operator_index


# -- little-endian loads and stores (MP_DATETIME is not big-endian MessagePack) --

cdef inline uint64_t _le_load(const char *p, int n):
    cdef const uint8_t *b = <const uint8_t *> p
    cdef uint64_t v = 0
    cdef int i
    for i in range(n - 1, -1, -1):
        v = (v << 8) | b[i]
    return v


cdef inline void _le_store(char *p, uint64_t v, int n):
    cdef int i
    for i in range(n):
        p[i] = <char> (v & 0xff)
        v >>= 8


# -- MP_ERROR ------------------------------------------------------------------

@cython.final
cdef class IProtoErrorStackFrame:
    """One error of an MP_ERROR stack: ``error_type`` ('ClientError', ...), ``file``,
    ``line``, ``message``, ``err_no``, ``code`` (box error code) and ``fields``
    (the error's payload, a dict, or None)."""

    def __repr__(self):
        return '<IProtoErrorStackFrame type={} code={} message={!r}>'.format(
            self.error_type, self.code, self.message)


@cython.final
cdef class IProtoError:
    """An error as the server sends it (MP_ERROR, IPROTO_ERROR): ``trace`` is its
    stack, the error itself first and then its causes (``e:set_prev(cause)``)."""

    def __repr__(self):
        return '<IProtoError trace={!r}>'.format(self.trace)


cdef object _error_str(const char **pp, const char *end, object encoding, str what):
    cdef uint8_t c = mp_peek(pp[0], end)
    if not (0xa0 <= c <= 0xbf or c == 0xd9 or c == 0xda or c == 0xdb):
        raise ProtocolError('MP_ERROR {} is not a string (MessagePack type 0x{:02x})'
                            .format(what, c))
    return mp_decode_obj(pp, end, encoding)


cdef int64_t _error_int(const char **pp, const char *end, str what) except? -1:
    cdef uint64_t v = mp_decode_uint(pp, end)
    if v > <uint64_t> 0x7fffffffffffffff:
        raise ProtocolError('MP_ERROR {} {} is out of range'.format(what, v))
    return <int64_t> v


cdef IProtoErrorStackFrame _decode_error_frame(const char **pp, const char *end,
                                               object encoding):
    cdef:
        IProtoErrorStackFrame fr = IProtoErrorStackFrame.__new__(IProtoErrorStackFrame)
        uint32_t n, i
        uint64_t key
        uint8_t c
    n = mp_decode_map_len(pp, end)
    mp_need(pp[0], end, <Py_ssize_t> n * 2)
    for i in range(n):
        key = mp_decode_uint(pp, end)
        if key == tnt.MP_ERROR_TYPE:
            fr.error_type = _error_str(pp, end, encoding, 'type')
        elif key == tnt.MP_ERROR_FILE:
            fr.file = _error_str(pp, end, encoding, 'file')
        elif key == tnt.MP_ERROR_LINE:
            fr.line = _error_int(pp, end, 'line')
        elif key == tnt.MP_ERROR_MESSAGE:
            fr.message = _error_str(pp, end, encoding, 'message')
        elif key == tnt.MP_ERROR_ERRNO:
            fr.err_no = _error_int(pp, end, 'errno')
        elif key == tnt.MP_ERROR_CODE:
            fr.code = _error_int(pp, end, 'code')
        elif key == tnt.MP_ERROR_FIELDS:
            c = mp_peek(pp[0], end)
            if not (0x80 <= c <= 0x8f or c == 0xde or c == 0xdf):
                raise ProtocolError('MP_ERROR fields are not a map (MessagePack type 0x{:02x})'
                                    .format(c))
            fr.fields = mp_decode_obj(pp, end, encoding)
        else:
            mp_skip(pp, end)    # a key of a newer server
    return fr


cdef IProtoError mp_decode_error(const char **pp, const char *end, object encoding):
    """The MP_ERROR map at pp[0] (also the value of IPROTO_ERROR)."""
    cdef:
        IProtoError err = IProtoError.__new__(IProtoError)
        uint32_t n, i, m, j
        uint64_t key
        list trace
        object fr
    err.trace = []
    _enter_recursion(' while decoding an MP_ERROR')
    try:
        n = mp_decode_map_len(pp, end)
        mp_need(pp[0], end, <Py_ssize_t> n * 2)
        for i in range(n):
            key = mp_decode_uint(pp, end)
            if key != tnt.MP_ERROR_STACK:
                mp_skip(pp, end)
                continue
            m = mp_decode_array_len(pp, end)
            mp_need(pp[0], end, m)
            trace = PyList_New(m)
            for j in range(m):
                fr = _decode_error_frame(pp, end, encoding)
                Py_INCREF(fr)
                PyList_SET_ITEM(trace, j, fr)
            err.trace = trace
    finally:
        Py_LeaveRecursiveCall()
    return err


# -- MP_DATETIME -----------------------------------------------------------------

class MPTimezone(_datetime.tzinfo):
    """A fixed UTC offset (``minutes``) that also keeps Tarantool's timezone index
    (``tzindex``), for datetimes the server made with ``tz = 'Europe/Moscow'``:
    they come back with this tzinfo and go to the server again with the same index.
    Datetimes with an offset alone get ``datetime.timezone``, as asynctnt gives."""

    __slots__ = ('_minutes', '_offset', 'tzindex')

    def __init__(self, minutes, tzindex=0):
        minutes = _operator_index(minutes)
        tzindex = _operator_index(tzindex)
        if not _DT_MIN_TZOFFSET <= minutes <= _DT_MAX_TZOFFSET:
            raise ValueError('UTC offset {} min is out of Tarantool\'s [{}, {}]'.format(
                minutes, <int> _DT_MIN_TZOFFSET, <int> _DT_MAX_TZOFFSET))
        if not 0 <= tzindex <= 0x7fff:
            raise ValueError('tzindex {} is out of [0, 32767]'.format(tzindex))
        self._minutes = minutes
        self._offset = _timedelta(minutes=minutes)
        self.tzindex = tzindex

    @property
    def minutes(self):
        return self._minutes

    def utcoffset(self, dt):
        return self._offset

    def dst(self, dt):
        return None

    def tzname(self, dt):
        return _datetime.timezone(self._offset).tzname(None)

    def fromutc(self, dt):
        if dt.tzinfo is not self:
            raise ValueError('fromutc: dt.tzinfo is not self')
        return dt + self._offset

    def __getinitargs__(self):
        return (self._minutes, self.tzindex)

    def __reduce__(self):
        return (MPTimezone, (self._minutes, self.tzindex))

    def __eq__(self, other):
        if type(other) is not MPTimezone:
            return NotImplemented
        return self._minutes == other._minutes and self.tzindex == other.tzindex

    def __hash__(self):
        return hash((self._minutes, self.tzindex))

    def __repr__(self):
        return 'MPTimezone(minutes={}, tzindex={})'.format(self._minutes, self.tzindex)


cdef object _fixed_timezone(int minutes):
    tz = _fixed_timezones.get(minutes)
    if tz is None:
        tz = _datetime.timezone(_timedelta(minutes=minutes))
        _fixed_timezones[minutes] = tz
    return tz


cdef object _decode_datetime(const char *p, Py_ssize_t n):
    cdef:
        int64_t seconds
        int64_t nsec = 0
        int tzoffset = 0
        int tzindex = 0
        int64_t us, rem
    if n != 8 and n != 8 + _DT_TAIL_SIZE:
        raise ProtocolError('datetime extension of {} bytes, expected 8 or 16'.format(n))
    seconds = <int64_t> _le_load(p, 8)
    if n > 8:
        nsec = <int32_t> _le_load(p + 8, 4)
        tzoffset = <int16_t> _le_load(p + 12, 2)
        tzindex = <int16_t> _le_load(p + 14, 2)
        if not 0 <= nsec <= 999999999:
            raise ProtocolError('datetime nanoseconds {} out of [0, 999999999]'.format(nsec))
        if not _DT_MIN_TZOFFSET <= tzoffset <= _DT_MAX_TZOFFSET:
            raise ProtocolError('datetime UTC offset {} min out of [{}, {}]'.format(
                tzoffset, <int> _DT_MIN_TZOFFSET, <int> _DT_MAX_TZOFFSET))
        if tzindex < 0:
            raise ProtocolError('datetime tzindex {} is negative'.format(tzindex))
    if not _PY_MIN_SECONDS <= seconds <= _PY_MAX_SECONDS:
        return ExtType(tnt.MP_DATETIME, PyBytes_FromStringAndSize(p, n))
    # Python keeps microseconds: round to the nearest, half to even, as asynctnt's
    # fromtimestamp() does (asynctnt goes through a double; this is exact).
    us = nsec // 1000
    rem = nsec % 1000
    if rem > 500 or (rem == 500 and (us & 1)):
        us += 1
    if us == 1000000:
        us = 0
        seconds += 1
    try:
        if tzoffset == 0 and tzindex == 0:
            # naive, local time (asynctnt); whole seconds first: exact before 1970 too
            return _fromtimestamp(seconds).replace(microsecond=us)
        tz = MPTimezone(tzoffset, tzindex) if tzindex != 0 else _fixed_timezone(tzoffset)
        return (_EPOCH_NAIVE + _timedelta(seconds=seconds + tzoffset * 60,
                                          microseconds=us)).replace(tzinfo=tz)
    except (OverflowError, ValueError, OSError):
        # a Tarantool datetime that datetime.datetime cannot hold: kept as it came
        return ExtType(tnt.MP_DATETIME, PyBytes_FromStringAndSize(p, n))


cdef int put_datetime(WriteBuffer buf, object dt) except -1:
    cdef:
        int64_t seconds
        int64_t nsec
        int64_t off_seconds
        int tzoffset = 0
        int tzindex = 0
        char *p
        bint tail
    # Everything is read from the object (user tzinfo code may run) before the
    # buffer is touched.
    off = dt.utcoffset()
    if off is None:
        # naive: local time, as datetime.timestamp() and asynctnt take it
        seconds = <int64_t> dt.replace(microsecond=0).timestamp()
    else:
        off_seconds = off.days * 86400 + off.seconds
        if off.microseconds != 0 or off_seconds % 60 != 0:
            raise ValueError('Tarantool keeps UTC offsets in whole minutes, not {!r}'.format(off))
        tzoffset = <int> (off_seconds // 60)
        if not _DT_MIN_TZOFFSET <= tzoffset <= _DT_MAX_TZOFFSET:
            raise ValueError('UTC offset {} min is out of Tarantool\'s [{}, {}]'.format(
                tzoffset, <int> _DT_MIN_TZOFFSET, <int> _DT_MAX_TZOFFSET))
        td = dt.replace(microsecond=0) - _EPOCH_UTC
        seconds = <int64_t> td.days * 86400 + td.seconds
        tz = dt.tzinfo
        if type(tz) is MPTimezone:
            tzindex = tz.tzindex
    nsec = <int64_t> dt.microsecond * 1000
    tail = nsec != 0 or tzoffset != 0 or tzindex != 0
    buf.put_ext_header(tnt.MP_DATETIME, 16 if tail else 8)
    buf.ensure(16)
    p = &buf.buf[buf.size]
    _le_store(p, <uint64_t> seconds, 8)
    if tail:
        _le_store(p + 8, <uint64_t> nsec, 4)
        _le_store(p + 12, <uint64_t> <int64_t> tzoffset, 2)
        _le_store(p + 14, <uint64_t> <int64_t> tzindex, 2)
        buf.size += 16
    else:
        buf.size += 8
    return 0


# -- MP_INTERVAL -----------------------------------------------------------------

class Adjust(_enum.IntEnum):
    """How an interval's years and months land on a shorter month (Tarantool's
    ``adjust``): EXCESS overflows into the next month, NONE keeps the day where it
    can, LAST sticks to the month's last day."""
    EXCESS = 0
    NONE = 1
    LAST = 2


_ADJUST_NONE = Adjust.NONE
_ADJUST_EXCESS = Adjust.EXCESS

cdef enum:
    _IV_FIELDS = 9          # year, month, week, day, hour, min, sec, nsec, adjust
    _IV_ADJUST = 8


cdef class MPInterval:
    """Tarantool's datetime.interval: ``year``, ``month``, ``week``, ``day``,
    ``hour``, ``min``, ``sec``, ``nsec`` (ints) and ``adjust`` (Adjust)."""

    def __cinit__(self, *args, **kwargs):
        self._adjust = _ADJUST_NONE

    def __init__(self, int64_t year=0, int64_t month=0, int64_t week=0, int64_t day=0,
                 int64_t hour=0, int64_t min=0, int64_t sec=0, int64_t nsec=0,
                 object adjust=_ADJUST_NONE):
        self.year = year
        self.month = month
        self.week = week
        self.day = day
        self.hour = hour
        self.min = min
        self.sec = sec
        self.nsec = nsec
        self.adjust = adjust

    @property
    def adjust(self):
        return self._adjust

    @adjust.setter
    def adjust(self, value):
        self._adjust = Adjust(value)

    def __repr__(self):
        return ('MPInterval(year={}, month={}, week={}, day={}, hour={}, min={}, sec={}, '
                'nsec={}, adjust={!r})'.format(self.year, self.month, self.week, self.day,
                                               self.hour, self.min, self.sec, self.nsec,
                                               self._adjust))

    def __eq__(self, other):
        cdef MPInterval o
        if not isinstance(other, MPInterval):
            return False    # as asynctnt
        o = <MPInterval> other
        return (self.year == o.year and self.month == o.month and self.week == o.week
                and self.day == o.day and self.hour == o.hour and self.min == o.min
                and self.sec == o.sec and self.nsec == o.nsec and self._adjust == o._adjust)

    __hash__ = None     # mutable, as asynctnt's


cdef Py_ssize_t _mp_store_int(char *p, int64_t v):
    # The shortest MessagePack int, as Tarantool's mp_encode_uint / mp_encode_int.
    cdef uint64_t u
    if v >= 0:
        u = <uint64_t> v
        if u <= 0x7f:
            p[0] = <char> u
            return 1
        if u <= 0xff:
            p[0] = <char> 0xcc
            p[1] = <char> u
            return 2
        if u <= 0xffff:
            p[0] = <char> 0xcd
            lt_store_u16(p + 1, <uint16_t> u)
            return 3
        if u <= 0xffffffff:
            p[0] = <char> 0xce
            lt_store_u32(p + 1, <uint32_t> u)
            return 5
        p[0] = <char> 0xcf
        lt_store_u64(p + 1, u)
        return 9
    if v >= -32:
        p[0] = <char> (<uint8_t> v)
        return 1
    if v >= -128:
        p[0] = <char> 0xd0
        p[1] = <char> (<int8_t> v)
        return 2
    if v >= -32768:
        p[0] = <char> 0xd1
        lt_store_u16(p + 1, <uint16_t> (<int16_t> v))
        return 3
    if v >= -2147483648:
        p[0] = <char> 0xd2
        lt_store_u32(p + 1, <uint32_t> (<int32_t> v))
        return 5
    p[0] = <char> 0xd3
    lt_store_u64(p + 1, <uint64_t> v)
    return 9


cdef int put_interval(WriteBuffer buf, MPInterval iv) except -1:
    cdef:
        int64_t vals[_IV_FIELDS]
        char body[1 + _IV_FIELDS * 10]
        Py_ssize_t n = 1
        int i
        uint8_t count = 0
    vals[0] = iv.year
    vals[1] = iv.month
    vals[2] = iv.week
    vals[3] = iv.day
    vals[4] = iv.hour
    vals[5] = iv.min
    vals[6] = iv.sec
    vals[7] = iv.nsec
    vals[8] = <int64_t> int(iv._adjust)
    for i in range(_IV_FIELDS):
        if vals[i] != 0:
            count += 1
            body[n] = <char> i
            n += 1
            n += _mp_store_int(body + n, vals[i])
    body[0] = <char> count
    buf.put_ext_header(tnt.MP_INTERVAL, n)
    buf.put_raw(body, n)
    return 0


cdef int64_t _decode_int64(const char **pp, const char *end) except? -1:
    cdef const char *p = pp[0]
    cdef uint8_t c = mp_peek(p, end)
    cdef uint64_t u
    if c <= 0x7f or 0xcc <= c <= 0xcf:
        u = mp_decode_uint(pp, end)
        if u > <uint64_t> 0x7fffffffffffffff:
            raise ProtocolError('interval value {} is out of the int64 range'.format(u))
        return <int64_t> u
    if c >= 0xe0:
        pp[0] = p + 1
        return <int8_t> c
    if c == 0xd0:
        mp_need(p, end, 2)
        pp[0] = p + 2
        return <int8_t> p[1]
    if c == 0xd1:
        mp_need(p, end, 3)
        pp[0] = p + 3
        return <int16_t> lt_load_u16(p + 1)
    if c == 0xd2:
        mp_need(p, end, 5)
        pp[0] = p + 5
        return <int32_t> lt_load_u32(p + 1)
    if c == 0xd3:
        mp_need(p, end, 9)
        pp[0] = p + 9
        return <int64_t> lt_load_u64(p + 1)
    raise ProtocolError('interval value is not an integer (MessagePack type 0x{:02x})'.format(c))


cdef object _decode_interval(const char *p, Py_ssize_t n):
    cdef:
        const char *end = p + n
        const char *q = p
        MPInterval iv = MPInterval.__new__(MPInterval)
        uint8_t count, i
        uint64_t field
        int64_t value
    iv._adjust = _ADJUST_EXCESS     # the zero, never sent
    count = mp_peek(q, end)
    q += 1
    for i in range(count):
        field = mp_decode_uint(&q, end)
        value = _decode_int64(&q, end)
        if field == 0:
            iv.year = value
        elif field == 1:
            iv.month = value
        elif field == 2:
            iv.week = value
        elif field == 3:
            iv.day = value
        elif field == 4:
            iv.hour = value
        elif field == 5:
            iv.min = value
        elif field == 6:
            iv.sec = value
        elif field == 7:
            iv.nsec = value
        elif field == _IV_ADJUST:
            if not 0 <= value <= 2:
                raise ProtocolError('interval adjust {} is not 0, 1 or 2'.format(value))
            iv._adjust = Adjust(value)
        else:
            raise ProtocolError('unknown interval field {}'.format(field))
    if q != end:
        raise ProtocolError('{} trailing bytes in an interval extension'.format(end - q))
    return iv


# -- dispatch ----------------------------------------------------------------------

cdef object ext_decode(int8_t ext_type, const char *p, Py_ssize_t n, object encoding):
    """MP_EXT of a type decimal and uuid are not (unpack.pyx has those)."""
    cdef const char *q = p
    cdef object err
    if ext_type == tnt.MP_DATETIME:
        return _decode_datetime(p, n)
    if ext_type == tnt.MP_INTERVAL:
        return _decode_interval(p, n)
    if ext_type == tnt.MP_ERROR_EXT:
        err = mp_decode_error(&q, p + n, encoding)
        if q != p + n:
            raise ProtocolError('{} trailing bytes in an MP_ERROR extension'.format(p + n - q))
        return err
    return ExtType(ext_type, PyBytes_FromStringAndSize(p, n))
