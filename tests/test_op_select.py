"""select: spaces and indexes by name and id, keys, offset/limit, iterators, Response, tuples."""
import pytest

from tests import _testbase as tb

Iterator = tb.driver.Iterator


def fill(tnt, count=5):
    """Insert [i, 'name-i', i * 10] for i in 1..count server-side; return them as lists."""
    tb.admin_eval(tnt, "for i = 1, ... do box.space.tester:insert{i, 'name-' .. i, i * 10} end",
                  count)
    return [[i, f"name-{i}", i * 10] for i in range(1, count + 1)]


def rows(res):
    return [list(t) for t in res]


async def test_select_all(tnt, conn):
    data = fill(tnt)
    res = await conn.select("tester")
    assert rows(res) == data
    assert res.rowcount == len(data)
    assert len(res) == len(data)


async def test_select_empty(conn):
    res = await conn.select("tester", [1])
    assert res.rowcount == 0
    assert len(res) == 0
    assert list(res) == []


async def test_select_by_space_id(tnt, conn):
    data = fill(tnt)
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    res = await conn.select(space_id, [3])
    assert rows(res) == [data[2]]


async def test_select_by_key_list_tuple_dict(tnt, conn):
    data = fill(tnt)
    assert rows(await conn.select("tester", [2])) == [data[1]]
    assert rows(await conn.select("tester", (2,))) == [data[1]]
    assert rows(await conn.select("tester", {"id": 2})) == [data[1]]
    assert rows(await conn.select("tester", {"name": "name-5"}, index="txt")) == [data[4]]


async def test_select_index_by_name_and_id(tnt, conn):
    data = fill(tnt)
    assert rows(await conn.select("tester", ["name-4"], index="txt")) == [data[3]]
    assert rows(await conn.select("tester", ["name-4"], index=1)) == [data[3]]
    assert rows(await conn.select("tester", [4], index="primary")) == [data[3]]


async def test_select_non_unique_index_many(tnt, conn):
    tb.admin_eval(tnt, "for i = 1, 4 do box.space.tester:insert{i, 'same'} end")
    res = await conn.select("tester", ["same"], index="txt")
    assert [t[0] for t in res] == [1, 2, 3, 4]


async def test_select_offset_limit(tnt, conn):
    data = fill(tnt, 10)
    assert rows(await conn.select("tester", limit=3)) == data[:3]
    assert rows(await conn.select("tester", offset=7)) == data[7:]
    assert rows(await conn.select("tester", offset=2, limit=2)) == data[2:4]
    assert rows(await conn.select("tester", limit=0)) == []


@pytest.mark.parametrize(
    ("iterator", "key", "expected_ids"),
    [
        ("EQ", [3], [3]),
        ("GE", [3], [3, 4, 5]),
        ("GT", [3], [4, 5]),
        ("LE", [3], [3, 2, 1]),
        ("LT", [3], [2, 1]),
        ("REQ", [3], [3]),
        ("ALL", [], [1, 2, 3, 4, 5]),
    ],
)
async def test_select_iterators(tnt, conn, iterator, key, expected_ids):
    fill(tnt)
    by_enum = await conn.select("tester", key, iterator=getattr(Iterator, iterator))
    by_name = await conn.select("tester", key, iterator=iterator)
    assert [t[0] for t in by_enum] == expected_ids
    assert [t[0] for t in by_name] == expected_ids


async def test_select_iterator_int_value(tnt, conn):
    fill(tnt)
    res = await conn.select("tester", [4], iterator=int(Iterator.GE))
    assert [t[0] for t in res] == [4, 5]


def test_iterator_enum_values():
    # The numbers on the wire (box.index iterator types).
    assert Iterator.EQ == 0
    assert Iterator.REQ == 1
    assert Iterator.ALL == 2
    assert Iterator.LT == 3
    assert Iterator.LE == 4
    assert Iterator.GE == 5
    assert Iterator.GT == 6


async def test_tuple_access(tnt, conn):
    fill(tnt, 1)
    res = await conn.select("tester", [1])
    t = res[0]
    assert isinstance(t, tb.driver.TarantoolTuple)
    assert len(t) == 3
    assert t[0] == 1 and t[1] == "name-1" and t[2] == 10
    assert t[-1] == 10
    assert t["id"] == 1
    assert t["name"] == "name-1"
    assert t[0:2] == (1, "name-1")
    assert t == (1, "name-1", 10)
    assert tuple(t) == (1, "name-1", 10)
    assert list(t) == [1, "name-1", 10]
    assert "name" in t
    assert "absent" not in t
    with pytest.raises(IndexError):
        t[3]
    with pytest.raises(KeyError):
        t["absent"]


async def test_tuple_dict_methods(tnt, conn):
    fill(tnt, 1)
    t = (await conn.select("tester", [1]))[0]
    assert list(t.keys()) == ["id", "name"]
    assert list(t.values()) == [1, "name-1", 10]
    assert list(t.items()) == [("id", 1), ("name", "name-1")]
    assert t.get("name") == "name-1"
    assert t.get("absent") is None
    assert "name-1" in repr(t)


async def test_response_attributes(tnt, conn):
    data = fill(tnt, 3)
    res = await conn.select("tester")
    assert isinstance(res, tb.driver.Response)
    assert res.code == 0
    assert res.sync > 0
    assert res.schema_id > 0
    assert res.schema_id == conn.schema_id
    assert [list(t) for t in res.body] == data
    assert rows(res) == data  # iteration
    assert list(res[1]) == data[1]  # indexing
    assert list(res[-1]) == data[-1]
    assert res.rowcount == 3 == len(res)


async def test_select_unknown_space_name(conn):
    with pytest.raises(tb.exceptions.TarantoolSchemaError):
        await conn.select("no_such_space")


async def test_select_unknown_index_name(conn):
    with pytest.raises(tb.exceptions.TarantoolSchemaError):
        await conn.select("tester", ["x"], index="no_such_index")


async def test_select_unknown_space_id(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.select(100500)
    assert info.value.code == tb.exceptions.ErrorCode.ER_NO_SUCH_SPACE


async def test_select_key_type_mismatch(conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.select("tester", ["not-a-number"])
    assert info.value.code == tb.exceptions.ErrorCode.ER_KEY_PART_TYPE


async def test_select_large_result(tnt, conn):
    tb.admin_eval(tnt, "for i = 1, 30000 do box.space.tester:insert{i, tostring(i)} end")
    res = await conn.select("tester")
    assert len(res) == 30000
    assert list(res[0]) == [1, "1"]
    assert list(res[-1]) == [30000, "30000"]
    assert res[12345]["name"] == "12346"
