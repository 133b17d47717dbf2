"""execute: SQL with parameters, column metadata, DML row counts and autoincrement ids."""
import pytest

from tests import _testbase as tb


def sql(tnt, statement):
    tb.admin_eval(tnt, "local r, e = box.execute(...) if e ~= nil then error(e) end", statement)


@pytest.fixture
def sql_table(tnt):
    sql(tnt, "CREATE TABLE sqlt (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, score NUMBER)")
    yield "SQLT"
    sql(tnt, "DROP TABLE IF EXISTS sqlt")


def ident(tnt, name):
    """An unquoted SQL name as the server keeps it: upper case on 2.x, as written on 3.x."""
    upper = tb.admin_eval(tnt, "return box.execute('SELECT 1 AS a').metadata[1].name")[0] == "A"
    return name.upper() if upper else name


async def test_execute_select_literal(tnt, conn):
    res = await conn.execute("SELECT 1 AS a, 'x' AS b", [])
    assert res.code == 0
    assert len(res) == 1
    assert list(res[0]) == [1, "x"]
    a, b = ident(tnt, "a"), ident(tnt, "b")
    assert res[0][a] == 1 and res[0][b] == "x"
    assert [f.name for f in res.metadata.fields] == [a, b]


async def test_execute_insert_rowcount_and_autoincrement(conn, sql_table):
    res = await conn.execute("INSERT INTO sqlt (name, score) VALUES (?, ?), (?, ?)",
                             ["a", 1.5, "b", 2])
    assert res.rowcount == 2
    assert res.autoincrement_ids == [1, 2]
    assert not res.body


async def test_execute_select_with_params_and_metadata(tnt, conn, sql_table):
    await conn.execute("INSERT INTO sqlt (name, score) VALUES ('a', 1), ('b', 2), ('c', 3)", [])
    res = await conn.execute("SELECT id, name, score FROM sqlt WHERE id >= ? ORDER BY id", [2])
    assert res.rowcount == 2
    assert [list(t) for t in res] == [[2, "b", 2], [3, "c", 3]]
    i, n, s = ident(tnt, "id"), ident(tnt, "name"), ident(tnt, "score")
    assert [(f.name, f.type) for f in res.metadata.fields] == [
        (i, "integer"), (n, "string"), (s, "number")]
    assert res[0][n] == "b"
    assert dict(res[1].items()) == {i: 3, n: "c", s: 3}


async def test_execute_named_params(conn, sql_table):
    await conn.execute("INSERT INTO sqlt (name) VALUES ('a'), ('b')", [])
    res = await conn.execute("SELECT name FROM sqlt WHERE id = :id", [{":id": 2}])
    assert [list(t) for t in res] == [["b"]]


async def test_execute_update_delete_rowcount(conn, sql_table):
    await conn.execute("INSERT INTO sqlt (name) VALUES ('a'), ('b'), ('c')", [])
    res = await conn.execute("UPDATE sqlt SET name = ? WHERE id < ?", ["z", 3])
    assert res.rowcount == 2
    res = await conn.execute("DELETE FROM sqlt WHERE name = ?", ["z"])
    assert res.rowcount == 2
    res = await conn.execute("SELECT COUNT(*) FROM sqlt", [])
    assert res[0][0] == 1


async def test_execute_ddl(tnt, conn):
    try:
        res = await conn.execute("CREATE TABLE ddl_t (id INTEGER PRIMARY KEY)", [])
        assert res.rowcount == 1
        space = ident(tnt, "ddl_t")
        assert tb.admin_eval(tnt, f"return box.space.{space} ~= nil") == [True]
    finally:
        sql(tnt, "DROP TABLE IF EXISTS ddl_t")


async def test_execute_syntax_error(tnt, conn):
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.execute("SELEKT 1", [])
    server_code = tb.admin_eval(tnt, "local _, e = box.execute('SELEKT 1') return e.code")[0]
    assert info.value.code == server_code > 0
    assert "SELEKT" in info.value.message


async def test_execute_sees_box_space(tnt, conn):
    tb.admin_eval(tnt, "box.space.tester:insert{1, 'one'}")
    res = await conn.execute('SELECT "name" FROM "tester" WHERE "id" = ?', [1])
    assert [list(t) for t in res] == [["one"]]
