"""upsert: insert when absent, apply operations when present."""
from tests import _testbase as tb


def stored(tnt, key):
    return tb.admin_eval(tnt, "local t = box.space.tester:get{...} return t and t:totable()", key)[0]


async def test_upsert_inserts_when_absent(tnt, conn):
    res = await conn.upsert("tester", [1, "one", 1], [["+", 2, 10]])
    assert res.code == 0
    assert len(res) == 0  # upsert returns no tuple
    assert stored(tnt, 1) == [1, "one", 1]


async def test_upsert_updates_when_present(tnt, conn):
    await conn.upsert("tester", [1, "one", 1], [["+", 2, 10]])
    await conn.upsert("tester", [1, "one", 1], [["+", 2, 10]])
    assert stored(tnt, 1) == [1, "one", 11]


async def test_upsert_by_field_name(tnt, conn):
    tb.admin_eval(tnt, "box.space.tester:insert{2, 'two'}")
    await conn.upsert("tester", [2, "ignored"], [["=", "name", "deux"]])
    assert stored(tnt, 2) == [2, "deux"]


async def test_upsert_dict_tuple(tnt, conn):
    await conn.upsert("tester", {"id": 3, "name": "three"}, [["=", "name", "x"]])
    assert stored(tnt, 3) == [3, "three"]


async def test_upsert_many_concurrent(tnt, conn):
    import asyncio

    await asyncio.gather(*(conn.upsert("tester", [7, "c", 1], [["+", 2, 1]]) for _ in range(500)))
    assert stored(tnt, 7) == [7, "c", 500]
