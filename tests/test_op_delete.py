"""delete: by primary key, by index name and id, missing keys."""
import pytest

from tests import _testbase as tb


def count(tnt):
    return tb.admin_eval(tnt, "return box.space.tester:len()")[0]


@pytest.fixture
def rows(tnt):
    tb.admin_eval(tnt, "for i = 1, 3 do box.space.tester:insert{i, 'n' .. i} end")


async def test_delete_returns_deleted_tuple(tnt, conn, rows):
    res = await conn.delete("tester", [2])
    assert res.rowcount == 1
    assert list(res[0]) == [2, "n2"]
    assert res[0]["name"] == "n2"
    assert count(tnt) == 2
    assert tb.admin_eval(tnt, "return box.space.tester:get{2} == nil") == [True]


async def test_delete_missing(tnt, conn, rows):
    res = await conn.delete("tester", [100])
    assert len(res) == 0
    assert count(tnt) == 3


async def test_delete_by_index(tnt, conn, rows):
    res = await conn.delete("tester", [1], index="primary")
    assert list(res[0]) == [1, "n1"]
    res = await conn.delete("tester", [3], index=0)
    assert list(res[0]) == [3, "n3"]
    assert count(tnt) == 1


async def test_delete_by_non_unique_index_fails(tnt, conn, rows):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError):
        await conn.delete("tester", ["n1"], index="txt")
    assert count(tnt) == 3


async def test_delete_dict_key(tnt, conn, rows):
    res = await conn.delete("tester", {"id": 1})
    assert list(res[0]) == [1, "n1"]


async def test_delete_by_space_id(tnt, conn, rows):
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    res = await conn.delete(space_id, [3])
    assert list(res[0]) == [3, "n3"]
