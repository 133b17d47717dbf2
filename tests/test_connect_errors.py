"""connect() failures keep asynctnt's exception types, and leave nothing unretrieved.

asynctnt 2.4 raises the OS error itself for a refused connection without reconnect
(``ConnectionRefusedError``), ``socket.gaierror`` for a name that does not resolve, and
``asyncio.TimeoutError`` once retries ran out of connect_timeout; code written for it says
``except OSError:``. loadtnt raises a TarantoolNetworkError that is also an instance of each of
those (``exceptions.network_error``). EXPECTED is what asynctnt raised, one row per failure path;
``test_the_table_is_asynctnts`` runs asynctnt itself over the same rows, so the table is checked
too. Every test runs under the suite's check that asyncio logged nothing unretrieved.
"""
from __future__ import annotations

import asyncio
import errno
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests import _testbase as tb

pytestmark = tb.only_loadtnt

# Each path: the Connection's arguments (filled in by _kwargs) and the types asynctnt 2.4.0
# raised for it (observed with tests/test_connect_errors.py's test_the_table_is_asynctnts).
EXPECTED: dict[str, tuple[dict[str, Any], tuple[type, ...]]] = {
    "refused": ({"port": "free", "reconnect_timeout": 0}, (ConnectionRefusedError,)),
    "refused, retried until connect_timeout": (
        {"port": "free", "reconnect_timeout": 0.05, "connect_timeout": 0.5},
        (asyncio.TimeoutError,)),
    "no greeting within connect_timeout": (
        {"port": "silent", "reconnect_timeout": 0, "connect_timeout": 0.3},
        (asyncio.TimeoutError,)),
    "no greeting, retried": (
        {"port": "silent", "reconnect_timeout": 0.05, "connect_timeout": 0.3},
        (asyncio.TimeoutError,)),
    # asynctnt raises AssertionError('Unix socket ... not found') here, from its own check of
    # the path; loadtnt raises the OS error (FileNotFoundError, an OSError) instead: an
    # assertion is not an API, and `except OSError` is what catches the other paths.
    "unix socket missing": (
        {"host": "unix/", "port": "missing", "reconnect_timeout": 0}, (FileNotFoundError,)),
    "unix socket missing, retried": (
        {"host": "unix/", "port": "missing", "reconnect_timeout": 0.05, "connect_timeout": 0.5},
        (asyncio.TimeoutError,)),
    "wrong password": (
        {"username": "t1", "password": "wrong", "reconnect_timeout": 0},
        ("TarantoolDatabaseError",)),
    "wrong password, reconnect on": (
        {"username": "t1", "password": "wrong", "reconnect_timeout": 0.05,
         "connect_timeout": 1},
        ("TarantoolDatabaseError",)),
    "no such user, reconnect on": (
        {"username": "nobody", "password": "x", "reconnect_timeout": 0.05,
         "connect_timeout": 1},
        ("TarantoolDatabaseError",)),
}
ASYNCTNT_DIFFERS = {"unix socket missing": (AssertionError,)}

# The OS error loadtnt's error is an instance of too, beyond asynctnt's type, per path.
OS_ERROR = {
    "refused": ConnectionRefusedError,
    "refused, retried until connect_timeout": ConnectionRefusedError,
    "unix socket missing": FileNotFoundError,
    "unix socket missing, retried": FileNotFoundError,
}


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    free_port = free.getsockname()[1]
    free.close()                 # nothing listens there: refused
    silent = socket.socket()     # accepts (the kernel's backlog), never greets
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    yield {"free": free_port, "silent": silent.getsockname()[1],
           "missing": str(tmp_path_factory.mktemp("sock") / "absent.sock")}
    silent.close()


