"""insert: list and dict tuples, replace=True, duplicates, what the server stored."""
import pytest

from tests import _testbase as tb


def stored(tnt, key):
    return tb.admin_eval(tnt, "local t = box.space.tester:get{...} return t and t:totable()", key)[0]


async def test_insert_returns_tuple(tnt, conn):
    res = await conn.insert("tester", [1, "one"])
    assert res.code == 0
    assert res.rowcount == 1
    assert list(res[0]) == [1, "one"]
    assert res[0]["name"] == "one"
    assert stored(tnt, 1) == [1, "one"]


async def test_insert_tuple_type_and_extra_fields(tnt, conn):
    res = await conn.insert("tester", (2, "two", 3.5, [1, 2], {"k": "v"}))
    assert list(res[0]) == [2, "two", 3.5, [1, 2], {"k": "v"}]
    assert stored(tnt, 2) == [2, "two", 3.5, [1, 2], {"k": "v"}]


async def test_insert_by_space_id(tnt, conn):
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    await conn.insert(space_id, [3, "three"])
    assert stored(tnt, 3) == [3, "three"]


async def test_insert_dict_by_field_names(tnt, conn):
    res = await conn.insert("tester", {"id": 4, "name": "four"})
    assert list(res[0]) == [4, "four"]
    assert stored(tnt, 4) == [4, "four"]


async def test_insert_dict_missing_field_fails(conn):
    with pytest.raises((tb.exceptions.TarantoolError, KeyError, ValueError, TypeError)):
        await conn.insert("tester", {"id": 5})


async def test_insert_duplicate_raises(tnt, conn):
    await conn.insert("tester", [1, "one"])
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.insert("tester", [1, "again"])
    assert info.value.code == tb.exceptions.ErrorCode.ER_TUPLE_FOUND
    assert "Duplicate key" in info.value.message
    assert stored(tnt, 1) == [1, "one"]


async def test_insert_replace_flag(tnt, conn):
    await conn.insert("tester", [1, "one"])
    res = await conn.insert("tester", [1, "replaced"], replace=True)
    assert list(res[0]) == [1, "replaced"]
    assert stored(tnt, 1) == [1, "replaced"]


async def test_insert_format_violation(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.insert("tester", [1, 2])  # name must be a string
    assert info.value.code == tb.exceptions.ErrorCode.ER_FIELD_TYPE


async def test_insert_not_a_sequence(conn):
    with pytest.raises(TypeError):
        await conn.insert("tester", 42)


async def test_insert_with_timeout(tnt, conn):
    res = await conn.insert("tester", [7, "seven"], timeout=5)
    assert list(res[0]) == [7, "seven"]
