"""Live progress: per-second lines on a terminal, silence otherwise."""
from __future__ import annotations

import os
import pty
import subprocess
import time
from pathlib import Path

from loadtnt.server.embedded import EmbeddedServer
from tests.harness.conftest import ROOT, loadtnt_cmd, run_loadtnt, write_scenario

SCENARIO = """
drivers: [asynctnt]
loops: [asyncio]
concurrency: 5
warmup: 0
duration: 2.5s
operations:
  - op: ping
"""


def test_progress_on_a_terminal(tmp_path: Path, bench_server: EmbeddedServer) -> None:
    path = write_scenario(tmp_path, SCENARIO)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        loadtnt_cmd("run", path, "--server", f"{bench_server.host}:{bench_server.port}",
                    "--out", tmp_path / "out.json"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 4096)
        except OSError:  # the pty closed: the process ended
            break
        if not data:
            break
        chunks.append(data.decode(errors="replace"))
    proc.wait(timeout=30)
    os.close(master)
    text = "".join(chunks)
    assert proc.returncode == 0, text
    assert "req/s" in text and "p99" in text and "errors 0" in text, text


def test_quiet_without_a_terminal(tmp_path: Path, bench_server: EmbeddedServer) -> None:
    path = write_scenario(tmp_path, SCENARIO.replace("2.5s", "1.2s"))
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--server", f"{bench_server.host}:{bench_server.port}",
                       "--out", out)
    assert proc.returncode == 0
    assert "req/s" not in proc.stderr
    # (on a shared machine, the warning that others used the CPU is expected and right)
    lines = [ln for ln in proc.stderr.splitlines() if "the machine was busy" not in ln]
    assert lines == [f"result written to {out}"]
    assert proc.stdout.splitlines()[0].split() == ["asyncio", "asynctnt"]
