"""Thresholds (issue 11): parsed at validation, evaluated from the result's histograms, exit 99."""
from __future__ import annotations

from pathlib import Path

import pytest

from loadtnt import histogram
from loadtnt.results.thresholds import (
    ThresholdError,
    evaluate,
    parse_slo,
    parse_threshold,
    render,
)
from loadtnt.scenario import parse
from loadtnt.scenario.model import ScenarioError
from tests.harness.conftest import read_json, run_loadtnt, write_scenario


def test_parse_metrics_and_units() -> None:
    t = parse_threshold("p99 < 2ms", op="select")
    assert (t.metric, t.cmp, t.limit, t.percentile) == ("p99", "<", 2000.0, 99.0)
    assert parse_threshold("p999<=1.5ms").percentile == 99.9
    assert parse_threshold("p99.9 < 300us").limit == 300.0
    assert parse_threshold("rps > 1e5").limit == 100000.0
    assert parse_threshold("rps >= 20k").limit == 20000.0
    e = parse_threshold("errors < 0.1%")
    assert e.share and e.limit == pytest.approx(0.001)
    assert not parse_threshold("errors < 10").share
    for bad in ("p99 < 2", "latency < 2ms", "p99 = 2ms", "rps > 5ms", "errors < 2ms", "p0 < 1ms"):
        with pytest.raises(ThresholdError):
            parse_threshold(bad)
    assert [x.metric for x in parse_slo("p99<2ms,errors<0.1%")] == ["p99", "errors"]
    with pytest.raises(ThresholdError):
        parse_slo("errors<1%")


def _entry(trial: int, us: int, n: int = 100, errors: int = 0, op: str = "a") -> dict:
    rec = histogram.Recorder()
    for _ in range(n):
        rec.record_ns(us * 1000)
    return {"server": "s", "driver": "d", "loop": "l", "trial": trial, "op": op,
            "histogram": histogram.encode(rec), "requests": n + errors, "errors": errors,
            "rps": float(n), "latency_us": {"max": us}}


def test_median_of_trials_and_all_trials() -> None:
    runs = [_entry(1, 1000), _entry(2, 3000), _entry(3, 1200)]
    (row,) = evaluate([parse_threshold("p99 < 2ms", op="a")], runs)
    assert row["pass"] and 1190 <= row["value"] <= 1210  # the median trial
    (row,) = evaluate([parse_threshold("p99 < 2ms", op="a", all_trials=True)], runs)
    assert not row["pass"] and row["value"] >= 2990  # the worst trial
    # '*': every op together (their histograms merged, their rates summed)
    runs = [_entry(1, 1000, op="a"), _entry(1, 5000, n=2, errors=1, op="b")]
    rows = evaluate([parse_threshold("p99 < 2ms"), parse_threshold("rps > 101"),
                     parse_threshold("errors < 1%")], runs)
    assert [r["pass"] for r in rows] == [False, True, True]


def test_star_over_mix_false_judges_every_op_alone() -> None:
    # each op measured in a window of its own: their rates do not add up to any window's rate
    runs = [_entry(1, 1000, n=60, op="a"), _entry(1, 1000, n=70, op="b")]
    rows = evaluate([parse_threshold("rps > 100")], runs, mix=False)
    assert [(r["of"], r["value"], r["pass"]) for r in rows] == [("a", 60.0, False),
                                                                  ("b", 70.0, False)]
    (row,) = evaluate([parse_threshold("rps > 100")], runs)  # a mix: one window, summed
    assert row["value"] == 130.0 and row["pass"] and "of" not in row
    # an op's own threshold is unchanged by mix: false
    (row,) = evaluate([parse_threshold("rps > 50", op="b")], runs, mix=False)
    assert row["pass"] and "of" not in row
    table = render([parse_threshold("rps > 100")], rows)
    assert "* (a)" in table and "* (b)" in table


def test_validation_errors_name_file_line_and_field() -> None:
    head = "name: x\noperations: [{op: ping}, {op: select, space: tester, key: 1}]\n"
    cases = {
        "thresholds:\n  insert: ['p99 < 2ms']\n": (4, "thresholds.insert", "unknown op"),
        "thresholds:\n  ping:\n    - 'p99 < 2ms'\n    - 'latency < 2ms'\n":
            (6, "thresholds.ping[1]", "unknown metric"),
        "thresholds:\n  '*': ['p99 < 2']\n": (4, "thresholds.*[0]", "time unit"),
        "thresholds:\n  ping: [{threshold: 'p99 < 2ms', abort: true}]\n":
            (4, "thresholds.ping[0].abort", "unknown key"),
    }
    for text, (line, field, what) in cases.items():
        with pytest.raises(ScenarioError) as e:
            parse.loads(head + text, path="t.yaml")
        assert (e.value.line, e.value.field) == (line, field), str(e.value)
        assert what in str(e.value) and str(e.value).startswith(f"t.yaml:{line}: ")
    ok = parse.loads(head + "thresholds:\n  select: 'p99 < 2ms'\n  '*': [{threshold: "
                     "'errors < 0.1%', abort_on_fail: true}]\n")
    assert [(t.op, t.metric, t.abort_on_fail) for t in ok.thresholds] == [
        ("select", "p99", False), ("*", "errors", True)]


SCENARIO = """
    name: th
    workers: 1
    concurrency: 10
    warmup: 0.2s
    duration: {duration}
    rate: 300
    operations:
      - {{op: call, name: slow, function: sleep, args: [{ms}]}}
    thresholds:
      slow: [{threshold}]
      '*': ['errors < 1%']
"""


def test_a_pass_exits_0_and_a_breach_exits_99(tmp_path: Path) -> None:
    ok = write_scenario(tmp_path, SCENARIO.format(duration="1s", ms=1,
                                                  threshold="'p99 < 5s', 'rps > 50'"), "ok.yaml")
    r = run_loadtnt("run", ok, "--out", tmp_path / "ok.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "thresholds: all 3 held" in r.stdout
    res = read_json(tmp_path / "ok.json")
    assert res["thresholds"]["passed"] and len(res["thresholds"]["rows"]) == 3

    bad = write_scenario(tmp_path, SCENARIO.format(duration="1s", ms=5,
                                                   threshold="'p50 < 1ms'"), "bad.yaml")
    r = run_loadtnt("run", bad, "--out", tmp_path / "bad.json")
    assert r.returncode == 99, r.stdout + r.stderr
    assert "BREACHED" in r.stdout and "p50 < 1ms" in r.stdout
    res = read_json(tmp_path / "bad.json")
    row = next(x for x in res["thresholds"]["rows"] if x["op"] == "slow")
    assert not row["pass"] and row["value"] >= 5000


def test_abort_on_fail_stops_early_and_writes_the_result(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SCENARIO.format(
        duration="30s", ms=5, threshold="{threshold: 'p99 < 1ms', abort_on_fail: true}")
        .replace("trials: 1", "") + "    trials: 3\n")
    out = tmp_path / "a.json"
    r = run_loadtnt("run", path, "--out", out, timeout=60)
    assert r.returncode == 99, r.stdout + r.stderr
    assert "aborted: threshold slow" in r.stdout + r.stderr
    res = read_json(out)
    assert res["partial"] and res["thresholds"]["aborted"]
    (entry,) = res["runs"]  # the first trial only, cut short
    assert entry["duration_s"] < 15
