"""compare and check on synthetic results: a halved throughput is caught, trial noise (±5%) is
not, too few trials say so, and relative mode forgives a uniformly slower machine."""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadtnt.report import significance
from loadtnt.report.check import add_parser as add_check
from loadtnt.report.check import check, check_main
from loadtnt.report.compare import (
    IMPROVED,
    REGRESSED,
    TOO_FEW,
    UNCHANGED,
    compare,
    compare_main,
    parse_fraction,
)
from loadtnt.report.compare import add_parser as add_compare
from loadtnt.report.load import parse_result
from tests.report.report_synth import make_result

BASE_RPS = {"loadtnt": 90_000.0, "asynctnt": 60_000.0}
OPS = ("ping", "select")


def synthetic(seed: int, factor: Callable[[str, str], float] = lambda d, o: 1.0,
              noise: float = 0.05, trials: int = 5) -> dict[str, Any]:
    """rps = BASE_RPS × factor(driver, op) × uniform(1 ± noise), per trial."""
    rng = random.Random(seed)

    def rps_of(driver: str, loop: str, op: str, trial: int) -> float:
        return BASE_RPS[driver] * factor(driver, op) * rng.uniform(1 - noise, 1 + noise)

    return make_result(rps_of, drivers=tuple(BASE_RPS), ops=OPS, trials=trials, seed=seed)


def result(data: dict[str, Any], name: str):
    return parse_result(data, Path(f"{name}.json"))


# --- the test itself ---------------------------------------------------------------------------

def test_exact_mann_whitney_values() -> None:
    assert significance.p_greater([4, 5, 6], [1, 2, 3]) == pytest.approx(1 / 20)
    assert significance.p_less([4, 5, 6], [1, 2, 3]) == pytest.approx(1.0)
    # rank sum of x is 9; 16 of the 20 splits of ranks 1..6 reach 9 or more
    assert significance.p_greater([1, 3, 5], [2, 4, 6]) == pytest.approx(16 / 20)
    assert significance.min_p_value(3, 3) == pytest.approx(0.05)
    assert significance.min_p_value(2, 2) == pytest.approx(1 / 6)
    # ties count one half: identical samples are no evidence either way
    assert significance.p_greater([1, 1, 1], [1, 1, 1]) == pytest.approx(1.0)


def test_normal_approximation_agrees_with_exact() -> None:
    rng = random.Random(3)
    x = [rng.gauss(1.0, 1) for _ in range(12)]
    y = [rng.gauss(0.0, 1) for _ in range(12)]
    exact = significance.p_greater(x, y)  # C(24, 12) > EXACT_LIMIT: the normal approximation
    small_x, small_y = x[:7], y[:7]
    assert exact < 0.05
    assert 0 < significance.p_greater(small_x, small_y) <= 1
    assert abs(significance.p_greater(x, y) - (1 - significance.p_less(x, y))) < 0.05


# --- compare -----------------------------------------------------------------------------------

def test_halved_throughput_reads_as_regressed() -> None:
    base = result(synthetic(1), "base")
    new = result(synthetic(2, lambda d, o: 0.5 if (d, o) == ("loadtnt", "select") else 1.0),
                 "new")
    rows = {(r.driver, r.op): r for r in compare(base, new).rows}
    assert rows["loadtnt", "select"].verdict == REGRESSED
    assert rows["loadtnt", "select"].ratio == pytest.approx(0.5, abs=0.06)
    assert rows["loadtnt", "ping"].verdict != REGRESSED


def test_doubled_throughput_reads_as_improved() -> None:
    base = result(synthetic(1), "base")
    new = result(synthetic(2, lambda d, o: 2.0 if d == "loadtnt" else 1.0), "new")
    verdicts = {(r.driver, r.op): r.verdict for r in compare(base, new).rows}
    assert verdicts["loadtnt", "ping"] == IMPROVED
    assert verdicts["loadtnt", "select"] == IMPROVED


def test_too_few_trials_to_tell() -> None:
    base = result(synthetic(1, trials=2), "base")
    new = result(synthetic(2, lambda d, o: 0.5, trials=2), "new")
    c = compare(base, new)
    assert {r.verdict for r in c.rows} == {TOO_FEW}
    assert "smallest possible p is 0.167" in c.rows[0].note


# --- check -------------------------------------------------------------------------------------

