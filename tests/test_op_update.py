"""update: operations by field number and by field name, by primary and secondary index."""
import pytest

from tests import _testbase as tb


def stored(tnt, key):
    return tb.admin_eval(tnt, "local t = box.space.tester:get{...} return t and t:totable()", key)[0]


@pytest.fixture
def row(tnt):
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'one', 10, 'abcdef'}")


async def test_update_assign_by_field_number(tnt, conn, row):
    # IProto field numbers are 0-based (as in asynctnt): 1 is `name`.
    res = await conn.update("tester", [1], [["=", 1, "uno"]])
    assert list(res[0]) == [1, "uno", 10, "abcdef"]
    assert stored(tnt, 1) == [1, "uno", 10, "abcdef"]


async def test_update_assign_by_field_name(tnt, conn, row):
    res = await conn.update("tester", [1], [["=", "name", "eins"]])
    assert res[0]["name"] == "eins"
    assert stored(tnt, 1) == [1, "eins", 10, "abcdef"]


async def test_update_arithmetic(tnt, conn, row):
    res = await conn.update("tester", [1], [["+", 2, 5]])
    assert res[0][2] == 15
    res = await conn.update("tester", [1], [["-", 2, 1], ["=", 1, "x"]])
    assert list(res[0]) == [1, "x", 14, "abcdef"]
    res = await conn.update("tester", [1], [("+", 2, 0.5)])
    assert res[0][2] == 14.5


async def test_update_bitwise_splice_insert_delete(tnt, conn):
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'one', 12, 'abcdef'}")
    for op, arg in (("&", 10), ("|", 1), ("^", 2)):
        await conn.update("tester", [1], [[op, 2, arg]])
    assert stored(tnt, 1)[2] == ((12 & 10) | 1) ^ 2
    res = await conn.update("tester", [1], [[":", 3, 1, 2, "XY"]])
    assert res[0][3] == "aXYdef"
    res = await conn.update("tester", [1], [["!", 4, "appended"]])
    assert list(res[0]) == [1, "one", ((12 & 10) | 1) ^ 2, "aXYdef", "appended"]
    res = await conn.update("tester", [1], [["#", 3, 2]])
    assert list(res[0]) == [1, "one", ((12 & 10) | 1) ^ 2]


async def test_update_by_secondary_index(tnt, conn, row):
    # Non-unique index: update needs a unique one, the server says so.
    with pytest.raises(tb.exceptions.TarantoolDatabaseError):
        await conn.update("tester", ["one"], [["=", 2, 0]], index="txt")
    res = await conn.update("tester", [1], [["=", 2, 0]], index="primary")
    assert res[0][2] == 0


async def test_update_missing_key(conn):
    res = await conn.update("tester", [100], [["=", 1, "x"]])
    assert len(res) == 0
    assert res.code == 0


async def test_update_primary_key_forbidden(conn, row):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.update("tester", [1], [["=", 0, 2]])
    assert info.value.code == tb.exceptions.ErrorCode.ER_CANT_UPDATE_PRIMARY_KEY


async def test_update_unknown_field_name(conn, row):
    with pytest.raises((tb.exceptions.TarantoolError, KeyError)):
        await conn.update("tester", [1], [["=", "no_such_field", 1]])


async def test_update_bad_operation(conn, row):
    with pytest.raises((tb.exceptions.TarantoolError, TypeError, IndexError, ValueError)):
        await conn.update("tester", [1], [["=", 1]])
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.update("tester", [1], [["+", 1, 1]])  # arithmetic on a string
    assert info.value.code == tb.exceptions.ErrorCode.ER_UPDATE_ARG_TYPE
