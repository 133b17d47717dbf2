"""``loadtnt run --cluster``: a real ``dask scheduler`` and two ``dask worker --nthreads 1``
started with the ``dask`` CLI on 127.0.0.1, the load through them against a real Tarantool.

Counts equal the server's, a killed Dask worker is named and the rest kept, Ctrl-C leaves no
load running.  Refusals before the run (versions, clocks, no ``distributed``) without a cluster.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from loadtnt.runner.cluster import (
    Clock,
    ClusterError,
    DaskWorker,
    check_clocks,
    compare_versions,
)
from loadtnt.server.embedded import EmbeddedServer
from tests.harness.conftest import (
    ROOT,
    loadtnt_cmd,
    read_json,
    run_loadtnt,
    write_scenario,
)

DASK = str(Path(sys.executable).with_name("dask"))
HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        self.address = f"tcp://{HOST}:{_free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []
        # the workers import this checkout (its tasks and workers are the code under test)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def _spawn(self, *args: str) -> None:
        self.procs.append(subprocess.Popen([DASK, *args], cwd=ROOT, env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))

    def start(self) -> Cluster:
        port = self.address.rsplit(":", 1)[1]
        self._spawn("scheduler", "--host", HOST, "--port", port, "--no-dashboard")
        for name in ("w0", "w1"):
            self._spawn("worker", self.address, "--nthreads", "1", "--host", HOST,
                        "--no-dashboard", "--name", name)
        self.client = distributed.Client(self.address, timeout=30)
        self.client.wait_for_workers(2, timeout=60)
        return self

    def worker_pid(self, name: str) -> tuple[str, int]:
        """The Dask worker process named ``name`` (under its nanny): its address and pid."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        [address] = [a for a, w in info.items() if w["name"] == name]
        return address, self.client.run(os.getpid, workers=[address])[address]

    def stop(self) -> None:
        self.client.close()
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(memtx_memory=128 << 20) as srv:
        yield srv


def _eval(srv: EmbeddedServer, lua: str) -> Any:
    import asynctnt

    async def go() -> Any:
        async with asynctnt.Connection(host=srv.host, port=srv.port) as c:
            return (await c.eval(lua))[0]
    return asyncio.run(go())


COUNTED = """
drivers: [loadtnt]
loops: [uvloop]
workers: 2
concurrency: 20
before: counted_reset()
operations:
  - op: call
    function: counted
"""


def _run(tmp_path: Path, srv: EmbeddedServer, cluster: Cluster, extra: str,
         in_file: bool = False) -> dict[str, Any]:
    """``in_file``: the scenario's ``cluster:`` names the scheduler, else ``--cluster``."""
    text = COUNTED + extra + (f"cluster: {cluster.address}\n" if in_file else "")
    flag = () if in_file else ("--cluster", cluster.address, "--listen", HOST)
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", write_scenario(tmp_path, text), "--server",
                       f"{srv.host}:{srv.port}", *flag, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return read_json(out)


def _check_counts(result: dict[str, Any], srv: EmbeddedServer) -> dict[str, Any]:
    [run] = result["runs"]
    [window] = result["server"]
    assert run["errors"] == 0 and run["workers"] == 2
    assert run["requests"] == window["delta"]["CALL"]
    # every host and its share: here both Dask workers are on this machine
    hosts = result["environment"]["cluster"]["hosts"]
    assert [h["name"] for h in hosts] == list(run["hosts"])
    assert {w["name"] for w in hosts[0]["dask_workers"]} == {"w0", "w1"}
    assert abs(hosts[0]["clock_offset_ms"]) < 50 and hosts[0]["loadtnt_version"]
    assert sum(h["requests"] for h in run["hosts"].values()) == run["requests"]
    return run


def test_closed_loop_count_equals_the_servers(tmp_path: Path, server: EmbeddedServer,
                                              cluster: Cluster) -> None:
    result = _run(tmp_path, server, cluster, "warmup: 0\nrequests: 3001\n", in_file=True)
    assert result["scenario"]["cluster"] == cluster.address
    run = _check_counts(result, server)
    assert run["requests"] == 3001 == _eval(server, "return counted_total()")


def test_open_loop_count_equals_the_servers(tmp_path: Path, server: EmbeddedServer,
                                            cluster: Cluster) -> None:
    result = _run(tmp_path, server, cluster, "warmup: 0.5s\nduration: 1.5s\nrate: 2000\n")
    run = _check_counts(result, server)
    assert 0.9 * 3000 <= run["requests"] <= 1.1 * 3000  # the rate held, split over two hosts'
    assert "service_histogram" in run


LONG = COUNTED + "warmup: 0\nduration: 20s\n"


