"""loadtnt.instance: the Tarantool launcher the suite and the harness share."""
import os
import re
import time

import pytest

from loadtnt import instance as inst
from loadtnt.instance import TarantoolInstance, TarantoolInstanceError
from tests import _testbase as tb


def test_version():
    assert re.match(r"\d+\.\d+\.\d+", inst.version())
    assert inst.version_tuple()[:2] >= (1, 10)


def test_start_stop_restart_same_port():
    with TarantoolInstance(lua=tb.ADMIN_LUA + "box.schema.space.create('x')") as tnt:
        assert tnt.is_running and tnt.host == "127.0.0.1"
        port, pid = tnt.port, tnt.pid
        assert tnt.read_greeting().startswith(b"Tarantool ")
        assert tb.admin_eval(tnt, "return box.space.x ~= nil, box.cfg.wal_mode") == [True, "none"]
        assert tnt.stop() is not None
        assert not tnt.is_running
        tnt.restart()
        assert tnt.port == port and tnt.pid != pid
        # A fresh server each start (wal_mode none): the Lua ran again without complaint.
        assert tb.admin_eval(tnt, "return box.space.x ~= nil") == [True]
        work_dir = tnt.work_dir
        assert os.path.isdir(work_dir)
    assert not os.path.exists(work_dir)


def test_kill_and_start_again():
    with TarantoolInstance() as tnt:
        pid = tnt.pid
        tnt.kill()
        assert not tnt.is_running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        tnt.start()
        assert tnt.read_greeting()[:9] == b"Tarantool"


def test_unix_socket_and_restart():
    with TarantoolInstance(unix_socket=True, lua=tb.ADMIN_LUA) as tnt:
        assert tnt.host == "unix/" and tnt.port == tnt.unix_path
        assert os.path.exists(tnt.unix_path)
        tnt.kill()  # leaves a stale socket file behind
        tnt.start()
        assert tb.admin_eval(tnt, "return 1 + 1") == [2]


def test_listen_only_after_extra_lua():
    tnt = TarantoolInstance(
        lua=tb.ADMIN_LUA + "require('fiber').sleep(0.3) box.schema.space.create('late')")
    with tnt:
        with open(os.path.join(tnt.work_dir, "init.lua")) as fh:
            lua = fh.read()
        assert lua.index("fiber") < lua.index("listen")
        # Readiness means the extra Lua ran: the space exists on first contact.
        assert tb.admin_eval(tnt, "return box.space.late ~= nil") == [True]


def test_cfg_and_init_script(tmp_path):
    script = tmp_path / "extra.lua"
    script.write_text("rawset(_G, 'from_script', 42)\n")
    with TarantoolInstance(init_script=script, lua=tb.ADMIN_LUA, cfg={"readahead": 65536},
                           memtx_memory=64 * 1024 * 1024) as tnt:
        got = tb.admin_eval(tnt, "return from_script, box.cfg.readahead, box.cfg.memtx_memory")
        assert got == [42, 65536, 64 * 1024 * 1024]
        assert "password" not in tnt.log_tail(1000).lower()


def test_start_failure_includes_log_tail():
    tnt = TarantoolInstance(lua="error('deliberate start failure')")
    started = time.monotonic()
    with pytest.raises(TarantoolInstanceError) as info:
        tnt.start()
    assert time.monotonic() - started < 10
    assert "deliberate start failure" in str(info.value)
    assert not tnt.is_running
    tnt.cleanup()


def test_lua_literal():
    assert inst.lua_literal("it's\n") == "'it\\'s\\n'"
    assert inst.lua_literal(True) == "true"
    assert inst.lua_literal(None) == "nil"
    assert inst.lua_literal([1, "a"]) == "{1, 'a'}"
    assert inst.lua_literal({"k": 1}) == "{['k'] = 1}"


def test_pause_resume_and_stop_while_paused():
    with TarantoolInstance(lua=tb.ADMIN_LUA) as tnt:
        tnt.pause()
        with pytest.raises(OSError):
            tb.admin_eval(tnt, "return 1", timeout=0.3)
        tnt.resume()
        assert tb.admin_eval(tnt, "return 1") == [1]
        tnt.pause()
        started = time.monotonic()
        tnt.stop()  # SIGTERM is delivered once the process is continued
        assert time.monotonic() - started < tnt.stop_timeout
        assert not tnt.is_running
