"""`loadtnt history` and `loadtnt check --bisect` on real harness runs against a real Tarantool
(issue 24): 20 runs of a function that a server-side knob makes slower from run 13 on, added one
by one; and `git bisect run` over a throwaway repository whose commit k makes a benchmarked Lua
function slower. Each run is short (one driver, one loop, 1 s or 0.5 s windows) to fit CI.

The machine is shared (other processes run beside the tests), so the gates are told to ignore
the busy figure (`--max-busy 100`): what is tested here is the detector on real runs, not the
busy-machine rule (tests/report/test_history.py has that).
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import asynctnt
import pytest

from loadtnt.cli import main
from loadtnt.instance import TarantoolInstance
from loadtnt.server.embedded import EmbeddedServer
from tests.harness.conftest import read_json, run_loadtnt, write_scenario

pytest.importorskip("otava.analysis", reason="needs the history extra")

STEP_AT, RUNS, FACTOR = 13, 20, 2.0  # the function takes twice as long from run 13 on

# The function waits 5 ms (times the knob) in a fiber sleep, like a call that waits on a disk or
# another service: 50 requests in flight then make ~10k req/s whatever else the shared machine
# runs. (A CPU-bound function was tried first: with other jobs taking the 2 cores, the rps of
# runs before the step varied by +-30 % and a 2x knob took 7 runs to pass the gate.)
SLOW_LUA = """
local fiber = require('fiber')
knob = knob or 1
function slowed()
    fiber.sleep(0.005 * knob)
    return knob
end
return true
"""


def _eval(srv: EmbeddedServer, lua: str) -> Any:
    async def go() -> Any:
        async with asynctnt.Connection(host=srv.host, port=srv.port) as c:
            return (await c.eval(lua))
    return asyncio.run(go())


SCENARIO = """
name: knob
drivers: [loadtnt]
loops: [uvloop]
workers: 1
connections: 1
concurrency: 50
warmup: 300ms
duration: {duration}
trials: {trials}
operations:
  - op: call
    function: {function}
"""


@pytest.mark.timeout(600)
def test_twenty_real_runs_step_found_at_run_13(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    # 0.5 s windows: a fiber-sleep load is steady enough (the 1 s windows it had cost CI 100 s)
    scenario = write_scenario(tmp_path, SCENARIO.format(duration="500ms", trials=3,
                                                        function="slowed"))
    codes: dict[int, int] = {}
    rps: dict[int, float] = {}
    with EmbeddedServer(memtx_memory=64 << 20) as srv:
        _eval(srv, SLOW_LUA)
        for k in range(1, RUNS + 1):
            if k == STEP_AT:
                _eval(srv, f"knob = {FACTOR}")
            out = tmp_path / f"run{k:02d}.json"
            proc = run_loadtnt("run", scenario, "--server", f"{srv.host}:{srv.port}",
                               "--out", out)
            assert proc.returncode == 0, proc.stderr
            result = read_json(out)
            rps[k] = sum(r["rps"] for r in result["runs"]) / len(result["runs"])
            # in process: the history's imports (Otava's scipy) once, not 40 times
            assert main(["history", "add", str(out), "--db", str(db), "--commit",
                         f"run{k:02d}"]) == 0
            codes[k] = main(["history", "check", "--db", str(db), "--max-busy", "100"])
            print(f"run {k}: {rps[k]:,.0f} req/s, history check exit {codes[k]}")
    before = sum(rps[k] for k in range(1, STEP_AT)) / (STEP_AT - 1)
    after = sum(rps[k] for k in range(STEP_AT, RUNS + 1)) / (RUNS - STEP_AT + 1)
    print(f"mean rps before {before:,.0f}, after {after:,.0f} ({after / before - 1:+.1%})")
    # --magnitude 20% as Tarantool's perf CI runs Otava: a fiber sleep makes the rps so steady
    # that Otava also finds real 1 % shifts (CI once saw run 9 at -1 %, p = 2e-4) ahead of the
    # knob's step; those are not what this test is about
    proc = run_loadtnt("history", "changes", "--db", db, "--format", "json",
                       "--magnitude", "20%")
    assert proc.returncode == 0, proc.stderr
    changes = json.loads(proc.stdout)["changes"]
    print("changes:", [(c["run"], round(c["change"], 3), c["pvalue"]) for c in changes])
    # the first large change point is the knob's; a shared machine may add later ones (another
    # job taking cores: the runs' busy figure shows it), which the test does not forbid
    assert changes and changes[0]["regression"], changes
    assert abs(changes[0]["run"] - STEP_AT) <= 1, changes
    assert all(codes[k] == 3 for k in range(1, 8)), codes  # fewer than 8 runs
    assert all(codes[k] == 0 for k in range(8, STEP_AT)), codes
    assert codes[STEP_AT] in (1, 3), codes  # alone: may still be undecided
    assert all(codes[k] == 1 for k in range(STEP_AT + 1, RUNS + 1)), codes
    (tmp_path / "summary.txt").write_text(json.dumps({"rps": rps, "codes": codes,
                                                      "changes": changes}, indent=1))


# --- git bisect run ------------------------------------------------------------------------------

# the benchmarked function waits in a fiber sleep (5 ms, 15 ms from commit 6 on), as the
# 20-run test's: a CPU spin was tried and, with other jobs on the shared cores, one commit of
# the slow ones measured "unchanged" (a 95 % interval of 0.18..0.91) and bisect named the next
FN_LUA = """
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {{if_not_exists = true}})
local fiber = require('fiber')
function bench_fn()
    fiber.sleep({sleep_ms} / 1000)
    return true
