"""Every Python and shell block of README.md runs, against real servers, on the version it needs.

Each block is found by its first line (:data:`RUNNERS`); a block README gains without a runner
here fails :func:`test_every_block_has_a_runner`. The servers run README's own example script (its
``lua`` block). What differs from typing a block in is written next to its runner: the ports (free
ones instead of 3301, 3302, 8080, ...), output paths in a temporary directory, and, for the
benchmark commands, flags that make them short (one driver, one loop, a fraction of a second).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from loadtnt.server import ReplicaSet

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(REPO.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"))
HAS_38 = os.access(T38, os.X_OK)
needs_38 = pytest.mark.skipif(not HAS_38, reason=f"needs Tarantool 3.x at {T38}")
PASSWORD = "readme-example-pw"
BIN = Path(sys.executable).parent  # `loadtnt` of this venv


def blocks(lang: str) -> list[str]:
    """README's ``lang`` blocks, dedented (a block inside a list item is indented)."""
    out = []
    for m in re.finditer(r"^( *)```" + lang + r"\n(.*?)^\1```", README, re.MULTILINE | re.DOTALL):
        out.append(textwrap.dedent(m.group(2)))
    return out


def block(first: str) -> str:
    (found,) = [b for b in blocks("python") + blocks("sh") if b.startswith(first)]
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def example_lua(tmp_path_factory: pytest.TempPathFactory) -> Path:
    (lua,) = blocks("lua")
    path = tmp_path_factory.mktemp("example") / "example.lua"
    path.write_text(lua)
    return path


