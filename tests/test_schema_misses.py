"""A name the schema lacks costs the server at most one schema fetch per name per second.

A request that names a space (or index) the fetched schema does not know makes the driver fetch
the schema again before it fails: that is how a space granted after connect is found by name (a
grant does not change the schema version, so nothing else tells the client). A name that really
does not exist must not turn every request into a refetch (two selects of _vspace/_vindex, as big
as the schema): after a refetch that did not find it, requests naming it fail at once for a
second; misses that come together share one refetch. Counted on the server (box.stat().SELECT).
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests import _testbase as tb

pytestmark = tb.only_loadtnt


def selects(tnt: Any) -> int:
    return int(tb.admin_eval(tnt, "return box.stat().SELECT.total")[0])


async def test_a_missing_space_in_a_tight_loop_refetches_once_a_second(conn: Any, tnt: Any,
                                                                        loop: Any) -> None:
    before = selects(tnt)
    t0 = time.monotonic()
    failures = 0
    for _ in range(500):
        try:
            await conn.select("no_such_space")
        except tb.exceptions.TarantoolSchemaError as e:
            assert "no_such_space" in str(e)
            failures += 1
    elapsed = time.monotonic() - t0
    fetched = selects(tnt) - before
    assert failures == 500
    # each schema fetch is 2 selects; one per started second of the loop at most (before the
    # bound: one per request, 1,000 selects)
    assert 2 <= fetched <= 2 * (int(elapsed / 1.0) + 1), (fetched, elapsed)


async def test_a_missing_index_is_bounded_too(conn: Any, tnt: Any, loop: Any) -> None:
    before = selects(tnt)
    t0 = time.monotonic()
    for _ in range(200):
        with pytest.raises(tb.exceptions.TarantoolSchemaError, match="no_such_index"):
            await conn.select("tester", [1], index="no_such_index")
    assert selects(tnt) - before <= 2 * (int((time.monotonic() - t0) / 1.0) + 1)


async def test_concurrent_misses_share_one_refetch(conn: Any, tnt: Any, loop: Any) -> None:
    before = selects(tnt)
    reqs = [conn.select(name) for name in ("missing_a", "missing_b") for _ in range(200)]
    res = await asyncio.gather(*reqs, return_exceptions=True)
    assert all(isinstance(r, tb.exceptions.TarantoolSchemaError) for r in res)
    assert selects(tnt) - before == 2        # one fetch: _vspace and _vindex


GRANT_LUA = """
local user, space = ...
box.schema.user.create(user, {password = 'pw', if_not_exists = true})
local s = box.schema.space.create(space, {if_not_exists = true,
    format = {{name = 'id', type = 'unsigned'}}})
s:create_index('pk', {if_not_exists = true})
s:replace{7}
"""


def fresh(prefix: str) -> tuple[str, str]:
    """A user and a space of their own (the session server outlives each test)."""
    n = next(_names)
    return f"{prefix}_user{n}", f"{prefix}_space{n}"


_names = iter(range(10**6))


async def test_a_space_granted_after_connect_is_found_on_the_next_request(
        connect: Any, tnt: Any, loop: Any) -> None:
    user, space = fresh("late")
    tb.admin_eval(tnt, GRANT_LUA, user, space)
    conn = await connect(tnt, username=user, password="pw")
    tb.admin_eval(tnt, f"box.schema.user.grant('{user}', 'read', 'space', '{space}')")
    assert list((await conn.select(space)).body) == [[7]]


async def test_a_miss_is_retried_after_a_second(connect: Any, tnt: Any, loop: Any) -> None:
    """The bound is a time, not a verdict: a space granted right after a miss is found by
    the first request a second later (and not before: those fail without a fetch)."""
    user, space = fresh("retry")
    tb.admin_eval(tnt, GRANT_LUA, user, space)
    conn = await connect(tnt, username=user, password="pw")
    with pytest.raises(tb.exceptions.TarantoolSchemaError, match=space):
        await conn.select(space)
    tb.admin_eval(tnt, f"box.schema.user.grant('{user}', 'read', 'space', '{space}')")
    before = selects(tnt)
    with pytest.raises(tb.exceptions.TarantoolSchemaError, match="fetches the schema again"):
        await conn.select(space)
    assert selects(tnt) == before
    await asyncio.sleep(1.05)
    assert list((await conn.select(space)).body) == [[7]]
    assert selects(tnt) - before == 3        # one fetch, then the select itself


async def test_a_missing_and_an_invisible_space_are_told_apart(connect: Any, tnt: Any,
                                                                loop: Any) -> None:
    """A space that exists but this user may not access is absent from the schema the user
    fetches, exactly like one that does not exist. On 3.0+ the request then goes by name once
    and the server says which it is (SchemaMissError: ER_ACCESS_DENIED or ER_NO_SUCH_SPACE, a
    TarantoolSchemaError); before 3.0 nothing on the wire tells them apart, and the message
    names both causes and the user."""
    user, space = fresh("hidden")
    tb.admin_eval(tnt, GRANT_LUA, user, space)
    conn = await connect(tnt, username=user, password="pw")
    with pytest.raises(tb.exceptions.TarantoolSchemaError) as invisible:
        await conn.select(space)
    with pytest.raises(tb.exceptions.TarantoolSchemaError) as missing:
        await conn.select(space + "_nope")
    if tb.server_version(tnt) >= (3, 0):
        assert isinstance(invisible.value, tb.exceptions.SchemaMissError)
        assert invisible.value.code == tb.exceptions.ErrorCode.ER_ACCESS_DENIED
        assert f"exists on {tnt.host}:{tnt.port} but user '{user}' may not access it" in str(
            invisible.value)
        assert missing.value.code == tb.exceptions.ErrorCode.ER_NO_SUCH_SPACE
        assert "does not exist on" in str(missing.value)
        # the verdict is remembered like any miss: the next request fails at once with it
        with pytest.raises(tb.exceptions.SchemaMissError, match="may not access it"):
            await conn.select(space)
    else:
        for err in (invisible.value, missing.value):
            assert f"as user '{user}' sees it: it does not exist, or this user has no " \
                   "privilege on it" in str(err)
