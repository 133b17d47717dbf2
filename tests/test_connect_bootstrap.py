"""connect() against an instance that is not ready yet (asynctnt's behaviour, asynctnt #10).

A real instance still bootstrapping: it listens from the start of box.cfg, but while it
waits for a replica set peer (here one that never comes, for 2 s) the schema spaces do not
exist yet and every schema fetch fails. With reconnect on, connect() retries it every
reconnect_timeout until connect_timeout; with reconnect off it raises at once.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from loadtnt.instance import free_port
from tests import _testbase as tb

BOOTSTRAP_LUA = """
box.cfg{{work_dir = {work!r}, listen = '127.0.0.1:{port}', feedback_enabled = false,
        replication = {{'127.0.0.1:{port}', '127.0.0.1:{dead}'}},
        replication_connect_timeout = {wait}, replication_connect_quorum = 1}}
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {{if_not_exists = true}})
require('fiber').sleep(30)
"""


@pytest.fixture
def bootstrapping() -> Iterator[int]:
    """The port of an instance that listens but is bootstrapping for the next 2 s."""
    port, dead = free_port(), free_port()
    with tempfile.TemporaryDirectory() as work:
        script = os.path.join(work, "init.lua")
        with open(script, "w") as f:
            f.write(BOOTSTRAP_LUA.format(work=work, port=port, dead=dead, wait=2))
        binary = os.environ.get("TARANTOOL") or "tarantool"
        log = open(os.path.join(work, "log"), "wb")  # noqa: SIM115  closed below
        proc = subprocess.Popen([binary, script], cwd=work, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 10
            while True:  # wait until it listens (it does before it bootstraps)
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the bootstrapping instance did not listen") from None
                    time.sleep(0.02)
            yield port
        finally:
            proc.kill()
            proc.wait(10)
            log.close()


async def test_connect_retries_until_the_instance_is_ready(loop, bootstrapping):
    conn = tb.driver.Connection(host="127.0.0.1", port=bootstrapping, reconnect_timeout=0.1,
                                connect_timeout=15, ping_timeout=0)
    started = time.monotonic()
    try:
        await conn.connect()
        waited = time.monotonic() - started
        # what guest sees even before the script's grant: a connect between box.cfg's end and
        # the grant fetches the public role's schema (no _space), and a grant does not bump
        # the schema version, so nothing refetches it (seen once under CPU contention)
        assert (await conn.select("_vspace", [281])).rowcount == 1
        assert conn.schema is not None and "_vspace" in conn.schema.spaces
    finally:
        await conn.disconnect()
    assert waited > 0.5, "it was ready at once: the test saw no bootstrap to wait for"


async def test_connect_without_reconnect_raises_at_once(loop, bootstrapping):
    conn = tb.driver.Connection(host="127.0.0.1", port=bootstrapping, reconnect_timeout=0,
                                connect_timeout=15, ping_timeout=0)
    started = time.monotonic()
    with pytest.raises(tb.exceptions.TarantoolDatabaseError) as info:
        await conn.connect()
    assert time.monotonic() - started < 1.5
    assert info.value.code in (tb.exceptions.ErrorCode.ER_NO_SUCH_SPACE,
                               tb.exceptions.ErrorCode.ER_LOADING,
                               tb.exceptions.ErrorCode.ER_ACCESS_DENIED)


async def test_schema_fetch_is_bound_by_connect_timeout_not_request_timeout(tnt, connect):
    # a request_timeout far shorter than a round trip: the schema fetch of connect()
    # is not a user request and must not time out by it
    conn = await connect(tnt, request_timeout=1e-6, connect_timeout=5)
    assert "tester" in conn.schema.spaces
    with pytest.raises(asyncio.TimeoutError):
        await conn.call("func_long", [0.2])


async def test_index_parts_carry_names_and_types(conn):
    idx = conn.schema.spaces["tester"].indexes["txt"]
    parts = idx.metadata.fields
    assert [(f.name, f.type) for f in parts] == [("name", "string")]
    pk = conn.schema.spaces["tester"].indexes["primary"].metadata.fields
    assert [(f.name, f.type) for f in pk] == [("id", "unsigned")]