end
"""

STEP_PY = """
import subprocess, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from loadtnt.cli import main
from loadtnt.instance import TarantoolInstance

repo, base, scenario, out = map(Path, sys.argv[1:5])
loadtnt = [sys.executable, "-m", "loadtnt"]
with TarantoolInstance(init_script=repo / "fn.lua", memtx_memory=64 << 20) as tnt:
    run = subprocess.run([*loadtnt, "run", str(scenario), "--server",
                          f"{{tnt.host}}:{{tnt.port}}", "--out", str(out)],
                         cwd={root!r}, capture_output=True, text=True)
if run.returncode != 0:
    print(run.stderr, file=sys.stderr)
    sys.exit(125)  # no result: cannot test this commit
check = subprocess.run([*loadtnt, "check", str(out), "--baseline", str(base), "--bisect",
                        "--max-regression", "20%", "--max-busy", "100"],
                       cwd={root!r}, capture_output=True, text=True)
print(check.stdout)
sys.exit(check.returncode)
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t",
                               "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout


@pytest.mark.timeout(600)
def test_git_bisect_run_finds_the_slow_commit(tmp_path: Path) -> None:
    from tests.harness.conftest import ROOT

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    slow_at, commits = 6, 9  # commit 6 of 9 makes the function take 3x as long
    shas = []
    for k in range(1, commits + 1):
        sleep_ms = 5 * (3 if k >= slow_at else 1)
        (repo / "fn.lua").write_text(textwrap.dedent(FN_LUA.format(sleep_ms=sleep_ms)))
        (repo / "notes.txt").write_text(f"change {k}\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"change {k}")
        shas.append(_git(repo, "rev-parse", "HEAD").strip())
    scenario = write_scenario(tmp_path, SCENARIO.format(duration="500ms", trials=4,
                                                        function="bench_fn"))
    step = tmp_path / "step.py"
    step.write_text(STEP_PY.format(root=str(ROOT)))
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    _git(repo, "checkout", "-q", shas[0])
    with TarantoolInstance(init_script=repo / "fn.lua", memtx_memory=64 << 20) as tnt:
        proc = run_loadtnt("run", scenario, "--server", f"{tnt.host}:{tnt.port}", "--out", base)
        assert proc.returncode == 0, proc.stderr
    _git(repo, "checkout", "-q", "main")
    _git(repo, "bisect", "start", shas[-1], shas[0])
    proc = subprocess.run(["git", "bisect", "run", sys.executable, str(step), str(repo),
                           str(base), str(scenario), str(new)], cwd=repo, capture_output=True,
                          text=True, timeout=600, check=False)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{shas[slow_at - 1]} is the first bad commit" in proc.stdout
    steps = proc.stdout.count("running")
    print(f"git bisect run: commit {slow_at} of {commits} found in {steps} steps")
