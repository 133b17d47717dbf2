"""Errors: the exception classes, ErrorCode, codes and messages from the server."""
import enum

import pytest

from tests import _testbase as tb

exc = tb.exceptions


def test_exception_hierarchy():
    assert issubclass(exc.TarantoolError, Exception)
    assert issubclass(exc.TarantoolDatabaseError, exc.TarantoolError)
    assert issubclass(exc.TarantoolNetworkError, exc.TarantoolError)
    assert issubclass(exc.TarantoolNotConnectedError, exc.TarantoolNetworkError)
    assert issubclass(exc.TarantoolSchemaError, exc.TarantoolError)


def test_exceptions_module_reachable_from_package():
    assert tb.driver.exceptions is exc


def test_error_code_enum():
    assert issubclass(exc.ErrorCode, enum.IntEnum)
    assert exc.ErrorCode.ER_ILLEGAL_PARAMS == 1
    assert exc.ErrorCode.ER_TUPLE_FOUND == 3
    assert exc.ErrorCode.ER_PROC_LUA == 32
    assert exc.ErrorCode.ER_NO_SUCH_PROC == 33
    assert exc.ErrorCode.ER_NO_SUCH_INDEX_ID == 35
    assert exc.ErrorCode.ER_NO_SUCH_SPACE == 36
    assert exc.ErrorCode.ER_WRONG_SCHEMA_VERSION == 109


def test_database_error_constructible():
    err = exc.TarantoolDatabaseError(3, "Duplicate key", None)
    assert err.code == 3
    assert err.message == "Duplicate key"
    assert "Duplicate key" in str(err)


async def test_server_error_code_and_message(conn):
    with pytest.raises(exc.TarantoolDatabaseError) as info:
        await conn.call("func_box_error")
    err = info.value
    assert err.code == exc.ErrorCode.ER_ILLEGAL_PARAMS
    # 2.6 prefixes the error's description; 3.x gives the message as raised
    assert err.message in ("Illegal parameters, bad param", "bad param")
    assert "bad param" in str(err)


async def test_custom_error_code(conn):
    with pytest.raises(exc.TarantoolDatabaseError) as info:
        await conn.eval("box.error({code = 5001, reason = 'my custom reason'})")
    assert info.value.code == 5001
    assert info.value.message == "my custom reason"


async def test_duplicate_key(tnt, conn):
    await conn.insert("tester", [1, "a"])
    with pytest.raises(exc.TarantoolDatabaseError) as info:
        await conn.insert("tester", [1, "b"])
    assert info.value.code == exc.ErrorCode.ER_TUPLE_FOUND
    assert isinstance(info.value, exc.TarantoolError)


async def test_connection_usable_after_errors(conn):
    for _ in range(3):
        with pytest.raises(exc.TarantoolDatabaseError):
            await conn.call("func_lua_error")
        res = await conn.call("func_hello")
        assert res.body == ["hello"]


async def test_errors_and_results_interleaved(conn):
    import asyncio

    calls = [conn.call("func_box_error") if i % 2 else conn.call("func_param", [i])
             for i in range(200)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for i, r in enumerate(results):
        if i % 2:
            assert isinstance(r, exc.TarantoolDatabaseError)
            assert r.code == exc.ErrorCode.ER_ILLEGAL_PARAMS
        else:
            assert r.body == [i]


async def test_not_connected_error(tnt, loop):
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt))
    with pytest.raises(exc.TarantoolNotConnectedError) as info:
        await conn.call("func_hello")
    assert isinstance(info.value, exc.TarantoolNetworkError)
