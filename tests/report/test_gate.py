"""The CI gate can fail (issue 14): 'cannot decide' is exit 3, latency and errors are gated,
the rows are a Holm family, a busy machine is no verdict."""
from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pytest

from loadtnt.report import significance
from loadtnt.report.check import check, check_main
from loadtnt.report.compare import REGRESSED, UNCHANGED, bootstrap_ratio, compare, holm
from loadtnt.report.simulate import AFTER, BEFORE, SCENARIOS, simulate
from tests.report.report_synth import make_result
from tests.report.test_compare_check import result, synthetic


def halved(d: str, o: str) -> float:
    return 0.5 if d == "loadtnt" else 1.0


def _check(new: dict[str, Any], base: dict[str, Any], write_result: Callable[..., Any],
           **kw: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = check(write_result("new.json", new), write_result("base.json", base), out=out, **kw)
    return code, out.getvalue()


# --- item 6: every way the old gate passed a 2x regression now says it cannot decide --------

@pytest.mark.parametrize("trials,alpha", [(1, 0.05), (2, 0.05), (3, 0.01)])
def test_too_few_trials_for_a_halved_throughput_is_exit_3(write_result, trials: int,
                                                           alpha: float) -> None:
    code, out = _check(synthetic(2, halved, trials=trials), synthetic(1, trials=trials),
                       write_result, alpha=alpha)
    assert code == 3 and "CANNOT DECIDE" in out and "too few trials" in out


def test_an_op_missing_from_the_new_file_is_exit_3(write_result) -> None:
    new = synthetic(2, halved)
    new["runs"] = [r for r in new["runs"] if r["op"] != "select"]
    code, out = _check(new, synthetic(1), write_result)
    assert code in (1, 3)  # ping halved is still found; without it:
    new = synthetic(2)
    new["runs"] = [r for r in new["runs"] if r["op"] != "select"]
    code, out = _check(new, synthetic(1), write_result)
    assert code == 3 and "missing from the new file" in out


def test_a_partial_file_is_exit_3(write_result) -> None:
    new = synthetic(2)
    new["partial"] = True
    code, out = _check(new, synthetic(1), write_result)
    assert code == 3 and "partial" in out


def test_relative_mode_with_a_lost_reference_trial_is_exit_3(write_result) -> None:
    new = synthetic(2, halved, trials=3)
    new["runs"] = [r for r in new["runs"] if not (r["driver"] == "asynctnt" and r["trial"] == 1)]
    code, out = _check(new, synthetic(1, trials=3), write_result, relative=True,
                       correction="none")
    assert code == 3, out


def test_exit_0_only_when_the_gate_could_have_failed(write_result) -> None:
    assert _check(synthetic(2), synthetic(1), write_result)[0] == 0
    assert _check(synthetic(2, halved), synthetic(1), write_result)[0] == 1


# --- item 7: latency is gated too ------------------------------------------------------------

def _open_loop(p50_factor: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    data = make_result(lambda d, lp, op, t: 2000.0, drivers=("loadtnt",), ops=("ping",),
                       trials=5, rate=2000, seed=seed)
    for r in data["runs"]:
        base = 200 * p50_factor * rng.uniform(0.95, 1.05)
        r["latency_us"] = {"p50": base, "p90": base * 2, "p99": base * 4, "p999": base * 8,
                           "max": base * 9}
    return data


def test_open_loop_latency_regression_fails_the_gate(write_result) -> None:
    # same rps (the rate), p50 3x worse: the old gate read rps only and passed
    code, out = _check(_open_loop(3.0, 2), _open_loop(1.0, 1), write_result)
    assert code == 1 and "(p99)" in out  # the default in open loop: corrected p99
    for metric in ("p50", "p99.9"):
        assert _check(_open_loop(3.0, 2), _open_loop(1.0, 1), write_result,
                      metric=metric)[0] == 1
    assert _check(_open_loop(1.0, 2), _open_loop(1.0, 1), write_result)[0] == 0
    assert _check(_open_loop(3.0, 2), _open_loop(1.0, 1), write_result, metric="rps")[0] == 0


def test_metric_flag_on_the_cli(write_result) -> None:
    new, base = write_result("n.json", _open_loop(3.0, 2)), write_result("b.json",
                                                                         _open_loop(1.0, 1))
    assert check_main([str(new), "--baseline", str(base), "--metric", "p50"]) == 1


# --- item 8: a rise in errors is a regression ------------------------------------------------

def test_rising_errors_fail_the_gate(write_result) -> None:
    def errors(d: str, lp: str, op: str, t: int) -> dict[str, int]:
        return {"timeout": 520_000} if d == "loadtnt" and op == "ping" else {}

    rng = random.Random(3)
    new = make_result(lambda d, lp, op, t: 90_000 * rng.uniform(0.95, 1.05),
                      drivers=("loadtnt", "asynctnt"), ops=("ping", "select"), trials=5,
                      errors_of=errors)
    code, out = _check(new, synthetic(1), write_result)
    assert code == 1 and "errors 0.0% → " in out


# --- item 11: a family of rows, an effect size ----------------------------------------------

def test_holm_step_down() -> None:
    assert holm([0.01, 0.04, 0.03], 0.05) == [True, False, False]  # 0.01 <= 0.05/3 only
    assert holm([0.001, 0.02, 0.04], 0.05) == [True, True, True]


def test_a_suite_of_unchanged_rows_rarely_fails_and_a_halved_row_is_caught() -> None:
    # the simulation README's table comes from: fewer sims, same code
    no_change = simulate(AFTER[1], SCENARIOS[0][1], False, sims=60)
    assert no_change["fail"] <= 0.05 and no_change["undecided"] == 0
    before = simulate(BEFORE, SCENARIOS[1][1], False, sims=60)  # 8% slower machine
    after = simulate(AFTER[1], SCENARIOS[1][1], False, sims=60)
    assert after["fail"] < before["fail"]
    caught = simulate(AFTER[1], SCENARIOS[2][1], False, sims=30)
    assert caught["fail"] >= 0.9


def test_rows_show_the_ratio_with_a_bootstrap_interval() -> None:
    lo, hi = bootstrap_ratio([100, 101, 99, 100, 102], [50, 51, 49, 50, 52])
    assert 0.47 < lo <= 0.5 <= hi < 0.53
    c = compare(result(synthetic(1), "b"), result(synthetic(2, halved), "n"))
    row = next(r for r in c.rows if r.driver == "loadtnt")
    assert row.verdict == REGRESSED and row.ci[1] < 0.6
    assert any(r.verdict == UNCHANGED for r in c.rows)


def test_exact_test_is_cached_and_unchanged() -> None:
    assert significance.p_greater([1, 3, 5], [2, 4, 6]) == pytest.approx(16 / 20)
    assert significance.p_greater([4, 5, 6, 7, 8], [1, 2, 3, 4.5, 0]) == \
        pytest.approx(significance.p_greater([40, 50, 60, 70, 80], [10, 20, 30, 45, 0]))


# --- item 12: a busy machine is no verdict ---------------------------------------------------

def test_a_busy_machine_cannot_decide(write_result) -> None:
    new = synthetic(2, halved)
    for r in new["runs"]:
        r["other_cpu_cores"] = 0.05
    assert _check(new, synthetic(1), write_result)[0] == 1  # quiet: the regression stands
    # another process on a core made loadtnt's rows 20% slower: no fail, no pass
    new = synthetic(2, lambda d, o: 0.8 if d == "loadtnt" else 1.0)
    new["runs"][0]["other_cpu_cores"] = 0.9
    code, out = _check(new, synthetic(1), write_result, relative=True)
    assert code == 3 and "rows read as regressed" in out
    quiet = synthetic(2)
    quiet["runs"][0]["other_cpu_cores"] = 0.9
    code, out = _check(quiet, synthetic(1), write_result)
    assert code == 3 and "the machine was busy during the new run" in out
    assert _check(quiet, synthetic(1), write_result, max_busy=1.0)[0] == 0
