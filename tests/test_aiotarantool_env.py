"""The aiotarantool 1.1.5 environment: its venv runs aiotarantool's own code on Python 3.11.

aiotarantool lives in ``.venv-aiotarantool`` (``make aiotarantool-env``; ``make test`` builds
it) because it needs msgpack-python 0.5.6. Its code runs in a subprocess under that venv's
python, against a real Tarantool started here; the shim
(``loadtnt.compat.aiotarantool_shim``) must never be imported into the test process itself,
since it patches asyncio for the whole process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loadtnt.instance import TarantoolInstance

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = Path(
    os.environ.get("LOADTNT_AIOTARANTOOL_PYTHON", REPO / ".venv-aiotarantool" / "bin" / "python")
)

pytestmark = pytest.mark.skipif(
    not VENV_PYTHON.exists(),
    reason=f"aiotarantool venv missing ({VENV_PYTHON}): run `make aiotarantool-env`",
)

SERVER_LUA = """
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
local s = box.schema.space.create('tester', {if_not_exists = true})
s:create_index('primary', {parts = {1, 'unsigned'}, if_not_exists = true})
for i = 1, 100 do s:replace{i, 'value' .. i} end
function trivial() return 1 end
"""

CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys
    import loadtnt.compat.aiotarantool_shim as shim
    import aiotarantool, msgpack

    async def main(port):
        conn = aiotarantool.connect('127.0.0.1', port)
        out = {'patched': shim.PATCHED, 'msgpack': msgpack.Packer.__module__}
        out['ping'] = await conn.ping()
        out['call'] = list(await conn.call('trivial'))
        out['eval'] = list(await conn.eval('return ...', 7, 'x'))
        out['select'] = list(await conn.select('tester', 42))
        out['select_missing'] = list(await conn.select('tester', 100500))
        out['insert'] = list(await conn.insert('tester', (1000, 'fresh')))
        out['update'] = list(await conn.update('tester', 1000, [('=', 1, 'changed')]))
        try:
            await conn.insert('tester', (1000, 'again'))
        except aiotarantool.DatabaseError as exc:
            out['duplicate'] = exc.args[0]
        # 300 concurrent requests on one connection, as the benchmarks run it
        rows = await asyncio.gather(*[conn.select('tester', i % 100 + 1) for i in range(300)])
        out['concurrent'] = sorted({r[0][0] for r in rows}) == list(range(1, 101))
        await conn.close()
        print(json.dumps(out))

    if sys.argv[2] == 'uvloop':
        import uvloop
        uvloop.install()
    asyncio.run(main(int(sys.argv[1])))
    """
)


@pytest.fixture(scope="module")
def server():
    with TarantoolInstance(lua=SERVER_LUA) as tnt:
        yield tnt


def run_client(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_PYTHON), "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",  # the repo comes from the venv's .pth file, not from the cwd
    )


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_requests_against_real_tarantool(server, loop):
    server.read_greeting()  # still up
    proc = run_client(CLIENT, str(server.port), loop)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["msgpack"] == "msgpack._packer", "msgpack-python fell back to pure Python"
    assert "base64.decodestring" in out["patched"]
    assert "collections.Sequence" in out["patched"]
    assert isinstance(out["ping"], float) and out["ping"] >= 0
    assert out["call"] == [[1]]
    assert out["eval"] == [7, "x"]
    assert out["select"] == [[42, "value42"]]
    assert out["select_missing"] == []
    assert out["insert"] == [[1000, "fresh"]]
    assert out["update"] == [[1000, "changed"]]
    assert out["duplicate"] == 3  # ER_TUPLE_FOUND
    assert out["concurrent"] is True
    # the same connection's writes went through; clean up for the other loop's run
    cleanup = run_client(
        "import asyncio, sys, loadtnt.compat.aiotarantool_shim, aiotarantool\n"
        "async def m(p):\n"
        "    c = aiotarantool.connect('127.0.0.1', p)\n"
        "    await c.delete('tester', 1000)\n"
        "    await c.close()\n"
        "asyncio.run(m(int(sys.argv[1])))\n",
        str(server.port),
    )
    assert cleanup.returncode == 0, cleanup.stderr


def test_shim_patches_only_removed_names():
    """The shim adds the removed names, keeps Future untouched, and rejects a foreign loop."""
    code = textwrap.dedent(
        """
        import asyncio, base64, collections, collections.abc
        future_before = asyncio.Future
        import loadtnt.compat.aiotarantool_shim as shim
        assert asyncio.Future is future_before  # loop= still exists there: not patched
        assert collections.Mapping is collections.abc.Mapping
        assert base64.decodestring(b'YWJj\\n') == b'abc'

        async def main():
            loop = asyncio.get_running_loop()
            lock = asyncio.Lock(loop=loop)
            async with lock:
                pass
            event = asyncio.Event(loop=loop)
            event.set()
            await event.wait()
            other = asyncio.new_event_loop()
            try:
                asyncio.Lock(loop=other)
            except ValueError:
                pass
            else:
                raise AssertionError('a foreign loop was silently accepted')
            finally:
                other.close()
            assert isinstance(lock, asyncio.locks.Lock)
            assert asyncio.Future(loop=loop).get_loop() is loop

        asyncio.run(main())
        import importlib
        lock_class = asyncio.Lock
        importlib.reload(shim)  # a second application is a no-op
        assert asyncio.Lock is lock_class
        print('ok')
        """
    )
    proc = run_client(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_shim_leaves_the_test_process_alone():
    assert "loadtnt.compat.aiotarantool_shim" not in sys.modules
