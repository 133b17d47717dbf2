"""Server set-ups side by side (``servers:``, ``--tarantool``) against real embedded Tarantools.

Debian's Tarantool (on PATH) always; Tarantool 3.8 from ../shared when it is there (or
$LOADTNT_TEST_TARANTOOL_38), for the version-specific parts.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from loadtnt.instance import version
from loadtnt.scenario import parse
from loadtnt.scenario.model import ScenarioError
from tests.harness.conftest import ROOT, pid_alive, read_json, run_loadtnt, write_scenario

T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(ROOT.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"))
HAS_38 = os.access(T38, os.X_OK)
DEFAULT_VERSION = version("tarantool").split("-")[0]

OPS = """
operations:
  - op: select
    space: tester
    key: {uniform: [1, 500]}
  - op: replace
    space: tester
    tuple: [{uniform: [1, 500]}, {string: 8}]
"""

SHORT = """
drivers: [loadtnt]
loops: [asyncio]
concurrency: 10
warmup: 0
requests: 400
mix: false
before: prepare(500)
"""


def _pids(stderr: str) -> list[tuple[int, str]]:
    return [(int(pid), name) for pid, name in
            re.findall(r"embedded Tarantool at \S+ \(pid (\d+)\): (\S+),", stderr)]


def test_two_set_ups_run_trial_major_each_server_fresh(tmp_path: Path) -> None:
    second = f"binary: {T38}\n    cfg: {{wal_mode: write, iproto_threads: 2}}" if HAS_38 else \
        "cfg: {wal_mode: write}"
    path = write_scenario(tmp_path, SHORT + f"""
trials: 2
servers:
  - name: plain
  - name: other
    {second}
""" + OPS)
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out, "-v")
    assert proc.returncode == 0, proc.stderr
    data = read_json(out)

    # trial-major: trial 1 on both set-ups, then trial 2; every entry names its set-up
    order = [(r["trial"], r["server"], r["op"]) for r in data["runs"]]
    assert order == [(t, s, op) for t in (1, 2) for s in ("plain", "other")
                     for op in ("select", "replace")]
    assert all(r["requests"] == 400 and r["errors"] == 0 for r in data["runs"])
    # the server counted each set-up's own load: `before:` ran on each (select found its keys)
    windows = [(w["trial"], w["server"], w["ops"], w["delta"]) for w in data["server"]]
    assert [(t, s) for t, s, _, _ in windows] == [(t, s) for t in (1, 2)
                                                for s in ("plain", "other") for _ in (1, 2)]
    for _t, _s, ops, delta in windows:
        assert delta["SELECT" if ops == ["select"] else "REPLACE"] == 400

    # a fresh server for every (trial, set-up), none left running
    pids = _pids(proc.stderr)
    assert [name for _, name in pids] == ["plain", "other", "plain", "other"]
    assert len({pid for pid, _ in pids}) == 4
    assert not any(pid_alive(pid) for pid, _ in pids)

    env = data["environment"]["servers"]
    assert list(env) == ["plain", "other"]
    assert env["plain"]["binary"] == shutil.which("tarantool")
    assert env["plain"]["box_cfg"]["wal_mode"] == "none"
    assert env["other"]["box_cfg"]["wal_mode"] == "write"  # read back from the running server
    assert env["other"]["cfg"]["wal_mode"] == "write"      # as asked
    assert env["plain"]["version"].startswith(DEFAULT_VERSION)
    if HAS_38:
        assert env["other"]["version"].startswith("3.8.")
        assert env["other"]["box_cfg"]["iproto_threads"] == 2
        assert env["other"]["binary"] == os.path.abspath(T38)
    assert [s["name"] for s in data["scenario"]["servers"]] == ["plain", "other"]
    # the end-of-run table: one block per set-up
    assert "plain · asyncio" in proc.stdout and "other · asyncio" in proc.stdout


def test_an_option_the_binary_rejects_stops_the_run_before_any_load(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SHORT + """
servers:
  - name: fine
  - name: broken
    cfg: {no_such_option: 1}
