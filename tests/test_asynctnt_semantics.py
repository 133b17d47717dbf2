"""asynctnt 2.4's argument semantics, call for call: loadtnt answers as asynctnt does.

Each case runs on both drivers against the same server: a result must be the same, and an
exception must be of asynctnt's type (or a subclass: loadtnt's ValueNestingError is a
ValueError, say). Where loadtnt deliberately differs, the case is in DIFFERENT with the
reason, which README's "Where it differs from asynctnt" lists too.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests import _testbase as tb

asynctnt = pytest.importorskip("asynctnt")
pytestmark = tb.only_loadtnt

SETUP = """
local s = box.schema.space.create('sem_hash', {if_not_exists = true})
s:create_index('pk', {type = 'hash', parts = {1, 'unsigned'}, if_not_exists = true})
s:replace{1, 'a'} s:replace{2, 'b'}
local n = box.schema.space.create('sem_noformat', {if_not_exists = true})
n:create_index('pk', {parts = {1, 'unsigned'}, if_not_exists = true})
n:replace{1, 'x'}
box.space.tester:replace{1, 'one'}
"""

# name -> (method, args, kwargs)
CASES: dict[str, tuple[str, tuple, dict]] = {
    "select-no-key-hash": ("select", ("sem_hash",), {}),
    "select-none-key-hash": ("select", ("sem_hash", None), {}),
    "select-empty-key-tree": ("select", ("tester", []), {}),
    "select-scalar-key": ("select", ("tester", 1), {}),
    "select-iterator-name": ("select", ("tester", [0]), {"iterator": "GE"}),
    "select-iterator-bad-name": ("select", ("tester", [0]), {"iterator": "NOPE"}),
    "select-iterator-float": ("select", ("tester", [0]), {"iterator": 1.5}),
    "select-limit-str": ("select", ("tester", [1]), {"limit": "x"}),
    "select-offset-negative": ("select", ("tester", [1]), {"offset": -1}),
    "select-space-float": ("select", (1.5, [1]), {}),
    "select-unknown-space": ("select", ("no_such_space", [1]), {}),
    "select-unknown-index": ("select", ("tester", [1]), {"index": "no_such_index"}),
    "select-timeout-str": ("select", ("tester", [1]), {"timeout": "x"}),
    "insert-str-tuple": ("insert", ("tester", "not a tuple"), {}),
    "insert-int-tuple": ("insert", ("tester", 5), {}),
    "insert-dict": ("insert", ("tester", {"id": 7, "name": "seven"}), {}),
    "update-ops-none": ("update", ("tester", [1], None), {}),
    "update-ops-bytes-name": ("update", ("tester", [1], [[b"=", 2, "bytes op"]]), {}),
    "update-ops-field-name": ("update", ("tester", [1], [["=", "name", "by name"]]), {}),
    "update-ops-not-list": ("update", ("tester", [1], "x"), {}),
    "update-ops-short": ("update", ("tester", [1], [["="]]), {}),
    "upsert-ops-none": ("upsert", ("tester", [9, "nine"], None), {}),
    "delete-no-such": ("delete", ("tester", [12345]), {}),
    "call-name-int": ("call", (123,), {}),
    "call-args-str": ("call", ("func_param", "abc"), {}),
    "call-args-dict": ("call", ("func_param", {"a": 1}), {}),
    "eval-none": ("eval", (None,), {}),
    "eval-args-tuple": ("eval", ("return ...", (1, 2)), {}),
    "execute-int-query": ("execute", (10**6,), {}),
    "execute-bad-sql": ("execute", ("SELEC nothing",), {}),
    "execute-args-not-list": ("execute", ("SELECT ?", 5), {}),
    "ping-timeout-str": ("ping", (), {"timeout": "x"}),
    "value-set": ("eval", ("return ...", [{1, 2}]), {}),
    "value-object": ("eval", ("return ...", [object()]), {}),
    "value-huge-int": ("eval", ("return ...", [2**64]), {}),
}

# Where loadtnt deliberately answers otherwise (README, "Where it differs from asynctnt").
DIFFERENT = {
    # asynctnt 2.4 sends -1 as 2**32-1 and returns nothing; loadtnt refuses it
    "select-offset-negative": "a negative offset is refused with OverflowError",
    # asynctnt 2.4 wants a list; loadtnt takes a scalar as the key of a one-part index
    "select-scalar-key": "a scalar key is a one-part key",
}


def _summary(value: Any) -> Any:
    """What a response holds, comparable across the drivers."""
    body = getattr(value, "body", value)
    if isinstance(body, list):
        return [list(t) if hasattr(t, "keys") or isinstance(t, (list, tuple)) else t
                for t in body]
    return body


async def _outcome(conn: Any, method: str, args: tuple, kwargs: dict) -> tuple:
    try:
        res = await getattr(conn, method)(*args, **kwargs)
    except Exception as e:  # noqa: BLE001  the type is what is compared
        return ("error", type(e))
    return ("ok", _summary(res))


@pytest.fixture
def both(tnt, loop):
    tb.admin_eval(tnt, SETUP)
    kwargs = tb.conn_kwargs(tnt)
    a = asynctnt.Connection(**kwargs)
    b = tb.driver.Connection(**kwargs)
    loop.run_until_complete(asyncio.gather(a.connect(), b.connect()))
    yield a, b
    loop.run_until_complete(asyncio.gather(a.disconnect(), b.disconnect()))
    tb.admin_eval(tnt, "box.space.sem_hash:drop() box.space.sem_noformat:drop()")


@pytest.mark.parametrize("case", sorted(CASES))
async def test_same_answer_as_asynctnt(tnt, both, case):
    method, args, kwargs = CASES[case]
    a, b = both
    theirs = await _outcome(a, method, args, kwargs)
    tb.admin_eval(tnt, SETUP)  # undo what asynctnt's call changed
    tb.admin_eval(tnt, "box.space.tester:truncate() box.space.tester:replace{1, 'one'}")
    ours = await _outcome(b, method, args, kwargs)
    if case in DIFFERENT:
        assert ours != theirs, f"{case} is listed as different but is the same now"
        return
    if theirs[0] == "ok":
        assert ours == theirs, f"{case}: asynctnt {theirs}, loadtnt {ours}"
        return
    assert ours[0] == "error", f"{case}: asynctnt raised {theirs[1].__name__}, loadtnt {ours}"
    their_type, our_type = theirs[1], ours[1]
    names = {c.__name__ for c in our_type.__mro__}
    assert their_type.__name__ in names, (
        f"{case}: asynctnt raises {their_type.__name__}, loadtnt {our_type.__name__}")


async def test_keys_of_a_tuple_without_format(tnt, both):
    a, b = both
    for conn in (a, b):
        row = (await conn.select("sem_noformat", [1]))[0]
        with pytest.raises(ValueError):
            row.keys()
        assert list(row) == [1, "x"]