def _kwargs(tnt: Any, endpoints: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    kw = {"host": "127.0.0.1", "port": tnt.port, **spec}
    if kw["port"] in endpoints:
        kw["port"] = endpoints[kw["port"]]
    return kw


def _types(names: tuple[Any, ...], module: Any) -> tuple[type, ...]:
    return tuple(getattr(module, t) if isinstance(t, str) else t for t in names)


async def _connect_error(mod: Any, kw: dict[str, Any], outer: float = 10.0) -> BaseException:
    conn = mod.Connection(**kw)
    try:
        await asyncio.wait_for(conn.connect(), outer)
    except Exception as e:  # noqa: BLE001
        return e
    finally:
        await conn.disconnect()
    raise AssertionError(f"connected with {kw}")


@pytest.mark.parametrize("path", list(EXPECTED))
async def test_connect_error_keeps_asynctnts_type(path: str, loop: Any, tnt: Any,
                                                  endpoints: dict[str, Any]) -> None:
    spec, asynctnt_types = EXPECTED[path]
    err = await _connect_error(tb.driver, _kwargs(tnt, endpoints, spec))
    expected = _types(asynctnt_types, tb.exceptions)
    assert isinstance(err, expected), f"{path}: {type(err).__mro__}"
    if path in OS_ERROR:
        assert isinstance(err, OS_ERROR[path])
        assert isinstance(err, tb.exceptions.TarantoolNetworkError)   # for new code
        assert err.errno == (errno.ECONNREFUSED if OS_ERROR[path] is ConnectionRefusedError
                             else errno.ENOENT)
        assert "could not connect to Tarantool at" in str(err)
        assert str(endpoints["free"] if "refused" in path else endpoints["missing"]) in str(err)
        copy = pickle.loads(pickle.dumps(err))
        assert isinstance(copy, (*expected, OS_ERROR[path], tb.exceptions.TarantoolNetworkError))
        assert str(copy) == str(err) and copy.errno == err.errno
    if isinstance(err, tb.exceptions.TarantoolDatabaseError):
        assert "wrong" not in str(err) and "wrong" not in repr(err.__dict__)   # no password
    await asyncio.sleep(0.2)     # a background task that failed would be logged by now


def test_the_table_is_asynctnts(tnt: Any, endpoints: dict[str, Any]) -> None:
    """asynctnt itself over the same paths: EXPECTED is what it raises (its own retry tasks
    log unretrieved exceptions, so this runs in a loop of its own and the suite's check is
    off for it). With reconnect on, asynctnt retries past connect_timeout (which bounds one
    attempt) until the caller's own wait_for gives up: the asyncio.TimeoutError its users
    catch there is that one, which the 2 s wait_for here stands for."""
    asynctnt = pytest.importorskip("asynctnt")

    async def one(path: str, spec: dict[str, Any]) -> BaseException:
        # asynctnt's retry loop can miss the cancel of the 2 s wait_for (3.11's wait_for gives
        # up a cancel that meets the inner future's completion) and then retries for ever:
        # CI once hung here for the test's 120 s. Such an attempt is abandoned and the path
        # tried again with a new connection; a second miss fails the test.
        for _attempt in range(2):
            task = asyncio.ensure_future(_connect_error(asynctnt, _kwargs(tnt, endpoints, spec),
                                                        2.0))
            done, _ = await asyncio.wait({task}, timeout=15)
            if done:
                return task.result()
            task.cancel()
        raise AssertionError(f"asynctnt, {path}: connect() did not return twice")

    async def run() -> dict[str, BaseException]:
        return {path: await one(path, spec) for path, (spec, _) in EXPECTED.items()}

    ev_loop = asyncio.new_event_loop()
    ev_loop.set_exception_handler(lambda *_: None)
    try:
        got = ev_loop.run_until_complete(run())
    finally:
        ev_loop.close()
    for path, err in got.items():
        types = ASYNCTNT_DIFFERS.get(path) or _types(EXPECTED[path][1], asynctnt.exceptions)
        assert isinstance(err, types), f"asynctnt, {path}: {type(err).__mro__}"


test_the_table_is_asynctnts = pytest.mark.allow_loop_errors(test_the_table_is_asynctnts)


_DNS_PROBE = textwrap.dedent("""
    import asyncio, socket, sys, uvloop
    from loadtnt import driver
    from loadtnt.driver.exceptions import TarantoolNetworkError
    async def main(reconnect):
        conn = driver.Connection(host='no-such-host.invalid', port=3301,
                                 reconnect_timeout=reconnect, connect_timeout=0.5)
        try:
            await conn.connect()
        except Exception as e:
            ok = isinstance(e, (socket.gaierror, TarantoolNetworkError))
            ok = ok and isinstance(e, socket.gaierror) and isinstance(e, TarantoolNetworkError)
            ok = ok and (not reconnect or isinstance(e, asyncio.TimeoutError))
            print(type(e).__name__, ok, flush=True)
            return ok
        return False
    results = [loop_new().run_until_complete(main(r))
               for loop_new in (asyncio.new_event_loop, uvloop.new_event_loop)
               for r in (0, 0.1)]
    sys.exit(0 if all(results) else 1)
""")


def test_unresolvable_name_is_a_gaierror() -> None:
    """A name that does not resolve: socket.gaierror (an OSError), as asynctnt raises, and
    asyncio.TimeoutError too when retried. Run in a network namespace of its own, so the
    lookup fails on this machine instead of asking the configured DNS server."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--net", "true"], check=False).returncode != 0:
        pytest.skip("needs `unshare --net` (util-linux, root) to fail a lookup without DNS")
    proc = subprocess.run([unshare, "--net", sys.executable, "-c", _DNS_PROBE],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split().count("True") == 4, proc.stdout


@pytest.mark.parametrize("mode", ["connection", "pool"])
async def test_auth_failure_with_reconnect_leaves_nothing_unretrieved(
        mode: str, loop: Any, tnt: Any) -> None:
    """A wrong password with reconnect on, at connect and after a restart that changed the
    credentials (the reconnect loop's path): the errors go to the caller or the log, no
    task or future ends with an exception nobody retrieves (the loop fixture and the
    suite's asyncio-log check fail the test otherwise)."""
    kw = tb.conn_kwargs(tnt, password="wrong", reconnect_timeout=0.05, connect_timeout=0.5)
    if mode == "pool":
        pool = tb.driver.Pool([f"{tnt.host}:{tnt.port}"], username=tb.USER, password="wrong",
                              reconnect_timeout=0.05, connect_timeout=0.5)
        with pytest.raises(tb.exceptions.PoolNoCandidateError, match="down"):
            await pool.connect()
        await pool.disconnect()
    else:
        conn = tb.driver.Connection(**kw)
        with pytest.raises(tb.exceptions.TarantoolDatabaseError):
            await conn.connect()
        await conn.disconnect()
    # connected, then the credentials go wrong: the background reconnect keeps failing
    conn = tb.driver.Connection(**tb.conn_kwargs(tnt, reconnect_timeout=0.05,
                                                 connect_timeout=0.5))
    await conn.connect()
    conn._password = "wrong"
    conn._protocol.abort()
    await asyncio.sleep(0.5)     # several failed reconnects
    with pytest.raises(tb.exceptions.TarantoolNotConnectedError):
        await conn.ping()
    with pytest.raises(tb.exceptions.TarantoolDatabaseError):
        await conn.connect()
    await conn.disconnect()
    import gc
    gc.collect()
    await asyncio.sleep(0.1)