def test_check_fails_on_halved_throughput(write_result, capsys) -> None:
    base = write_result("base.json", synthetic(1))
    new = write_result("new.json", synthetic(2, lambda d, o: 0.5 if d == "loadtnt" else 1.0))
    assert check(new, base, max_regression=0.10) == 1
    out = capsys.readouterr().out
    assert "FAIL: significant regression beyond 10%" in out
    assert "loadtnt/uvloop/ping" in out and "asynctnt/uvloop" not in out.split("FAIL")[1]


@pytest.mark.parametrize("seed", range(25))
def test_check_passes_trial_noise(seed: int, write_result) -> None:
    # ±5% noise on both sides, same machine: never a regression beyond 10%.
    base = write_result("base.json", synthetic(seed))
    new = write_result("new.json", synthetic(1000 + seed))
    assert check(new, base, max_regression=0.10) == 0


def test_check_passes_small_real_slowdown_within_threshold(write_result) -> None:
    base = write_result("base.json", synthetic(1, noise=0.01))
    new = write_result("new.json", synthetic(2, lambda d, o: 0.95, noise=0.01))
    assert check(new, base, max_regression=0.10) == 0
    assert check(new, base, max_regression=0.02) == 1


def test_check_with_too_few_trials_cannot_decide_and_says_so(write_result, capsys) -> None:
    # a halved throughput with 2 trials: the gate could not have failed, so it must not pass
    base = write_result("base.json", synthetic(1, trials=2))
    new = write_result("new.json", synthetic(2, lambda d, o: 0.5, trials=2))
    assert check(new, base) == 3
    out = capsys.readouterr().out
    assert "too few trials to tell" in out and "CANNOT DECIDE" in out


def test_relative_mode_forgives_a_slower_machine(write_result) -> None:
    base = write_result("base.json", synthetic(1))
    slower = write_result("slow.json", synthetic(2, lambda d, o: 0.6))  # CI box 40% slower
    assert check(slower, base, relative=False) == 1
    assert check(slower, base, relative=True) == 0


def test_relative_mode_catches_a_driver_regression(write_result, capsys) -> None:
    base = write_result("base.json", synthetic(1))
    # Slower machine (×0.7) and loadtnt itself lost half on top of it.
    new = write_result("new.json",
                       synthetic(2, lambda d, o: 0.7 * (0.5 if d == "loadtnt" else 1.0)))
    assert check(new, base, relative=True) == 1
    out = capsys.readouterr().out
    assert "rps / asynctnt rps" in out and "relative to asynctnt" in out


def test_relative_mode_needs_the_reference(write_result, capsys) -> None:
    data = synthetic(1)
    data["runs"] = [r for r in data["runs"] if r["driver"] != "asynctnt"]
    base = write_result("base.json", data)
    assert check(base, base, relative=True) == 2
    assert "needs the reference driver 'asynctnt'" in capsys.readouterr().err


# --- the CLI hooks -----------------------------------------------------------------------------

def test_cli_entry_points(write_result, capsys) -> None:
    base = write_result("base.json", synthetic(1))
    new = write_result("new.json", synthetic(2, lambda d, o: 0.5))
    assert compare_main([str(base), str(new)]) == 0
    assert "▼ regressed" in capsys.readouterr().out
    assert check_main([str(new), "--baseline", str(base), "--max-regression", "10%"]) == 1
    assert check_main([str(new), "--baseline", str(base), "--max-regression", "60%"]) == 0
    assert check_main([str(base), "--baseline", str(base), "--relative"]) == 0
    assert check_main([str(new), "--baseline", str(base.parent / "missing.json")]) == 2


def test_add_parser_registers_subcommands(write_result) -> None:
    base = write_result("base.json", synthetic(1))
    parser = argparse.ArgumentParser(prog="loadtnt")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_compare, add_check):
        p = add(sub)
        assert "example" in (p.epilog or "")
    args = parser.parse_args(["check", str(base), "--baseline", str(base),
                              "--max-regression", "5%", "--relative"])
    assert args.max_regression == pytest.approx(0.05) and args.relative
    assert args.func(args) == 0


@pytest.mark.parametrize("text,value", [("10%", 0.10), ("0.1", 0.10), ("10", 0.10),
                                        ("2.5%", 0.025)])
def test_parse_fraction(text: str, value: float) -> None:
    assert parse_fraction(text) == pytest.approx(value)


def test_unchanged_is_reported_for_identical_runs() -> None:
    same = result(synthetic(1), "same")
    assert {r.verdict for r in compare(same, same).rows} == {UNCHANGED}
