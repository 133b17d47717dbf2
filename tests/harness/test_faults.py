"""Faults: a worker killed mid-run, Ctrl-C.  No process may be left behind."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from loadtnt import driver
from tests.harness.conftest import ROOT, loadtnt_cmd, pid_alive, read_json, write_scenario

SCENARIO = """
drivers: [asynctnt]
loops: [asyncio]
workers: 2
concurrency: 10
warmup: 0
duration: 4s
operations:
  - op: call
    function: sleep
    args: [1]
"""


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path, list[str]]:
    path = write_scenario(tmp_path, SCENARIO)
    out = tmp_path / "out.json"
    proc = subprocess.Popen(loadtnt_cmd("run", path, "--out", out, "-v", *extra), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: list[str] = []
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "workers" in line:
            break
    return proc, out, lines


def _pids(lines: list[str]) -> tuple[int | None, list[int]]:
    text = "".join(lines)
    server = re.search(r"embedded Tarantool at \S+ \(pid (\d+)\)", text)
    workers = re.search(r"workers ([\d, ]+) \(", text)
    assert workers, text
    return (int(server.group(1)) if server else None,
            [int(p) for p in workers.group(1).split(",")])


def _wait_for_load(lines: list[str], timeout: float = 30) -> None:
    """Until the embedded server has seen a call: the workers are past their start (the
    "workers" line comes right after they are spawned, before they connect), and with no
    warmup the measured window has begun."""
    where = re.search(r"embedded Tarantool at ([\d.]+):(\d+)", "".join(lines))
    assert where, lines

    async def calls() -> int:
        async with driver.Connection(host=where[1], port=int(where[2])) as c:
            return int((await c.eval("return box.stat().CALL.total"))[0])

    deadline = time.monotonic() + timeout
    while asyncio.run(calls()) == 0:
        assert time.monotonic() < deadline, "no call reached the server"
        time.sleep(0.1)


def _gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_killed_worker_is_named_and_others_kept(tmp_path: Path) -> None:
    proc, out, lines = _start(tmp_path)
    server_pid, workers = _pids(lines)
    _wait_for_load(lines)
    time.sleep(1.5)  # inside the measured window
    subprocess.run(["kill", "-KILL", str(workers[1])], check=True)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert re.search(rf"worker 1 \(pid {workers[1]}\) died during measure: killed by signal "
                     "SIGKILL", stderr), stderr
    result = read_json(out)
    [run] = result["runs"]
    assert run["workers"] == 1 and run["requests"] > 0  # worker 0's results are kept
    # the entry itself says it is incomplete, and the server's count disagrees with it
    assert run["workers_expected"] == 2
    assert any(w.startswith("incomplete: 1 of 2 workers") for w in run["warnings"]), run
    assert any(w.startswith("client and server disagree") for w in run["warnings"]), run
    assert any("SIGKILL" in w for w in result["warnings"])
    assert "call" in stdout  # the summary still printed
    assert _gone([*workers, *([server_pid] if server_pid else [])])


def test_ctrl_c_writes_partial_result_and_stops_server(tmp_path: Path) -> None:
    proc, out, lines = _start(tmp_path)
    server_pid, workers = _pids(lines)
    assert server_pid is not None
    _wait_for_load(lines)
    time.sleep(1.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 10
    result = read_json(out)
    assert result["partial"] is True
    [run] = result["runs"]
    assert run["requests"] > 0 and run["duration_s"] < 3.5
    assert any("interrupted" in w for w in run["warnings"])
    assert _gone([server_pid, *workers])


def test_ctrl_c_to_the_whole_group(tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals the process group: workers ignore it, the parent handles it."""
    proc, out, lines = _start(tmp_path)
    server_pid, workers = _pids(lines)
    _wait_for_load(lines)
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert read_json(out)["partial"] is True
    assert _gone([*([server_pid] if server_pid else []), *workers])


def test_parent_killed_leaves_nothing_behind(tmp_path: Path) -> None:
    """SIGKILL gives the harness no chance to clean up: workers and server must go by themselves."""
    proc, _, lines = _start(tmp_path)
    server_pid, workers = _pids(lines)
    assert server_pid is not None
    work_dir = Path(os.readlink(f"/proc/{server_pid}/cwd"))  # the server runs in its temp dir
    assert work_dir.name.startswith("loadtnt-tnt-") and (work_dir / "loadtnt-owner").is_file()
    time.sleep(1.0)
    proc.kill()
    proc.wait(timeout=10)
    assert _gone([server_pid, *workers], timeout=15)
    # the server's temporary directory does not outlive it (it removes it as it exits)
    assert not work_dir.exists(), sorted(p.name for p in work_dir.iterdir())


def test_orphaned_temp_dirs_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    """What a killed coordinator's server could not remove (killed too) goes at the next run:
    a dir whose owner is gone; one whose owner lives, or where a process works, stays."""
    from loadtnt.server.embedded import OWNER_FILE, mark_owner, sweep_orphans

    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / "loadtnt-tnt-orphan"
    orphan.mkdir()
    (orphan / "tarantool.log").write_text("x")
    mark_owner(str(orphan), dead.pid)
    mine = tmp_path / "loadtnt-tnt-mine"
    mine.mkdir()
    mark_owner(str(mine))
    busy = tmp_path / "loadtnt-rs-busy"
    busy.mkdir()
    mark_owner(str(busy), dead.pid)
    sleeper = subprocess.Popen(["sleep", "30"], cwd=busy)
    other = tmp_path / "not-ours"
    other.mkdir()
    (other / OWNER_FILE).write_text(f"{dead.pid} 1\n")
    try:
        removed = sweep_orphans(str(tmp_path))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert removed == [str(orphan)]
    assert not orphan.exists() and mine.is_dir() and busy.is_dir() and other.is_dir()
