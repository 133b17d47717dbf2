"""IPROTO_ID at connect: the server's protocol version, features and auth type."""
from __future__ import annotations

from tests import _testbase as tb

FEATURES = ("streams", "transactions", "error_extension", "watchers", "pagination",
            "space_and_index_names", "watch_once", "dml_tuple_extension",
            "call_ret_tuple_extension", "call_arg_tuple_extension")


async def test_features_of_a_modern_server(tnt, conn):
    tb.need_version(tnt, (2, 10), "IPROTO_ID")
    f = conn.features
    assert f.streams and f.transactions and f.error_extension and f.watchers
    expected = tb.admin_eval(tnt, "return box.iproto.protocol_features") if tb.server_version(
        tnt) >= (2, 11) else None
    if expected:
        for name in FEATURES:
            assert getattr(f, name) == bool(expected[0].get(name)), name
        assert f.protocol_version == tb.admin_eval(tnt, "return box.iproto.protocol_version")[0]
    assert f.auth_type in (None, "chap-sha1")


async def test_old_server_answers_quietly(tnt, conn):
    if tb.server_version(tnt) >= (2, 10):
        import pytest
        pytest.skip("needs a server before 2.10 (no IPROTO_ID), e.g. Debian's 2.6")
    f = conn.features
    assert not any(getattr(f, name) for name in FEATURES)
    assert f.protocol_version == 0
    assert (await conn.ping()).code == 0


async def test_features_survive_a_reconnect(tnt, conn):
    before = repr(conn.features)
    await conn.reconnect()
    assert repr(conn.features) == before
