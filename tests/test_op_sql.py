"""execute: SQL with parameters, column metadata, DML row counts and autoincrement ids.

Names are written in upper case: 2.6 folds unquoted names to it, 3.x keeps them as written.
"""
import pytest

from tests import _testbase as tb


def sql(tnt, statement):
    tb.admin_eval(tnt, "local r, e = box.execute(...) if e ~= nil then error(e) end", statement)


@pytest.fixture
def sql_table(tnt):
    sql(tnt, "CREATE TABLE SQLT (ID INTEGER PRIMARY KEY AUTOINCREMENT, NAME TEXT, SCORE NUMBER)")
    yield "SQLT"
    sql(tnt, "DROP TABLE IF EXISTS SQLT")


async def test_execute_select_literal(conn):
    res = await conn.execute("SELECT 1 AS A, 'x' AS B", [])
    assert res.code == 0
    assert len(res) == 1
    assert list(res[0]) == [1, "x"]
    assert res[0]["A"] == 1 and res[0]["B"] == "x"
    assert [f.name for f in res.metadata.fields] == ["A", "B"]


async def test_execute_insert_rowcount_and_autoincrement(conn, sql_table):
    res = await conn.execute("INSERT INTO SQLT (NAME, SCORE) VALUES (?, ?), (?, ?)",
                             ["a", 1.5, "b", 2])
    assert res.rowcount == 2
    assert res.autoincrement_ids == [1, 2]
    assert not res.body


async def test_execute_select_with_params_and_metadata(conn, sql_table):
    await conn.execute("INSERT INTO SQLT (NAME, SCORE) VALUES ('a', 1), ('b', 2), ('c', 3)", [])
    res = await conn.execute("SELECT ID, NAME, SCORE FROM SQLT WHERE ID >= ? ORDER BY ID", [2])
    assert res.rowcount == 2
    assert [list(t) for t in res] == [[2, "b", 2], [3, "c", 3]]
    assert [(f.name, f.type) for f in res.metadata.fields] == [
        ("ID", "integer"), ("NAME", "string"), ("SCORE", "number")]
    assert res[0]["NAME"] == "b"
    assert dict(res[1].items()) == {"ID": 3, "NAME": "c", "SCORE": 3}


async def test_execute_named_params(conn, sql_table):
    await conn.execute("INSERT INTO SQLT (NAME) VALUES ('a'), ('b')", [])
    res = await conn.execute("SELECT NAME FROM SQLT WHERE ID = :id", [{":id": 2}])
    assert [list(t) for t in res] == [["b"]]


async def test_execute_update_delete_rowcount(conn, sql_table):
    await conn.execute("INSERT INTO SQLT (NAME) VALUES ('a'), ('b'), ('c')", [])
    res = await conn.execute("UPDATE SQLT SET NAME = ? WHERE ID < ?", ["z", 3])
    assert res.rowcount == 2
    res = await conn.execute("DELETE FROM SQLT WHERE NAME = ?", ["z"])
    assert res.rowcount == 2
    res = await conn.execute("SELECT COUNT(*) FROM SQLT", [])
    assert res[0][0] == 1


async def test_execute_ddl(tnt, conn):
    try:
        res = await conn.execute("CREATE TABLE DDL_T (ID INTEGER PRIMARY KEY)", [])
        assert res.rowcount == 1
        assert tb.admin_eval(tnt, "return box.space.DDL_T ~= nil") == [True]
    finally:
        sql(tnt, "DROP TABLE IF EXISTS DDL_T")


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
