# IProto wire constants, named as upstream (tarantool src/box/iproto_constants.h).
# cimported as a namespace: ``cimport loadtnt.driver.iproto.tarantool as tnt``.

cdef enum iproto_key:
    IPROTO_REQUEST_TYPE = 0x00
    IPROTO_SYNC = 0x01
    IPROTO_SCHEMA_VERSION = 0x05
    IPROTO_SPACE_ID = 0x10
    IPROTO_INDEX_ID = 0x11
    IPROTO_LIMIT = 0x12
    IPROTO_OFFSET = 0x13
    IPROTO_ITERATOR = 0x14
    IPROTO_INDEX_BASE = 0x15
    IPROTO_KEY = 0x20
    IPROTO_TUPLE = 0x21
    IPROTO_FUNCTION_NAME = 0x22
    IPROTO_USER_NAME = 0x23
    IPROTO_EXPR = 0x27
    IPROTO_OPS = 0x28
    IPROTO_OPTIONS = 0x2b
    IPROTO_DATA = 0x30
    IPROTO_ERROR_24 = 0x31
    IPROTO_METADATA = 0x32
    IPROTO_BIND_METADATA = 0x33
    IPROTO_BIND_COUNT = 0x34
    IPROTO_SQL_TEXT = 0x40
    IPROTO_SQL_BIND = 0x41
    IPROTO_SQL_INFO = 0x42
    IPROTO_STMT_ID = 0x43
    IPROTO_ERROR = 0x52

cdef enum iproto_type:
    IPROTO_OK = 0x00
    IPROTO_SELECT = 0x01
    IPROTO_INSERT = 0x02
    IPROTO_REPLACE = 0x03
    IPROTO_UPDATE = 0x04
    IPROTO_DELETE = 0x05
    IPROTO_CALL_16 = 0x06
    IPROTO_AUTH = 0x07
    IPROTO_EVAL = 0x08
    IPROTO_UPSERT = 0x09
    IPROTO_CALL = 0x0a
    IPROTO_EXECUTE = 0x0b
    IPROTO_NOP = 0x0c
    IPROTO_PREPARE = 0x0d
    IPROTO_PING = 0x40
    IPROTO_CHUNK = 0x80
    IPROTO_TYPE_ERROR = 0x8000

cdef enum iproto_metadata_key:
    IPROTO_FIELD_NAME = 0x00
    IPROTO_FIELD_TYPE = 0x01
    IPROTO_FIELD_COLL = 0x02
    IPROTO_FIELD_IS_NULLABLE = 0x03
    IPROTO_FIELD_IS_AUTOINCREMENT = 0x04
    IPROTO_FIELD_SPAN = 0x05

cdef enum sql_info_key:
    SQL_INFO_ROW_COUNT = 0x00
    SQL_INFO_AUTOINCREMENT_IDS = 0x01

cdef enum mp_error_key:
    MP_ERROR_STACK = 0x00
    MP_ERROR_TYPE = 0x00
    MP_ERROR_FILE = 0x01
    MP_ERROR_LINE = 0x02
    MP_ERROR_MESSAGE = 0x03
    MP_ERROR_ERRNO = 0x04
    MP_ERROR_CODE = 0x05
    MP_ERROR_FIELDS = 0x06

cdef enum mp_ext_type:
    MP_DECIMAL = 1
    MP_UUID = 2
    MP_ERROR_EXT = 3
    MP_DATETIME = 4
    MP_INTERVAL = 6

cdef enum box_error_code:
    ER_WRONG_SCHEMA_VERSION = 109
    ER_NO_SUCH_SPACE = 36
    ER_NO_SUCH_INDEX_ID = 35

cdef enum system_space:
    SPACE_VSPACE = 281
    SPACE_VINDEX = 289

cdef enum greeting_size:
    GREETING_SIZE = 128
    SCRAMBLE_SIZE = 20
