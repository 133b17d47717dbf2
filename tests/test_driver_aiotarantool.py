"""The aiotarantool adapter, driven as the harness drives it: a worker under the driver's venv.

Each test starts ``python -m loadtnt.worker`` with the interpreter the adapter names
(``.venv-aiotarantool``), sends it a job and phase commands as JSON lines, and checks the phase
results against what the server itself counted (``box.stat()``, read by an independent net.box
client run with the tarantool binary).
"""
from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from loadtnt.drivers import load
from loadtnt.instance import TarantoolInstance

REPO = Path(__file__).resolve().parent.parent
Adapter = load("aiotarantool")

try:
    PYTHON = Adapter.python()
except RuntimeError as exc:  # the venv is missing
    pytestmark = pytest.mark.skip(reason=str(exc))
    PYTHON = ""

USER, PASSWORD = "bench", "s3cret-pw"

SERVER_LUA = f"""
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {{if_not_exists = true}})
box.schema.user.create('{USER}', {{password = '{PASSWORD}', if_not_exists = true}})
box.schema.user.grant('{USER}', 'read,write,execute', 'universe', nil, {{if_not_exists = true}})
local s = box.schema.space.create('tester', {{if_not_exists = true}})
s:create_index('primary', {{parts = {{1, 'unsigned'}}, if_not_exists = true}})
for i = 1, 100 do s:replace{{i, 'value' .. i}} end
function bench_call(...) return ... end
function slow() require('fiber').sleep(30) end
"""

STAT_LUA = """
local conn = require('net.box').connect('127.0.0.1:' .. arg[1])
local stat = conn:eval('local s = box.stat() local out = {} '
    .. 'for k, v in pairs(s) do out[k] = v.total end return out')
print(require('json').encode(stat))
os.exit(0)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with TarantoolInstance(lua=SERVER_LUA) as tnt:
        tnt.stat_script = tmp_path_factory.mktemp("stat") / "stat.lua"
        tnt.stat_script.write_text(STAT_LUA)
        # what one read costs (net.box's schema selects, the eval), measured once
        first = read_stat(tnt)
        second = read_stat(tnt)
        tnt.stat_cost = {k: second[k] - first[k] for k in second}
        yield tnt


def read_stat(server) -> dict[str, int]:
    out = subprocess.run(["tarantool", str(server.stat_script), str(server.port)],
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def stat_delta(server, before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Requests the server executed between two reads, less the reading itself."""
    return {k: after[k] - before[k] - server.stat_cost.get(k, 0) for k in after}


