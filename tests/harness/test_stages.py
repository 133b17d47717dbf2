"""Rate stages (issue 11): the schedule follows them exactly; the timeline and the result say so."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtnt.scenario import parse
from loadtnt.scenario.model import ScenarioError
from loadtnt.scenario.stages import Profile, Stage
from tests.harness.conftest import read_json, run_loadtnt, write_scenario


def test_profile_slots_follow_the_integral_of_the_rate() -> None:
    prof = Profile([Stage(1000, 2.0), Stage(None, 1.0), Stage(200, 0.0), Stage(None, 1.0),
                    Stage(0, 1.0)])
    assert prof.duration == 5.0
    assert prof.total == pytest.approx(1000 + 1000 + 200 + 100)
    times = [prof.time_of(j) for j in range(prof.slots)]
    assert times == sorted(times) and times[0] == 0.0 and times[-1] < prof.duration
    for t in range(5):  # the sends in each second are the rate's integral over it (± rounding)
        n = sum(1 for x in times if t <= x < t + 1)
        assert abs(n - (prof.count_at(t + 1) - prof.count_at(t))) <= 1
    assert prof.rate_at(0.5) == pytest.approx(250) and prof.rate_at(3.5) == 200 and prof.rate_at(4.5) == pytest.approx(100)
    assert prof.first_rate == 1000


def test_stage_validation_names_the_line(tmp_path: Path) -> None:
    bad = {
        "rate: [{to: 100, over: 2s}, {hold: 1s, to: 5}]\n": (2, "rate[1]"),
        "rate: [{to: 100, over: 2s}, {hols: 1s}]\n": (2, "rate[1].hols"),
        "rate:\n  - {to: 100, over: 2s}\n  - {to: -5}\n": (4, "rate[1].to"),
        "rate: [{to: 100}]\n": (2, "rate"),
        "rate: [{hold: 2s}]\n": (2, "rate"),
        "duration: 5s\nrate: [{to: 100, over: 2s}]\n": (2, "duration"),
    }
    for text, (line, field) in bad.items():
        with pytest.raises(ScenarioError) as e:
            parse.loads("name: x\n" + text + "operations: [{op: ping}]\n", path="s.yaml")
        assert e.value.line == line and e.value.field == field, (text, str(e.value))
    ok = parse.loads("name: x\nrate: [{to: 100, over: 2s}, {hold: 1s}]\n"
                     "operations: [{op: ping}]\n")
    assert ok.duration == 3.0 and ok.open_loop
    assert ok.normalized()["rate"] == [{"to": 100.0, "over": 2.0}, {"hold": 1.0}]
    # --rate replaces the stages; --duration cannot stretch them
    assert ok.override(rate=50.0).stages == ()
    with pytest.raises(ScenarioError):
        ok.override(duration=10.0)


def test_a_ramp_and_a_step_are_sent_as_scheduled(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, """
        name: stages
        workers: 2
        concurrency: 20
        warmup: 0.5s
        rate:
          - {to: 1500, over: 3s}
          - {hold: 1s}
          - {to: 400}
          - {hold: 1s}
        operations: [{op: ping}]
    """)
    out = tmp_path / "r.json"
    r = run_loadtnt("run", path, "--out", out)
    assert r.returncode == 0, r.stderr
    res = read_json(out)
    prof = parse.load(path).profile
    assert prof is not None
    (entry,) = res["runs"]
    measured = [p for p in entry["timeline"] if p["t_s"] >= 0]
    # the whole schedule went out, and the server counted every request
    assert entry["scheduled"] == entry["sent"] == prof.slots == 1500 * 1.5 + 1500 + 400
    assert entry["dropped"] == 0
    assert res["server"][0]["delta"]["REQUESTS"] == entry["requests"] == prof.slots
    for p in measured:
        if p.get("len_s", 1.0) != 1.0:
            continue
        t = p["t_s"]
        intended = math.ceil(prof.count_at(t + 1) - 1e-9) - math.ceil(prof.count_at(t) - 1e-9)
        # within 5 % (plus the sends a late wake-up of the ticker moves across a second's mark,
        # ~20 ms at 1500/s on a loaded machine); the totals above and below are exact
        assert abs(p["sent"] - intended) <= 0.05 * intended + 30, (t, p, intended)
        assert p["target_rps"] == pytest.approx(intended, abs=1.0)
    assert sum(p["sent"] for p in measured) == prof.slots
    kinds = [(s["kind"], s["scheduled"]) for s in entry["stages"]]
    assert kinds == [("ramp", 2250), ("hold", 1500), ("hold", 400)]
    for s in entry["stages"]:
        assert abs(s["sent"] - s["scheduled"]) <= 0.01 * s["scheduled"] + 3
    warm = [p for p in entry["timeline"] if p["t_s"] < 0]
    assert warm and all(p["target_rps"] == 1500 for p in warm)
