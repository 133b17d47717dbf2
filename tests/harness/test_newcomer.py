"""Issue 21, a new user's first hour: the command line's small things (flags, progress without a
terminal, the terminal's partial seconds, the busy-machine warning on a tiny window)."""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

from loadtnt.live.progress import Progress
from loadtnt.runner import machine
from loadtnt.server.embedded import EmbeddedServer
from tests.harness.conftest import run_loadtnt, write_scenario

PING = """
drivers: [loadtnt]
loops: [asyncio]
concurrency: 5
warmup: 0
duration: 1s
operations:
  - op: ping
"""


def test_password_without_user_is_a_usage_error_that_never_shows_it(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, PING)
    secret = "s3cr3t-pw"
    for args in (["--server", "127.0.0.1:3301"], []):
        proc = run_loadtnt("run", path, *args, "--password", secret, "--out", tmp_path / "o.json")
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert "--password needs --user" in line and "Traceback" not in proc.stderr
        assert secret not in proc.stdout + proc.stderr
    assert not (tmp_path / "o.json").exists()


def test_progress_without_a_terminal_prints_a_plain_line_every_few_seconds() -> None:
    out = io.StringIO()
    p = Progress(live=False, stream=out, plain_every=3600)
    p.status("first")  # not yet: an hour has not passed
    assert out.getvalue() == ""
    p = Progress(live=False, stream=out, plain_every=0.0001)
    time.sleep(0.001)
    p.status("a line")
    time.sleep(0.001)
    p.status("another")
    lines = out.getvalue().splitlines()
    assert "a line" in lines and "another" in lines
    assert not any("\r" in ln or "\x1b" in ln for ln in lines)  # no terminal control codes


def test_a_long_run_without_a_terminal_shows_it_is_alive(tmp_path: Path,
                                                          bench_server: EmbeddedServer) -> None:
    path = write_scenario(tmp_path, PING.replace("duration: 1s", "duration: 6s"))
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--server", f"{bench_server.host}:{bench_server.port}",
                       "--out", out)
    assert proc.returncode == 0, proc.stderr
    progress = [ln for ln in proc.stderr.splitlines() if "req/s" in ln]
    # one every 5 s (the run and its start take 6-7 s): at least one, plain text
    assert 1 <= len(progress) <= 2, proc.stderr
    assert re.search(r"loadtnt/asyncio trial 1 s measure +\d+s +[\d,]+ req/s +p99 ", progress[0])
    assert not any("\r" in ln or "\x1b" in ln for ln in proc.stderr.splitlines())


def test_partial_second_is_rated_by_its_length_or_not_shown() -> None:
    from loadtnt.runner.session import Session
    from loadtnt.scenario import parse

    sc = parse.loads(PING, path="s.yaml")
    out = io.StringIO()
    session = Session(sc, out=Path("/nonexistent/out.json"),
                      progress=Progress(live=True, stream=out))
    hist: list = []
    tick = {"ping": {"requests": 400, "errors": 0, "hist": hist}}
    session._emit_tick(4, {0: {"phase": "measure", "ops": tick}}, "x")
    session._emit_tick(5, {0: {"phase": "measure", "ops": tick, "len_s": 0.4}}, "x")
    session._emit_tick(6, {0: {"phase": "measure", "ops": {"ping": {
        "requests": 3, "errors": 0, "hist": hist}}, "len_s": 0.01}}, "x")
    shown = out.getvalue().split("\r\x1b[2K")[1:]
    assert len(shown) == 2, shown  # the 10 ms tail is not shown
    assert re.search(r"measure +4s +400 req/s", shown[0])
    assert re.search(r"measure +5s \(last 0.40 s\) +1,000 req/s", shown[1])


def test_busy_machine_is_not_judged_on_a_window_too_short_to_tell() -> None:
    tick = machine._TICK
    a = machine.Sample(0.0, 1000, {})
    b = machine.Sample(0.0005, 1001, {})  # one clock tick in half a millisecond
    assert machine.other_cores(a, b) is None
    assert machine.min_window_s() <= 0.5
    c = machine.Sample(1.0, 1000 + tick // 2, {})
    assert machine.other_cores(a, c) == 0.5