class Worker:
    """One ``loadtnt.worker`` process under the adapter's interpreter, spoken to in JSON lines."""

    def __init__(self, job: dict[str, Any]) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([PYTHON, "-m", "loadtnt.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     cwd="/", text=True)
        self.pending = b""
        self.started = time.monotonic()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.send(job)

    def send(self, msg: dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def _next_line(self, deadline: float, kind: str) -> str:
        # Raw reads into our own buffer: a buffered readline() could swallow a
        # second line that came in the same read, and select() would not say so.
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind!r} message within {deadline - self.started:.0f} s"
            if not self.sel.select(left):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                self.proc.wait(5)
                raise AssertionError(f"worker exited ({self.proc.returncode}) waiting for "
                                     f"{kind!r}: {self.proc.stderr.read()[-2000:]}")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()

    def expect(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next message of type ``kind`` (ticks are skipped); fail on an error or a death."""
        self.started = time.monotonic()
        deadline = self.started + timeout
        while True:
            msg = json.loads(self._next_line(deadline, kind))
            if msg["type"] == kind:
                return msg
            if msg["type"] == "error" and kind != "error":
                raise AssertionError(f"worker error: {msg['message']}")

    def run(self, ops: list[str], requests: int, timeout: float = 30.0,
            phase: str = "measure") -> dict[str, Any]:
        self.send({"cmd": "run", "phase": phase, "ops": ops, "requests": requests})
        return self.expect("done", timeout)

    def close(self) -> int:
        if self.proc.poll() is None:
            self.send({"cmd": "exit"})
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sel.close()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()
        return self.proc.returncode


def job(server, operations: list[dict[str, Any]], *, loop: str = "uvloop",
        concurrency: int = 50, timeout: float = 10.0, user: str | None = None,
        password: str | None = None) -> dict[str, Any]:
    return {
        "index": 0, "count": 1, "seed": 1, "driver": "aiotarantool", "loop": loop,
        "server": {"host": "127.0.0.1", "port": server.port, "user": user,
                   "password": password},
        "scenario": {"operations": operations, "connections": 1, "concurrency": concurrency,
                     "timeout": timeout},
    }


OPERATIONS = [
    {"op": "ping", "name": "ping"},
    {"op": "select", "name": "select", "space": "tester", "key": {"uniform": [1, 100]}},
    {"op": "select", "name": "select_ge", "space": "tester", "key": [50], "iterator": "GE",
     "limit": 5},
    {"op": "insert", "name": "insert", "space": "tester",
     "tuple": [{"sequential": 10_000}, {"string": 8}]},
    {"op": "insert", "name": "insert_dup", "space": "tester", "tuple": [1, "dup"]},
    {"op": "replace", "name": "replace", "space": "tester",
     "tuple": [{"uniform": [1, 100]}, "replaced"]},
    {"op": "update", "name": "update", "space": "tester", "key": {"uniform": [1, 100]},
     "operations": [["=", 1, {"string": 16}]]},
    {"op": "upsert", "name": "upsert", "space": "tester",
     "tuple": [{"sequential": 20_000}, "new"], "operations": [["=", 1, "upserted"]]},
    {"op": "delete", "name": "delete", "space": "tester", "key": {"sequential": 10_000}},
    {"op": "call", "name": "call", "function": "bench_call", "args": [1, "two"]},
    {"op": "call16", "name": "call16", "function": "bench_call"},
    {"op": "eval", "name": "eval", "expression": "return ...", "args": [{"uniform": [1, 9]}]},
]

# op name -> the box.stat() counter its requests land in
STAT_KEY = {"select": "SELECT", "select_ge": "SELECT", "insert": "INSERT", "insert_dup": "INSERT",
            "replace": "REPLACE", "update": "UPDATE", "upsert": "UPSERT", "delete": "DELETE",
            "call": "CALL", "call16": "CALL", "eval": "EVAL"}


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_every_op_counts_match_the_server(server, loop):
    worker = Worker(job(server, OPERATIONS, loop=loop))
    try:
        ready = worker.expect("ready")
        assert ready["driver_version"].startswith("1.1.5 ")
        assert "msgpack-python 0.5.6 C" in ready["driver_version"]
        n = 400
        for spec in OPERATIONS:
            name = spec["name"]
            worker.run([name], 50, phase="warmup")  # aiotarantool looks the space up once
            before = read_stat(server)
            done = worker.run([name], n)
            executed = stat_delta(server, before, read_stat(server))
            result = done["ops"][name]
            assert result["requests"] == n, name
            if name == "insert_dup":
                assert result["errors_by_kind"] == {"db:3": n}  # ER_TUPLE_FOUND
            else:
                assert result["errors"] == 0, (name, result["errors_by_kind"])
            if name in STAT_KEY:
                # what the harness reports is what the server executed
                assert executed[STAT_KEY[name]] == n, name
    finally:
        assert worker.close() == 0


def test_authenticated_connection(server):
    worker = Worker(job(server, OPERATIONS[:2], user=USER, password=PASSWORD))
    try:
        worker.expect("ready")
        done = worker.run(["ping", "select"], 200)
        assert sum(op["requests"] for op in done["ops"].values()) == 200
        assert all(op["errors"] == 0 for op in done["ops"].values())
    finally:
        assert worker.close() == 0


def test_wrong_password_is_reported_without_the_password(server):
    worker = Worker(job(server, OPERATIONS[:1], user=USER, password="wrong-pw-123"))
    try:
        error = worker.expect("error")
        assert "wrong-pw-123" not in error["message"]
        assert "Incorrect password" in error["message"] or "DatabaseError" in error["message"]
    finally:
        worker.close()


def test_stalled_requests_time_out_and_the_connection_recovers(server):
    operations = [{"op": "call", "name": "slow", "function": "slow"}, OPERATIONS[0]]
    worker = Worker(job(server, operations, concurrency=3, timeout=0.3))
    try:
        worker.expect("ready")
        t0 = time.monotonic()
        done = worker.run(["slow"], 6)
        assert time.monotonic() - t0 < 10  # each request ends within 1-2 x the timeout
        assert done["ops"]["slow"]["errors_by_kind"] == {"timeout": 6}
        done = worker.run(["ping"], 300)  # aiotarantool reconnects on demand
        assert done["ops"]["ping"]["errors"] == 0
        assert done["ops"]["ping"]["requests"] == 300
    finally:
        assert worker.close() == 0


def test_unsupported_op_is_rejected_before_the_load(server):
    operations = [{"op": "execute", "name": "sql", "query": "SELECT 1"}]
    worker = Worker(job(server, operations))
    try:
        error = worker.expect("error")
        assert "cannot send 'execute'" in error["message"]
    finally:
        worker.close()


@pytest.mark.parametrize(("given", "number"), [("GE", 5), ("ge", 5), (2, 2), ("ALL", 2)])
def test_iterator_names(given, number):
    from loadtnt.drivers.aiotarantool import iterator_number

    assert iterator_number(given) == number


def test_unknown_iterator():
    from loadtnt.drivers.aiotarantool import iterator_number

    with pytest.raises(ValueError, match="unknown iterator"):
        iterator_number("SIDEWAYS")
