"""Schema: fetched at connect, refetched on change, stale-schema requests resent once."""
import asyncio

import pytest

from tests import _testbase as tb


@pytest.fixture
def ddl(tnt):
    """Drops the spaces a test created (names starting with 'sch_')."""
    yield
    tb.admin_eval(tnt, """
        for _, s in box.space._space:pairs() do
            if s[3]:sub(1, 4) == 'sch_' then box.space[s[3]]:drop() end
        end""")


def create_space(tnt, name, space_id=None):
    opts = f"{{id = {space_id}, " if space_id else "{"
    tb.admin_eval(tnt, f"""
        local s = box.schema.space.create('{name}', {opts}format = {{
            {{name = 'k', type = 'unsigned'}}, {{name = 'v', type = 'string'}}}}}})
        s:create_index('pk')
        s:create_index('by_v', {{parts = {{2, 'string'}}, unique = false}})
        return s.id""")
    return tb.admin_eval(tnt, f"return box.space.{name}.id")[0]


async def wait_for(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_schema_fetched_at_connect(tnt, conn):
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    schema = conn.schema
    assert schema.id == conn.schema_id > 0
    space = schema.spaces["tester"]
    assert schema.spaces[space_id] is space
    assert space.sid == space_id
    assert space.name == "tester"
    assert space.engine == "memtx"
    assert [f.name for f in space.metadata.fields] == ["id", "name"]
    assert space.metadata.name_id_map == {"id": 0, "name": 1}
    txt = space.indexes["txt"]
    assert space.indexes[1] is txt
    assert txt.iid == 1 and txt.name == "txt"
    assert txt.index_type == "tree"
    assert txt.sid == space_id
    assert space.indexes["primary"].iid == 0


async def test_system_spaces_known(conn):
    assert conn.schema.spaces["_space"].sid == 280
    assert conn.schema.spaces["_vspace"].sid == 281


async def test_new_space_found_after_refetch(tnt, conn, ddl):
    old_schema_id = conn.schema_id
    create_space(tnt, "sch_new")
    # Any response carries the new schema version; the driver refetches by itself.
    await conn.ping()
    await wait_for(lambda: conn.schema_id > old_schema_id and "sch_new" in conn.schema.spaces)
    await conn.insert("sch_new", [1, "one"])
    res = await conn.select("sch_new", ["one"], index="by_v")
    assert [list(t) for t in res] == [[1, "one"]]
    assert res[0]["v"] == "one"


async def test_explicit_refetch(tnt, conn, ddl):
    create_space(tnt, "sch_explicit")
    await conn.refetch_schema()
    assert "sch_explicit" in conn.schema.spaces
    assert (await conn.select("sch_explicit")).rowcount == 0


@tb.skip_asynctnt("resolve an unknown space name by refetching the schema")
async def test_unknown_space_name_triggers_refetch(tnt, conn, ddl):
    create_space(tnt, "sch_lazy")
    # No request in between: the name is unknown to the client until it refetches.
    res = await conn.insert("sch_lazy", [1, "one"])
    assert list(res[0]) == [1, "one"]
    assert tb.admin_eval(tnt, "return box.space.sch_lazy:len()") == [1]


@tb.skip_asynctnt("resolve an unknown index name by refetching the schema")
async def test_unknown_index_name_triggers_refetch(tnt, conn):
    try:
        tb.admin_eval(tnt, "box.space.tester:create_index('sch_idx', "
                           "{parts = {2, 'string'}, unique = false})")
        tb.admin_eval(tnt, "box.space.tester:insert{1, 'x'}")
        res = await conn.select("tester", ["x"], index="sch_idx")
        assert [list(t) for t in res] == [[1, "x"]]
    finally:
        tb.admin_eval(tnt, "box.space.tester.index.sch_idx:drop()")


async def test_really_unknown_name_still_raises(conn):
    with pytest.raises(tb.exceptions.TarantoolSchemaError):
        await conn.select("sch_never_created")
    with pytest.raises(tb.exceptions.TarantoolSchemaError):
        await conn.select("tester", index="never_created")
    assert (await conn.ping()).code == 0


async def test_request_after_unrelated_ddl_succeeds_once(tnt, conn, ddl):
    create_space(tnt, "sch_unrelated")  # bumps the schema version under the client's feet
    res = await conn.insert("tester", [1, "one"])
    assert list(res[0]) == [1, "one"]
    assert tb.admin_eval(tnt, "return box.space.tester:len()") == [1]
    assert (await conn.select("tester", [1])).rowcount == 1


@tb.skip_asynctnt("send the schema version, so a stale space id is rejected and resent")
async def test_stale_schema_request_resent(tnt, conn, ddl):
    old_id = create_space(tnt, "sch_moving", space_id=7001)
    await conn.refetch_schema()
    assert conn.schema.spaces["sch_moving"].sid == old_id
    # Recreate under the same name with another id: the client's schema is now stale.
    tb.admin_eval(tnt, "box.space.sch_moving:drop()")
    new_id = create_space(tnt, "sch_moving", space_id=7002)
    res = await conn.insert("sch_moving", [1, "one"])
    assert list(res[0]) == [1, "one"]
    assert tb.admin_eval(tnt, "return box.space.sch_moving.id, box.space.sch_moving:len()") == [
        new_id, 1]
    assert conn.schema.spaces["sch_moving"].sid == new_id


async def test_fetch_schema_false(tnt, connect):
    conn = await connect(tnt, fetch_schema=False, auto_refetch_schema=False)
    if getattr(conn.features, "space_and_index_names", False) and not tb.IS_ASYNCTNT:
        # 3.0+: the name goes on the wire (tests/test_names_in_requests.py)
        assert (await conn.select("tester")).rowcount == 0
    else:
        with pytest.raises(tb.exceptions.TarantoolSchemaError):
            await conn.select("tester")
    space_id = tb.admin_eval(tnt, "return box.space.tester.id")[0]
    assert (await conn.select(space_id)).rowcount == 0


@tb.skip_asynctnt("resolve an unknown space name by refetching the schema")
async def test_many_requests_wait_for_one_refetch(tnt, conn, ddl):
    create_space(tnt, "sch_many")
    results = await asyncio.gather(*(conn.insert("sch_many", [i, str(i)]) for i in range(200)))
    assert [r[0][0] for r in results] == list(range(200))
    assert tb.admin_eval(tnt, "return box.space.sch_many:len()") == [200]
    assert tb.pending_count(conn) == 0


async def test_dropped_space_fails_cleanly(tnt, conn, ddl):
    create_space(tnt, "sch_gone")
    await conn.refetch_schema()
    tb.admin_eval(tnt, "box.space.sch_gone:drop()")
    with pytest.raises((tb.exceptions.TarantoolSchemaError, tb.exceptions.TarantoolDatabaseError)):
        await asyncio.wait_for(conn.insert("sch_gone", [1, "x"]), 5)
    assert (await conn.ping()).code == 0
    if not tb.IS_ASYNCTNT:
        assert tb.pending_count(conn) == 0
