"""call (1.7+ semantics: results as they are) vs call16 (every result wrapped in a tuple)."""
import asyncio

import pytest

from tests import _testbase as tb


async def test_call_scalar(conn):
    res = await conn.call("func_hello")
    assert res.code == 0
    assert res.body == ["hello"]
    assert res.rowcount == 1
    assert res[0] == "hello"


async def test_call16_wraps_scalar_in_tuple(conn):
    res = await conn.call16("func_hello")
    assert [list(t) for t in res] == [["hello"]]


async def test_call_multiple_results(conn):
    res = await conn.call("func_multi")
    assert res.body == [1, "two", [3, 4]]
    assert len(res) == 3


async def test_call16_multiple_results(conn):
    res = await conn.call16("func_multi")
    assert [list(t) for t in res] == [[1], ["two"], [3, 4]]


async def test_call_vs_call16_table_of_tuples(tnt, conn):
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'a'} box.space.tester:insert{2, 'b'}")
    res = await conn.call("func_tuples")
    assert len(res) == 1  # one result: a table of two tuples
    assert [list(t) for t in res[0]] == [[1, "a"], [2, "b"]]
    res16 = await conn.call16("func_tuples")
    assert len(res16) == 2  # call16 flattens the table into tuples
    assert [list(t) for t in res16] == [[1, "a"], [2, "b"]]


async def test_call_args(conn):
    args = [1, "x", None, [1, [2]], {"k": "v"}, True, 2.5]
    res = await conn.call("func_param", args)
    assert res.body == args


async def test_call_args_tuple(conn):
    res = await conn.call("func_param", (1, 2))
    assert res.body == [1, 2]


async def test_call_no_results(conn):
    res = await conn.call("func_param")
    assert res.body == []
    assert len(res) == 0


async def test_call_builtin(conn):
    res = await conn.call("box.session.user")
    assert res.body == [tb.USER]


async def test_call_unknown_function(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.call("no_such_function")
    assert info.value.code == tb.exceptions.ErrorCode.ER_NO_SUCH_PROC
    assert "no_such_function" in info.value.message


async def test_call16_unknown_function(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.call16("no_such_function")
    assert info.value.code == tb.exceptions.ErrorCode.ER_NO_SUCH_PROC


async def test_call_lua_error(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.call("func_lua_error")
    assert info.value.code == tb.exceptions.ErrorCode.ER_PROC_LUA
    assert "lua boom" in info.value.message


async def test_call_concurrent_results_matched(conn):
    results = await asyncio.gather(*(conn.call("func_param", [i, str(i)]) for i in range(2000)))
    assert [r.body for r in results] == [[i, str(i)] for i in range(2000)]


async def test_call_with_timeout_ok(conn):
    res = await conn.call("func_long", [0.01], timeout=5)
    assert res.body == ["ok"]