def _start_long(tmp_path: Path, srv: EmbeddedServer, cluster: Cluster
                ) -> tuple[subprocess.Popen[str], Path]:
    _eval(srv, "return counted_reset()")
    out = tmp_path / "out.json"
    proc = subprocess.Popen(loadtnt_cmd("run", write_scenario(tmp_path, LONG), "--server",
                                        f"{srv.host}:{srv.port}", "--cluster", cluster.address,
                                        "--out", out),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while _eval(srv, "return counted_total()") < 1000:  # the load is running
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    return proc, out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_no_remote_load_outlives_the_coordinator(tmp_path: Path, server: EmbeddedServer,
                                                 cluster: Cluster, sig: signal.Signals) -> None:
    """Ctrl-C, and a coordinator that dies without a word: the remote workers stop at once."""
    proc, out = _start_long(tmp_path, server, cluster)
    proc.send_signal(sig)
    # the load stops (within ~1 s; 5 s for a loaded machine): the count holds for 0.5 s
    deadline = time.monotonic() + 5
    stopped = _eval(server, "return counted_total()")
    while True:
        time.sleep(0.5)
        now = _eval(server, "return counted_total()")
        if now == stopped:
            break
        assert time.monotonic() < deadline, "the remote load went on after the coordinator"
        stopped = now
    _, stderr = proc.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, stderr
        result = read_json(out)
        assert result["partial"] is True and result["runs"][0]["requests"] > 0
    deadline = time.monotonic() + 10  # and the Dask tasks are gone too
    while any(cluster.client.processing().values()):
        assert time.monotonic() < deadline, cluster.client.processing()
        time.sleep(0.1)


def test_killed_dask_worker_is_named_and_others_kept(tmp_path: Path, server: EmbeddedServer,
                                                     cluster: Cluster) -> None:
    address, pid = cluster.worker_pid("w1")
    proc, out = _start_long(tmp_path, server, cluster)
    os.kill(pid, signal.SIGKILL)
    seen = []  # until the coordinator has named the death (it asks the scheduler, up to 1 s)
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if "died during measure" in line:
            break
    proc.send_signal(signal.SIGINT)  # the rest of the window is not needed
    _, rest = proc.communicate(timeout=30)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stderr
    result = read_json(out)
    [run] = result["runs"]
    assert run["workers"] == 1 and run["workers_expected"] == 2 and run["requests"] > 0
    dead = [w for w in result["warnings"] if "died during measure" in w]
    assert len(dead) == 1, result["warnings"]
    host = result["environment"]["cluster"]["hosts"][0]["name"]
    assert re.search(rf"worker \d on {re.escape(host)} \(Dask worker w1 at {re.escape(address)}\) "
                     "died during measure: its Dask worker .* died", dead[0]), dead[0]


# --- refused before the run, no cluster needed -------------------------------------------


def _worker(**info: Any) -> DaskWorker:
    base = {"hostname": "hostB", "loadtnt_version": "0.1.0", "driver_version": "0.1.0",
            "protocol": 1, "drivers": {"loadtnt": "0.1.0"}}
    return DaskWorker("tcp://10.0.0.2:4000", "w", 1, {**base, **info})


def test_a_version_mismatch_is_refused_naming_both() -> None:
    local = {"loadtnt_version": "0.1.0", "driver_version": "0.1.0", "protocol": 1,
             "drivers": {"loadtnt": "0.1.0"}}
    compare_versions(local, [_worker()])
    with pytest.raises(ClusterError, match=r"host hostB \(Dask worker tcp://10.0.0.2:4000\) "
                       r"runs loadtnt 0.2.0 but this coordinator runs loadtnt 0.1.0"):
        compare_versions(local, [_worker(loadtnt_version="0.2.0")])
    with pytest.raises(ClusterError, match="runs loadtnt.driver 0.0.9 but .* 0.1.0"):
        compare_versions(local, [_worker(driver_version="0.0.9")])


def test_a_clock_offset_over_a_tenth_of_the_warmup_names_the_host() -> None:
    w = _worker()
    w.clock = Clock(offset_s=0.15, rtt_s=0.001)
    check_clocks([w], limit_s=0.2, warmup_s=2.0)
    with pytest.raises(ClusterError, match=r"host hostB .*\+150.0 ms off .* warm-up \(1 s\)"):
        check_clocks([w], limit_s=0.1, warmup_s=1.0)


def test_without_distributed_cluster_says_how_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['distributed'] = None; from loadtnt.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    path = write_scenario(tmp_path, COUNTED + "requests: 10\n")
    proc = subprocess.run([sys.executable, "-c", code, "run", str(path), "--cluster",
                           "tcp://127.0.0.1:1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 2
    assert "pip install 'loadtnt[cluster]'" in proc.stderr
    assert not list(tmp_path.glob("*.json"))


def test_a_loopback_server_is_refused_for_other_hosts() -> None:
    """From another host 127.0.0.1 is that host: its worker is refused, naming why."""
    from loadtnt.runner.cluster import DaskExecutor, RemoteProc
    from loadtnt.scenario.model import Operation, Scenario

    async def go() -> tuple[RemoteProc, Any]:
        sc = Scenario(name="s", operations=(Operation(op="ping", name="ping"),))
        executor = DaskExecutor(sc, "tcp://10.0.0.9:8786")
        events: asyncio.Queue[Any] = asyncio.Queue()
        w = _worker()
        w.clock = Clock(offset_s=0.0, rtt_s=0.001)
        proc = RemoteProc(0, w, executor, events, key="1-0")
        await proc.start({"driver": "loadtnt", "server": {"host": "127.0.0.1", "port": 3301}})
        return proc, await asyncio.wait_for(events.get(), 5)

    proc, (who, msg) = asyncio.run(go())
    assert who is proc and msg is None and not proc.alive and proc.future is None
    assert proc.reason is not None and "loopback address, which on hostB" in proc.reason
