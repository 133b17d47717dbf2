"""eval: Lua expressions with arguments."""
import pytest

from tests import _testbase as tb


async def test_eval_returns_values(conn):
    res = await conn.eval("return 1, 'two', {3}")
    assert res.code == 0
    assert res.body == [1, "two", [3]]


async def test_eval_no_return(conn):
    res = await conn.eval("local x = 1")
    assert res.body == []
    assert len(res) == 0


async def test_eval_args(conn):
    res = await conn.eval("local a, b = ... return a + b, type(a)", [40, 2])
    assert res.body == [42, "number"]


async def test_eval_args_roundtrip(conn):
    args = ["s", 2**63 - 1, -5, 1.25, None, True, [1, {"a": [2]}]]
    res = await conn.eval("return ...", args)
    assert res.body == args


async def test_eval_map_result(conn):
    res = await conn.eval("return {a = 1, b = {c = 'd'}}")
    assert res.body == [{"a": 1, "b": {"c": "d"}}]


async def test_eval_sees_space(tnt, conn):
    tb.admin_eval(tnt, "box.space.tester:insert{5, 'five'}")
    res = await conn.eval("return box.space.tester:get{5}")
    assert list(res[0]) == [5, "five"]


async def test_eval_syntax_error(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.eval("return +")
    assert info.value.code == tb.exceptions.ErrorCode.ER_PROC_LUA
    assert info.value.message


async def test_eval_runtime_error(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.eval("error('custom failure')")
    assert "custom failure" in info.value.message


async def test_eval_box_error(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.eval("box.error(box.error.NO_SUCH_USER, 'ghost')")
    assert info.value.code == tb.exceptions.ErrorCode.ER_NO_SUCH_USER
    assert "ghost" in info.value.message
