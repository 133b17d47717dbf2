"""replace: insert-or-overwrite by primary key."""
import pytest

from tests import _testbase as tb


def stored(tnt, key):
    return tb.admin_eval(tnt, "local t = box.space.tester:get{...} return t and t:totable()", key)[0]


async def test_replace_new(tnt, conn):
    res = await conn.replace("tester", [1, "one"])
    assert list(res[0]) == [1, "one"]
    assert res.rowcount == 1
    assert stored(tnt, 1) == [1, "one"]


async def test_replace_existing(tnt, conn):
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'old', 'extra'}")
    res = await conn.replace("tester", [1, "new"])
    assert list(res[0]) == [1, "new"]
    assert stored(tnt, 1) == [1, "new"]


async def test_replace_dict(tnt, conn):
    res = await conn.replace("tester", {"id": 2, "name": "two"})
    assert res[0]["name"] == "two"
    assert stored(tnt, 2) == [2, "two"]


async def test_replace_unique_secondary_conflict(tnt, conn):
    # txt is non-unique, so the same name twice is fine
    await conn.replace("tester", [1, "same"])
    await conn.replace("tester", [2, "same"])
    assert tb.admin_eval(tnt, "return box.space.tester.index.txt:count('same')") == [2]


async def test_replace_type_error(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.replace("tester", ["not-unsigned", "x"])
    assert info.value.code == tb.exceptions.ErrorCode.ER_FIELD_TYPE
