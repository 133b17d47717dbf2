"""Drop-in check: asynctnt 2.x code must find the same names and keyword arguments.

Compares the driver under test with the installed asynctnt 2.4 (trivially true for asynctnt
itself). Features that need Tarantool 2.10+ (streams, push iterators, datetime/interval
types, IPROTO_ID features) are out of scope for this suite's Tarantool 2.6.
"""
import inspect

import asynctnt
import asynctnt.exceptions
import pytest

from tests import _testbase as tb

PUBLIC_NAMES = ["Connection", "connect", "Iterator", "Response", "TarantoolTuple", "Schema",
                "SchemaSpace", "SchemaIndex", "Metadata", "Field"]
EXCEPTION_NAMES = ["TarantoolError", "TarantoolSchemaError", "TarantoolDatabaseError",
                   "TarantoolNetworkError", "TarantoolNotConnectedError", "ErrorCode"]
REQUESTS = ["ping", "call", "call16", "eval", "select", "insert", "replace", "update", "upsert",
            "delete", "execute"]
LIFECYCLE = ["connect", "disconnect", "close", "reconnect", "refetch_schema"]
# asynctnt forwards these as **kwargs to its Db methods (see asynctnt/iproto/protocol.pyi).
FORWARDED = {
    "select": {"offset", "limit", "index", "iterator", "timeout"},
    "update": {"index", "timeout"},
    "upsert": {"timeout"},
    "delete": {"index", "timeout"},
}
PROPERTIES = ["host", "port", "username", "fetch_schema", "auto_refetch_schema", "encoding",
              "reconnect_timeout", "connect_timeout", "request_timeout", "version", "state",
              "is_connected", "is_fully_connected", "schema_id", "schema",
              "initial_read_buffer_size"]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_name(name):
    assert hasattr(tb.driver, name)


@pytest.mark.parametrize("name", EXCEPTION_NAMES)
def test_exception_name(name):
    assert hasattr(tb.exceptions, name)


def test_error_codes_superset():
    ours = {e.name: e.value for e in tb.exceptions.ErrorCode}
    theirs = {e.name: e.value for e in asynctnt.exceptions.ErrorCode}
    missing = sorted((v, k) for k, v in theirs.items() if ours.get(k) != v)
    assert not missing, (
        f"{len(missing)} asynctnt ErrorCode members missing or different, "
        f"from {missing[0][1]}={missing[0][0]} to {missing[-1][1]}={missing[-1][0]}")


def test_iterator_members_match():
    assert {i.name: int(i) for i in tb.driver.Iterator} == {
        i.name: int(i) for i in asynctnt.Iterator}


def _params(func):
    return {name: p for name, p in inspect.signature(func).parameters.items()
            if name != "self"}


def test_connection_constructor_keywords():
    ours = _params(tb.driver.Connection.__init__)
    theirs = _params(asynctnt.Connection.__init__)
    if any(p.kind is p.VAR_KEYWORD for p in ours.values()):
        pytest.skip("driver takes **kwargs; behaviour covered by the connect tests")
    assert set(theirs) <= set(ours)
    for name, param in theirs.items():
        if param.default is not inspect.Parameter.empty and name != "request_timeout":
            assert ours[name].default == param.default, name


@pytest.mark.parametrize("method", REQUESTS + LIFECYCLE)
def test_method_keywords(method):
    ours = getattr(tb.driver.Connection, method)
    theirs = getattr(asynctnt.Connection, method)
    assert callable(ours)
    theirs_params = _params(theirs)
    try:
        ours_params = _params(ours)
    except (TypeError, ValueError):
        pytest.skip(f"{method}: signature not introspectable")
    if any(p.kind is p.VAR_KEYWORD for p in ours_params.values()):
        return
    wanted = {n for n, p in theirs_params.items()
              if n != "push_subscribe" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    wanted |= FORWARDED.get(method, set())
    assert wanted <= set(ours_params), wanted - set(ours_params)
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)


@pytest.mark.parametrize("name", PROPERTIES)
def test_connection_property(name):
    attr = inspect.getattr_static(tb.driver.Connection, name, None)
    assert attr is not None
    assert isinstance(attr, property) or not callable(attr)


def test_connection_supports_async_with():
    assert hasattr(tb.driver.Connection, "__aenter__")
    assert hasattr(tb.driver.Connection, "__aexit__")


def test_connection_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        tb.driver.Connection("127.0.0.1", 3301)