class ScriptServer:
    """``LISTEN=<port> tarantool example.lua``, as README starts it (in a directory of its own)."""

    def __init__(self, script: Path, binary: str, workdir: Path) -> None:
        self.script, self.binary, self.workdir = script, binary, workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ScriptServer:
        env = {**os.environ, "LISTEN": str(self.port), "APP_PASSWORD": PASSWORD}
        self.proc = subprocess.Popen([self.binary, str(self.script)], cwd=self.workdir, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"{self.binary} {self.script} exited"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as c:
                    if c.recv(128).startswith(b"Tarantool"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the example server did not start"
            time.sleep(0.05)
        time.sleep(0.2)  # listen comes with box.cfg: let the script's schema part finish
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def srv26(example_lua: Path, tmp_path: Path) -> Iterator[ScriptServer]:
    (tmp_path / "s26").mkdir()
    s = ScriptServer(example_lua, os.environ.get("TARANTOOL") or "tarantool", tmp_path / "s26")
    try:
        yield s.start()
    finally:
        s.stop()


@pytest.fixture
def srv38(example_lua: Path, tmp_path: Path) -> Iterator[ScriptServer]:
    if not HAS_38:
        pytest.skip(f"needs Tarantool 3.x at {T38}")
    (tmp_path / "s38").mkdir()
    s = ScriptServer(example_lua, T38, tmp_path / "s38")
    try:
        yield s.start()
    finally:
        s.stop()


def run_python(code: str, *, cwd: Path = REPO, timeout: float = 120,
               **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APP_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env, **kw)


def fragment(code: str, port: int, *, prelude: str = "") -> str:
    """A block that is not a whole program, as README says it runs: in ``async def main()``,
    with ``conn`` connected (and ``os`` imported)."""
    return ("import asyncio, os\nfrom loadtnt import driver\n\nasync def main():\n"
            f"    conn = driver.Connection(host='127.0.0.1', port={port})\n"
            "    await conn.connect()\n" + textwrap.indent(prelude, "    ")
            + textwrap.indent(code.replace("port=3301", f"port={port}"), "    ")
            + "\n    await conn.disconnect()\n\nasyncio.run(main())\n")


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


# --- the Python blocks --------------------------------------------------------------------------

def py_driver(srv26: ScriptServer) -> None:
    code = block("import asyncio\nfrom loadtnt import driver")
    assert "port=3301" in code
    out = ok(run_python(code.replace("port=3301", f"port={srv26.port}")))
    assert out.split() == ["hello1", "10"]


def py_replicaset(example_lua: Path, tmp_path: Path) -> None:
    code = block("from loadtnt.server import ReplicaSet")
    shutil.copy(example_lua, tmp_path / "example.lua")
    proc = run_python(code, cwd=tmp_path, input="\n")
    endpoints = json.loads(ok(proc).splitlines()[0].replace("'", '"'))
    assert len(endpoints) == 2 and all(re.fullmatch(r"127\.0\.0\.1:\d+", e) for e in endpoints)


def py_streams(srv38: ScriptServer) -> None:
    code = block("async with conn.stream() as s:")
    ok(run_python(fragment(code, srv38.port)))
    # committed: a new connection sees both rows
    check = fragment("print([list(t) for t in await conn.select('tester', [101], "
                     "iterator='GE')])", srv38.port)
    assert ok(run_python(check)).strip() == "[[101, 'one'], [102, 'two']]"


def py_push(srv26: ScriptServer) -> None:
    out = ok(run_python(fragment(block("fut = conn.call('produce'"), srv26.port)))
    # each push as it came (a push's body is a list), then the final reply
    assert out.strip().splitlines() == [f"[{i}]" for i in range(1, 11)] + ["[10]"]


def py_watchers(srv38: ScriptServer) -> None:
    prelude = "await conn.eval(\"box.broadcast('app.config', {mode = 'rw'})\")\n"
    out = ok(run_python(fragment(block("def on_config(key, value):\n    print(key, value)"),
                                 srv38.port, prelude=prelude)))
    assert out.strip().splitlines()[-1] == "{'mode': 'rw'}"  # watch_once: the current value


def py_shutdown(srv38: ScriptServer) -> None:
    # 3.x: 2.6 announces no shutdown
    code = block("conn = driver.Connection(host='127.0.0.1', port=3301, reconnect_timeout=0.1)")
    proc = subprocess.Popen([sys.executable, "-c", fragment(code, srv38.port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # some of the 2,000 calls of 5 ms are done
    srv38.stop()     # SIGTERM: the server announces its shutdown ...
    srv38.start()    # ... and starts again (the same port)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err  # no call failed
    assert out.split() == ["1", "1"], out + err


def py_pages(srv38: ScriptServer) -> None:
    prelude = ("for i in range(1, 1201):\n"
               "    await conn.insert('tester', [i, 'name{:04}'.format(i)])\n")
    out = ok(run_python(fragment(block("async for page in conn.pages("), srv38.port,
                                 prelude=prelude)))
    rows = out.strip().splitlines()
    assert len(rows) == 1200 and rows[0] == "1 name0001" and rows[-1] == "1200 name1200"


def _pool_fragment(code: str, rs: ReplicaSet) -> str:
    code = code.replace("'127.0.0.1:3301'", repr(rs.endpoints[0]))
    code = code.replace("'127.0.0.1:3302'", repr(rs.endpoints[1]))
    return fragment(code, rs.ports[0])


def py_pool(example_lua: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_PASSWORD", PASSWORD)  # the members run the script with it
    code = block("secret = os.environ['APP_PASSWORD']")
    with ReplicaSet(2, init_script=example_lua) as rs:
        out = ok(run_python(_pool_fragment(code, rs))).strip().splitlines()
    assert re.fullmatch(r"<Response sync=\d+ rowcount=1 data=\[<TarantoolTuple id=1 "
                        r"name='one'>\]>", out[0]), out
    assert out[-1] == repr({rs.endpoints[0]: "rw", rs.endpoints[1]: "ro"})


def py_pool_watch(example_lua: Path) -> None:
    if not HAS_38:
        pytest.skip(f"needs Tarantool 3.x at {T38} (watchers: 2.10+)")
    code = block("def on_config(key, value, endpoint):")
    with ReplicaSet(2, init_script=example_lua, binary=T38) as rs:
        rs.eval(0, "box.broadcast('app.config', 'v1')")
        tail = ("\npool = driver.Pool([{!r}, {!r}])\nawait pool.connect()\n".format(*rs.endpoints)
                + code + "\nawait asyncio.sleep(1)\nprint(watcher.endpoints)\n"
                "await pool.disconnect()\n")
        out = ok(run_python(fragment(tail, rs.ports[0]))).strip().splitlines()
    assert f"{rs.endpoints[0]} now has v1" in out  # the master's current value, at once
    assert out[-1] == repr([rs.endpoints[0]])       # 'rw': on the master only


POOL_CONFIG = """\
credentials:
  users:
    client: {password: '%(pw)s', roles: [super]}
groups:
  routers:
    labels: {dc: east}
    replicasets:
      r1: {instances: {router-1: {iproto: {listen: [{uri: '127.0.0.1:%(p1)d'}]}}}}
      r2: {instances: {router-2: {iproto: {listen: [{uri: '127.0.0.1:%(p2)d'}]}}}}
  storages:
    replicasets:
      s1: {instances: {storage-1: {iproto: {listen: [{uri: '127.0.0.1:%(p3)d'}]}}}}
"""


def py_pool_config(tmp_path: Path) -> None:
    # the block runs where its config.yaml is: two routers of it started (the storage group
    # it does not select stays down)
    if not HAS_38:
        pytest.skip(f"needs Tarantool 3.x at {T38} (a cluster config)")
    code = block("# config.yaml: a Tarantool 3 cluster config")
    ports = {"p1": free_port(), "p2": free_port(), "p3": free_port()}
    (tmp_path / "config.yaml").write_text(POOL_CONFIG % {**ports, "pw": PASSWORD})
    procs = [subprocess.Popen([T38, "--name", name, "--config", "config.yaml"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for name in ("router-1", "router-2")]
    try:
        for port in (ports["p1"], ports["p2"]):
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                        if c.recv(128).startswith(b"Tarantool"):
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "the routers did not start"
                time.sleep(0.05)
        time.sleep(0.5)  # the config's user is created once box.cfg has run
        out = ok(run_python(fragment(code, ports["p1"]), cwd=tmp_path)).strip().splitlines()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    eps = [f"127.0.0.1:{ports['p1']}", f"127.0.0.1:{ports['p2']}"]
    assert out[0] == repr({eps[0]: "rw", eps[1]: "rw"})
    assert out[1:] == [f"{eps[0]} router-1 r1 {{'dc': 'east'}}",
                       f"{eps[1]} router-2 r2 {{'dc': 'east'}}"]


def py_tuple_extension(srv38: ScriptServer) -> None:
    prelude = "await conn.replace('tester', [1, 'one'])\n"
    out = ok(run_python(fragment(block("conn = driver.Connection(port=3301, fetch_schema=False"),
                                 srv38.port, prelude=prelude)))
    assert out.strip() == "one {'id': 1, 'name': 'one'}"


# --- the shell blocks ---------------------------------------------------------------------------

def sh(script: str, *, cwd: Path, timeout: float = 300,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=full)


QUICK = "--drivers loadtnt --loops uvloop --warmup 0 --duration 0.3s"


def sh_make() -> None:
    # `make bench` (10 min) and `make test` (15 min) are what CI runs; here: the targets exist
    # and expand (make -n: nothing is run)
    code = block("make bench   #")
    for line in code.splitlines():
        target = line.split("#")[0].split()
        assert target[0] == "make"
        ok(subprocess.run([*target, "-n"], cwd=REPO, capture_output=True, text=True, check=False,
                          timeout=60))


def sh_installed() -> None:
    pytest.skip("run from the wheel by tests/packaging/test_installed.py::"
                "test_readme_install_block_runs_as_written")


def sh_live(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    pytest.importorskip("prometheus_client")
    pytest.importorskip("plotly")
    pushes: list[str] = []

    class Gateway(BaseHTTPRequestHandler):  # a Pushgateway's API: PUT/POST /metrics/job/...
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            pushes.append(self.path + "\n" + body)
            self.send_response(200)
            self.end_headers()

        do_POST = do_PUT

        def log_message(self, *args: object) -> None:
            pass

    gateway = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    try:
        script = block("loadtnt run seed --dashboard 8080")
        for old in ("8080", "9464"):
            script = script.replace(f" {old} ", f" {free_port()} ")
        script = script.replace("http://127.0.0.1:9091", f"http://127.0.0.1:"
                                f"{gateway.server_address[1]}")
        script = script.replace("--linger 120", "--linger 0.5")
        script = re.sub(r"(loadtnt run seed)", rf"\1 {QUICK} --trials 1 --out run.json", script)
        out = sh(script, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "http://127.0.0.1:" in out.stderr  # the dashboard's and /metrics' addresses
        assert any("/metrics/job/loadtnt/scenario@base64/" in p and "loadtnt_requests_total" in p
                   for p in pushes)
    finally:
        gateway.shutdown()


def sh_capacity(tmp_path: Path) -> None:
    script = block("loadtnt capacity docs/capacity/slow-call.yaml")
    script = script.replace("--out docs/capacity/slow-call.json", f"--out {tmp_path}/sc.json")
    out = sh(script.replace("\\\n", " "), cwd=REPO, timeout=300)
    assert out.returncode in (0, 3), out.stdout + out.stderr  # 3: the client was the limit
    assert re.search(r"^capacity: ", out.stdout, re.MULTILINE), out.stdout
    assert (tmp_path / "sc.json").is_file()


def sh_cluster(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    script = block("dask scheduler")
    port = free_port()
    lines = [ln.split("#")[0].strip() for ln in script.splitlines()]
    assert lines[0] == "dask scheduler" and lines[1].startswith("dask worker tcp://10.0.0.9:8786")
    procs = []
    try:
        procs.append(subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port",
                                       str(port), "--no-dashboard"], env={
            **os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        worker = lines[1].replace("tcp://10.0.0.9:8786", f"tcp://127.0.0.1:{port}")
        worker = worker.replace("--nworkers 4", "--nworkers 2")  # a 2-core machine
        procs.append(subprocess.Popen([*worker.split(), "--no-dashboard"], env={
            **os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        run = lines[2].replace("tcp://10.0.0.9:8786", f"tcp://127.0.0.1:{port}")
        run = run.replace("--workers 8", "--workers 2")
        run += f" {QUICK} --trials 1 --out {tmp_path}/c.json"
        deadline = time.monotonic() + 60
        while True:  # until the Dask workers have joined
            out = sh(run, cwd=REPO, timeout=180)
            if out.returncode == 0 or time.monotonic() > deadline or "threads" not in out.stderr:
                break
            time.sleep(1)
        assert out.returncode == 0, out.stdout + out.stderr
        data = json.loads((tmp_path / "c.json").read_text())
        assert data["environment"]["cluster"]["hosts"]
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)


def sh_check(tmp_path: Path) -> None:
    script = block("loadtnt run scenarios/seed.yaml --trials 6")
    quick = "--drivers loadtnt,asynctnt --loops uvloop --warmup 0 --duration 0.2s"
    (tmp_path / "results").mkdir()
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    script = script.replace("--out results/new.json", f"{quick} --out results/new.json")
    base = script.splitlines()[0].replace("results/new.json", "results/baseline.json")
    assert sh(base, cwd=tmp_path).returncode == 0
    run, check = script.strip().splitlines()
    out = sh(f"{run}\nset +e\n{check}\necho exit=$?", cwd=tmp_path)
    # the gate ran and decided, or said why it could not (0 pass, 1 regression, 3 undecided)
    code = re.search(r"exit=(\d+)", out.stdout)
    assert code and int(code.group(1)) in (0, 1, 3), out.stdout + out.stderr
    assert "ping" in out.stdout and "loadtnt" in out.stdout


def sh_thresholds(tmp_path: Path) -> None:
    script = block("loadtnt run scenarios/my.yaml")
    thresholds = next(b for b in blocks("yaml") if b.startswith("thresholds:"))
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "scenarios/my.yaml").write_text(textwrap.dedent("""
        drivers: [loadtnt]
        warmup: 0
        duration: 0.5s
        before: prepare(1000)
        operations:
          - {op: select, space: tester, key: {uniform: [1, 1000]}}
          - {op: update, space: tester, key: {uniform: [1, 1000]}, operations: [['=', 2, 'x']]}
        """) + thresholds)
    base = script.splitlines()[0].split("#")[0].replace("results/new.json",
                                                          "results/baseline.json")
    assert sh(base + " || test $? = 99", cwd=tmp_path).returncode == 0
    run, check = script.strip().splitlines()
    out = sh(f"set +e\n{run}\necho run=$?\n{check}\necho check=$?", cwd=tmp_path)
    assert "thresholds:" in out.stdout, out.stdout + out.stderr  # the table and its verdict
    # 99 when a threshold is breached (a busy machine breaches p99 < 2ms), as the comment says
    ran = re.search(r"^run=(\d+)$", out.stdout, re.MULTILINE)
    assert ran and ran.group(1) in ("0", "99"), out.stdout + out.stderr
    assert ("BREACHED" in out.stdout) == (ran.group(1) == "99")
    assert re.search(r"^check=[013]$", out.stdout, re.MULTILINE), out.stdout + out.stderr


def py_sharded() -> None:
    # as written: the modules from ../shared/tarantool-modules beside the checkout (or
    # $LOADTNT_TARANTOOL_MODULES), the server `tarantool` on PATH
    out = ok(run_python(block("from loadtnt.server import ShardedCluster"), timeout=300))
    lines = out.strip().splitlines()
    endpoints = json.loads(lines[0].replace("'", '"'))
    assert len(endpoints) == 2 and all(re.fullmatch(r"127\.0\.0\.1:\d+", e) for e in endpoints)
    assert lines[1] == "[1500, 1500]", out


def py_crud() -> None:
    # the block in `async def main()`, with `cluster` a ShardedCluster of the README's shape
    code = ("import asyncio\nfrom loadtnt.server import ShardedCluster\n\n"
            "async def main():\n"
            + textwrap.indent(block("from loadtnt.driver import Connection, CrudError"), "    ")
            + "\nwith ShardedCluster(shards=2, replicas=2, routers=2) as cluster:\n"
            "    asyncio.run(main())\n")
    lines = ok(run_python(code, timeout=300)).strip().splitlines()
    assert lines[0] == "1 Elizabeth", lines
    assert lines[1].startswith("InsertError ") and "Duplicate key" in lines[1], lines
    assert re.fullmatch(r"1 \[\[1, \d+, 'b', 2\]\]", lines[2]), lines


# --- issue 24: the performance history's block ---------------------------------------------

def sh_history(tmp_path: Path) -> None:
    # as written, less the pip line (the test extra has the history extra) and with a short run;
    # one run in the history: `check` cannot decide yet (3), every other line exits 0
    pytest.importorskip("otava.analysis")
    lines = [x for x in block("pip install 'loadtnt[history]'").strip().splitlines()
             if not x.startswith("pip install")]
    lines = [x.replace("--trials 5", f"--trials 2 {QUICK}") for x in lines]
    (tmp_path / "results").mkdir()
    out = sh("set +e\n" + "\n".join(f"{x}\necho exit=$?" for x in lines), cwd=tmp_path)
    codes = [int(c) for c in re.findall(r"^exit=(\d+)$", out.stdout, re.MULTILINE)]
    assert codes == [0, 0, 0, 0, 0, 3, 0, 0], out.stdout + out.stderr
    assert "CANNOT DECIDE" in out.stdout and "fewer than 8" in out.stdout
    html = (tmp_path / "results/report/report.html").read_text()
    assert html.count("data-chart='trend-") == 6  # seed's six ops, one driver and loop
    assert (tmp_path / "results/otava.yaml").is_file()

# --- end of issue 24 ------------------------------------------------------------------------


def sh_sharded(tmp_path: Path) -> None:
    # as written, shortened (a sub-second window, no warm-up); the 3.x server is 3.8 from
    # ../shared (what the built-in scenario finds in a checkout; named here for other places)
    if not HAS_38:
        pytest.skip(f"the built-in scenario `sharded` needs Tarantool 3.x: 3.8 is not at {T38}")
    script = block("loadtnt run sharded --out results/sharded.json")
    run, report = [ln.split("#")[0].strip() for ln in script.strip().splitlines()]
    (tmp_path / "results").mkdir()
    out = sh(f"{run} --warmup 0 --duration 0.5s\n{report}", cwd=tmp_path, timeout=300,
             env={"LOADTNT_TARANTOOL_3": T38})
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"routers' CALL router-1 [\d,]+ \+ router-2 [\d,]+ = ([\d,]+) \(the "
                     r"harness's crud and call requests: \1, equal\)", out.stdout), out.stdout
    assert (tmp_path / "report" / "storages.png").is_file()


# block's first line -> how it runs
RUNNERS: dict[str, Callable[..., None]] = {
    "import asyncio\nfrom loadtnt import driver": py_driver,
    "from loadtnt.server import ReplicaSet": py_replicaset,
    "async with conn.stream() as s:": py_streams,
    "fut = conn.call('produce'": py_push,
    "def on_config(key, value):\n    print(key, value)": py_watchers,
    "conn = driver.Connection(host='127.0.0.1', port=3301, reconnect_timeout=0.1)": py_shutdown,
    "async for page in conn.pages(": py_pages,
    "secret = os.environ['APP_PASSWORD']": py_pool,
    "def on_config(key, value, endpoint):": py_pool_watch,
    "# config.yaml: a Tarantool 3 cluster config": py_pool_config,
    "from loadtnt.server import ShardedCluster": py_sharded,
    "from loadtnt.driver import Connection, CrudError": py_crud,
    "conn = driver.Connection(port=3301, fetch_schema=False": py_tuple_extension,
    "make bench   #": sh_make,
    "python -m venv /tmp/lt": sh_installed,
    "loadtnt run seed --dashboard 8080": sh_live,
    "loadtnt capacity docs/capacity/slow-call.yaml": sh_capacity,
    "dask scheduler": sh_cluster,
    "loadtnt run scenarios/seed.yaml --trials 6": sh_check,
    "loadtnt run scenarios/my.yaml": sh_thresholds,
    "pip install 'loadtnt[history]'": sh_history,  # issue 24
    "loadtnt run sharded --out results/sharded.json": sh_sharded,
}


def test_every_block_has_a_runner() -> None:
    found = blocks("python") + blocks("sh")
    for b in found:
        assert sum(b.startswith(k) for k in RUNNERS) == 1, f"no runner for README block:\n{b}"
    assert len(found) == len(RUNNERS)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("first", list(RUNNERS), ids=[f.__name__ for f in RUNNERS.values()])
def test_readme_block(first: str, request: pytest.FixtureRequest) -> None:
    runner = RUNNERS[first]
    import inspect

    args = {name: request.getfixturevalue(name)
            for name in inspect.signature(runner).parameters}
    runner(**args)