""" + OPS)
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out, "-v")
    assert proc.returncode == 2, proc.stderr
    assert "servers[1].cfg.no_such_option" in proc.stderr
    assert "server 'broken'" in proc.stderr and "unexpected option" in proc.stderr
    assert "embedded Tarantool at" not in proc.stderr  # no server started, no load ran
    assert not out.exists()


@pytest.mark.skipif(not DEFAULT_VERSION.startswith(("1.", "2.6", "2.7")),
                    reason="needs a Tarantool without iproto_threads (< 2.8) on PATH")
def test_iproto_threads_on_2_6_names_the_option_and_the_server(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SHORT + """
servers:
  - name: debian
    cfg: {iproto_threads: 2}
""" + OPS)
    proc = run_loadtnt("run", path, "--out", tmp_path / "out.json")
    assert proc.returncode == 2
    msg = proc.stderr.strip()
    assert msg.startswith(f"loadtnt: error: {path}: servers[0].cfg.iproto_threads: server "
                          f"'debian' (Tarantool {DEFAULT_VERSION}"), msg
    assert "does not accept box.cfg option iproto_threads = 2" in msg


def test_tarantool_flag_is_the_one_server_shorthand(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SHORT + OPS)
    out = tmp_path / "out.json"
    args = ["--tarantool", "tarantool"] + (["--tarantool", T38] if HAS_38 else [])
    proc = run_loadtnt("run", path, *args, "--out", out)
    assert proc.returncode == 0, proc.stderr
    data = read_json(out)
    names = [f"tarantool-{DEFAULT_VERSION}"] + (["tarantool-3.8.0"] if HAS_38 else [])
    assert list(dict.fromkeys(r["server"] for r in data["runs"])) == names
    assert list(data["environment"]["servers"]) == names

    proc = run_loadtnt("run", path, "--tarantool", tmp_path / "no-such-tarantool")
    assert proc.returncode == 2
    assert "--tarantool" in proc.stderr and "no-such-tarantool" in proc.stderr
    proc = run_loadtnt("run", path, "--tarantool", "tarantool", "--server", "127.0.0.1:1")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr


def test_an_optional_set_up_without_its_binary_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SHORT + """
servers:
  - name: here
  - name: elsewhere
    binary: ./no/such/tarantool
    optional: true
""" + OPS)
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out)
    assert proc.returncode == 0, proc.stderr
    data = read_json(out)
    assert {r["server"] for r in data["runs"]} == {"here"}
    missing = str(tmp_path / "no" / "such" / "tarantool")  # relative to the scenario file
    assert any("'elsewhere'" in w and missing in w and "skipped" in w for w in data["warnings"])


@pytest.mark.parametrize(("text", "where", "message"), [
    ("servers: [{cfg: {}}, {name: b}]", "servers[0].name", "each needs a name"),
    ("servers: [{name: a}, {name: a}]", "servers[1].name", "duplicate server name 'a'"),
    ("servers: [{name: a, cfg: {listen: 3301}}]", "servers[0].cfg.listen", "set by the harness"),
    ("servers: [{name: a, bin: x}]", "servers[0].bin", "unknown key"),
    ("servers: []", "servers", "non-empty list"),
    ("server: {uri: 'h:1', binary: x}", "server.uri", "has no"),
    ("server: {uri: 'h:1'}\nservers: [{name: a}]", "servers", "not both"),
])
def test_bad_server_set_ups_are_named(text: str, where: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse.loads(text + "\noperations: [{op: ping}]", path="s.yaml")
    assert info.value.field == where and message in info.value.message, str(info.value)
    assert info.value.line is not None


def test_server_binary_paths_resolve_against_the_scenario_file() -> None:
    s = parse.loads("server: {binary: ../bin/tarantool, cfg: {wal_mode: write}}\n"
                    "operations: [{op: ping}]", path="/srv/scen/a.yaml")
    (setup,) = s.setups
    assert setup.name == "embedded" and setup.binary == "/srv/bin/tarantool"
    assert setup.cfg == {"wal_mode": "write"}
    assert parse.loads("operations: [{op: ping}]").setups[0].binary == "tarantool"
