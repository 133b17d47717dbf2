"""A bad scenario: one message naming file, line and field; exit code 2; nothing written."""
from __future__ import annotations

from pathlib import Path

import pytest

from loadtnt.scenario import parse as scenario
from tests.harness.conftest import ROOT, run_loadtnt, write_scenario

GOOD_OPS = """
operations:
  - op: select
    space: tester
    key: {uniform: [1, 100]}
"""

CASES = [
    # (yaml, line, field, words in the message)
    ("workers: many\n" + GOOD_OPS, 1, "workers", "positive integer"),
    ("name: x\nconcurency: 5\n" + GOOD_OPS, 2, "concurency", "unknown key"),
    ("operations:\n  - op: ping\n  - op: selct\n", 3, "operations[1].op", "unknown op"),
    ("operations:\n  - op: insert\n    space: tester\n", 2, "operations[0].tuple", "missing"),
    ("operations:\n  - op: ping\n    key: 1\n", 3, "operations[0].key", "unknown key"),
    ("operations:\n  - op: call\n    function: f\n    args:\n      - 1\n      - {zipf: [1, 9]}\n",
     6, "operations[0].args[1].zipf", "bad generator"),
    ("operations:\n  - op: select\n    space: tester\n    key: {uniform: [9, 1]}\n",
     4, "operations[0].key.uniform", "greater than"),
    ("operations:\n  - op: select\n    space: {string: 3}\n", 3, "operations[0].space",
     "constant"),
    ("operations:\n  - op: call\n    function: f\n    args: [{unifrom: [1, 2]}]\n", 4,
     "operations[0].args[0]", "did you mean 'uniform'"),
    ("duration: 5s\nrequests: 10\n" + GOOD_OPS, 2, "requests", "not both"),
    ("warmup: soon\n" + GOOD_OPS, 1, "warmup", "duration"),
    ("drivers: [loadtnt, nosuch]\n" + GOOD_OPS, 1, "drivers", "unknown"),
    ("loops: [trio]\n" + GOOD_OPS, 1, "loops", "unknown"),
    ("operations: []\n", 1, "operations", "non-empty"),
    ("rate: -5\n" + GOOD_OPS, 1, "rate", "positive"),
    ("operations:\n  - op: ping\n  - op: ping\n", 3, "operations[1].name", "duplicate"),
    ("name: x\n  bad indent: [\n", 2, None, "invalid YAML"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), CASES)
def test_error_names_file_line_field(tmp_path: Path, text: str, line: int, field: str | None,
                                     words: str) -> None:
    path = write_scenario(tmp_path, text)
    with pytest.raises(scenario.ScenarioError) as info:
        scenario.load(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert err.field == field, str(err)
    assert words in str(err)
    assert str(err).startswith(f"{path}:{line}: ")


def test_good_scenario_normalizes() -> None:
    s = scenario.loads("name: n\nwarmup: 500ms\nduration: 2m\n" + GOOD_OPS, path="n.yaml")
    n = s.normalized()
    assert n["warmup"] == 0.5 and n["duration"] == 120.0 and n["requests"] is None
    assert n["operations"][0]["name"] == "select"


def test_overrides_and_password_never_normalized() -> None:
    s = scenario.loads("server: {uri: 'db:3301', user: u, password: hunter2}\n" + GOOD_OPS)
    s = s.override(requests=1000, workers=4, loops=("asyncio",))
    n = s.normalized()
    assert n["requests"] == 1000 and n["duration"] is None and n["workers"] == 4
    assert n["server"] == {"uri": "db:3301", "user": "u", "name": "external"}
    assert n["servers"] == []  # no embedded set-up with a running server
    assert "hunter2" not in repr(n) and "hunter2" not in repr(s)
    with pytest.raises(scenario.ScenarioError, match="connections"):
        s.override(connections=5, concurrency=2)


def test_shipped_scenarios_load() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        s = scenario.load(path)
        assert s.operations, path


def test_cli_bad_file_exit_2_nothing_written(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "operations:\n  - op: select\n    space: tester\n"
                                    "    limit: {uniform: [1, 2]}\n")
    out = tmp_path / "result.json"
    proc = run_loadtnt("run", path, "--out", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"{path}:4: operations[0].limit:" in lines[0]
    assert not out.exists() and proc.stdout == ""


def test_cli_conflicting_flags_exit_2(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, GOOD_OPS)
    proc = run_loadtnt("run", path, "--duration", "1s", "--requests", "10")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
    proc = run_loadtnt("run", path, "--server", "nohost")
    assert proc.returncode == 2 and "--server" in proc.stderr and "host:port" in proc.stderr
