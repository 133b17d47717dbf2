"""Built-in scenarios by name (`loadtnt run seed`, `loadtnt scenarios`), in the checkout."""
from __future__ import annotations

from pathlib import Path

import pytest

from loadtnt.scenario import builtin
from tests.harness.conftest import ROOT, run_loadtnt


def test_names_are_the_checkouts_scenarios() -> None:
    assert builtin.directory() == ROOT / "scenarios"
    assert builtin.names() == sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert builtin.path("seed") == ROOT / "scenarios" / "seed.yaml"
    assert builtin.path("seed.yaml") == ROOT / "scenarios" / "seed.yaml"
    for bad in ("", "nope", "../scenarios/seed", "scenarios/seed"):
        assert builtin.path(bad) is None, bad


def test_an_existing_file_wins_over_a_built_in_name(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert builtin.resolve("seed") == str(ROOT / "scenarios" / "seed.yaml")
    (tmp_path / "seed").write_text("name: mine\n")
    assert builtin.resolve("seed") == "seed"
    assert builtin.resolve("nope.yaml") == "nope.yaml"  # left for the loader to report


def test_scenarios_lists_each_with_its_description() -> None:
    proc = run_loadtnt("scenarios")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == builtin.names()
    seed = next(line for line in lines if line.startswith("seed "))
    assert "ping, call, eval, select, insert, update" in seed


def test_run_of_an_unknown_name_is_a_usage_error_listing_the_built_ins() -> None:
    proc = run_loadtnt("run", "no-such-scenario")
    assert proc.returncode == 2
    assert "no-such-scenario: no such file, and no built-in scenario" in proc.stderr
    for name in builtin.names():
        assert name in proc.stderr
