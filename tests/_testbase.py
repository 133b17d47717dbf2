"""Shared pieces of the driver test suite.

* ``driver`` / ``exceptions``: the module under test. ``LOADTNT_TEST_DRIVER=asynctnt`` runs the
  suite against asynctnt 2.x (to validate the tests themselves); the default is
  ``loadtnt.driver``.
* ``INIT_LUA``: the schema, users and functions of the session server.
* ``admin_eval``: a tiny blocking IProto client (plain msgpack over a socket) that evaluates Lua
  as user t1. It is independent of the driver under test, so tests use it to set up and to check
  what the server really stored.
"""
from __future__ import annotations

import base64
import hashlib
import importlib
import os
import socket
import struct
from typing import Any

import msgpack
import pytest

DRIVER_NAME = os.environ.get("LOADTNT_TEST_DRIVER", "loadtnt.driver")
if DRIVER_NAME in ("loadtnt", "loadtnt.driver"):
    DRIVER_NAME = "loadtnt.driver"
IS_ASYNCTNT = DRIVER_NAME == "asynctnt"

driver: Any = importlib.import_module(DRIVER_NAME)
exceptions: Any = importlib.import_module(DRIVER_NAME + ".exceptions")

USER = "t1"
PASSWORD = "t1"
SPACE = "tester"

only_loadtnt = pytest.mark.skipif(IS_ASYNCTNT, reason="loadtnt-only contract")


def skip_asynctnt(reason: str) -> pytest.MarkDecorator:
    """Skip a test under asynctnt, which does not meet this part of loadtnt's contract."""
    return pytest.mark.skipif(IS_ASYNCTNT, reason=f"asynctnt 2.4 does not: {reason}")


def connection_state() -> Any:
    """asynctnt's ``ConnectionState`` enum, wherever the driver exposes it."""
    state = getattr(driver, "ConnectionState", None)
    if state is None:
        state = importlib.import_module(DRIVER_NAME + ".connection").ConnectionState
    return state


def pending_count(conn: Any) -> int:
    """Requests the connection still waits for (loadtnt only: ``conn._protocol.pending_count()``)."""
    return int(conn._protocol.pending_count())


# Multi-MB tuples in test_types; a deep iproto queue for the timeout tests.
SERVER_CFG = {"memtx_max_tuple_size": 32 * 1024 * 1024, "net_msg_max": 2048}

# The user admin_eval authenticates as; part of INIT_LUA, usable alone.
ADMIN_LUA = """
box.schema.user.create('t1', {password = 't1', if_not_exists = true})
box.schema.user.grant('t1', 'super', nil, nil, {if_not_exists = true})
"""

INIT_LUA = ADMIN_LUA + r"""
local fiber = require('fiber')
local clock = require('clock')

box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})

local s = box.schema.space.create('tester', {
    if_not_exists = true,
    format = {{name = 'id', type = 'unsigned'}, {name = 'name', type = 'string'}},
})
s:create_index('primary', {type = 'tree', parts = {1, 'unsigned'}, if_not_exists = true})
s:create_index('txt', {type = 'tree', unique = false, parts = {2, 'string'},
                       if_not_exists = true})

function func_hello() return 'hello' end
function func_param(...) return ... end
function func_long(t) fiber.sleep(t) return 'ok' end
function func_multi() return 1, 'two', {3, 4} end
function func_tuples() return box.space.tester:select() end
function func_lua_error() error('lua boom') end
function func_box_error() box.error(box.error.ILLEGAL_PARAMS, 'bad param') end
-- Blocks the whole server (no yield) for t seconds: requests queue up unanswered.
function func_block(t)
    local deadline = clock.monotonic() + t
    while clock.monotonic() < deadline do end
    return 'unblocked'
end

for _, name in ipairs({'func_hello', 'func_param', 'func_long', 'func_multi', 'func_tuples',
                       'func_lua_error', 'func_box_error', 'func_block'}) do
    box.schema.func.create(name, {if_not_exists = true})
end
"""

# --- a minimal independent IProto client ---------------------------------------------

_IPROTO_CODE, _IPROTO_SYNC = 0x00, 0x01
_IPROTO_EVAL, _IPROTO_EXPR, _IPROTO_TUPLE = 0x08, 0x27, 0x21
_IPROTO_DATA, _IPROTO_ERROR = 0x30, 0x31
_IPROTO_AUTH, _IPROTO_USER_NAME = 0x07, 0x23


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    return bytes(data)


def _scramble(salt_b64: bytes, password: str) -> bytes:
    """chap-sha1: sha1(password) XOR sha1(salt[:20] + sha1(sha1(password)))."""
    salt = base64.b64decode(salt_b64)[:20]
    hash1 = hashlib.sha1(password.encode()).digest()
    hash2 = hashlib.sha1(hash1).digest()
    mask = hashlib.sha1(salt + hash2).digest()
    return bytes(a ^ b for a, b in zip(hash1, mask, strict=True))


def _request(sock: socket.socket, code: int, sync: int, body: dict[int, Any]) -> Any:
    header = msgpack.packb({_IPROTO_CODE: code, _IPROTO_SYNC: sync})
    payload = msgpack.packb(body, use_bin_type=True)
    sock.sendall(b"\xce" + struct.pack(">I", len(header) + len(payload)) + header + payload)
    prefix = _recv_exact(sock, 5)
    (length,) = struct.unpack(">I", prefix[1:])
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(_recv_exact(sock, length))
    resp_header = unpacker.unpack()
    resp_body = unpacker.unpack()
    if resp_header[_IPROTO_CODE] != 0:
        raise RuntimeError(f"admin request failed: {resp_body.get(_IPROTO_ERROR)}")
    return resp_body


def admin_eval(tnt: Any, expression: str, *args: Any, timeout: float = 10.0) -> list[Any]:
    """Evaluate Lua on ``tnt`` as user t1 (super) and return its results (raises on error)."""
    with tnt.open_socket(timeout) as sock:
        greeting = _recv_exact(sock, 128)
        scramble = _scramble(greeting[64:108].strip(), PASSWORD)
        _request(sock, _IPROTO_AUTH, 1, {_IPROTO_USER_NAME: USER,
                                         _IPROTO_TUPLE: ["chap-sha1", scramble]})
        body = _request(sock, _IPROTO_EVAL, 2, {_IPROTO_EXPR: expression,
                                                _IPROTO_TUPLE: list(args)})
    return list(body.get(_IPROTO_DATA, []))


def server_version(tnt: Any) -> tuple[int, ...]:
    """The session server's version as numbers, e.g. ``(3, 8, 0)``."""
    text = str(admin_eval(tnt, "return box.info.version")[0])
    return tuple(int(p) for p in text.split("-")[0].split(".") if p.isdigit())


def need_version(tnt: Any, minimum: tuple[int, ...], what: str) -> None:
    """Skip the calling test, naming the version it needs, on an older server."""
    have = server_version(tnt)
    if have < minimum:
        pytest.skip(f"needs Tarantool {'.'.join(map(str, minimum))}+ for {what}; "
                    f"the server is {'.'.join(map(str, have))}")


def truncate(tnt: Any) -> None:
    admin_eval(tnt, "box.space.tester:truncate()")


def conn_kwargs(tnt: Any, **overrides: Any) -> dict[str, Any]:
    """Connection arguments for ``tnt`` as user t1 (override anything)."""
    kwargs: dict[str, Any] = {
        "host": tnt.host, "port": tnt.port, "username": USER, "password": PASSWORD,
    }
    kwargs.update(overrides)
    return kwargs
