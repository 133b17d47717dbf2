"""Small pieces of the report: percentile lookup equals hdrh's own, the timeline's two layouts,
tolerant reading of result entries."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from loadtnt.report import hist, timeline
from loadtnt.report.load import Run, parse_result
from tests.report.report_synth import make_result, new_histogram


def test_value_at_percentiles_matches_hdrh() -> None:
    rng = random.Random(1)
    h = new_histogram()
    for _ in range(20_000):
        h.record_value(int(rng.lognormvariate(7, 1)))
    ps = np.array([1, 10, 50, 90, 99, 99.9, 99.99, 100])
    assert list(hist.value_at_percentiles(h, ps)) == [h.get_value_at_percentile(p) for p in ps]


def test_merge_is_lossless_and_skips_missing() -> None:
    a, b = new_histogram(), new_histogram()
    a.record_value(100, 5)
    b.record_value(10_000, 3)
    merged = hist.merge([a.encode().decode(), None, b.encode().decode()])
    assert merged is not None and merged.get_total_count() == 8
    assert merged.get_max_value() == b.get_max_value()
    assert hist.merge([None, ""]) is None


def _run(op: str, points: list[tuple[int, int]]) -> dict:
    return {"driver": "loadtnt", "loop": "uvloop", "trial": 1, "op": op, "requests": 1,
            "timeline": [{"t_s": t, "requests": n, "errors": 0, "p99_us": 100 * n}
                         for t, n in points]}


def _result(mix: bool, runs: list[dict]):
    data = make_result(lambda *a: 1.0, ops=("a", "b"))
    data["scenario"]["mix"] = mix
    data["runs"] = runs
    return parse_result(data, Path("x.json"))


def test_timeline_of_a_mix_sums_ops_per_second() -> None:
    res = _result(True, [_run("a", [(0, 10), (1, 20)]), _run("b", [(0, 1), (1, 2)])])
    shifts, windows = timeline.layout([res], "uvloop")
    assert shifts == {"a": 0, "b": 0} and windows == [("", 0, 2)]
    ts, req, _err, p99 = timeline.per_second(res.runs, shifts)
    assert list(ts) == [0, 1] and list(req) == [11, 22]
    assert list(p99) == [1000, 2000]  # the slowest op's p99


def test_timeline_of_ops_in_turn_lays_windows_end_to_end() -> None:
    res = _result(False, [_run("a", [(-1, 5), (0, 10), (1, 20)]), _run("b", [(0, 1), (1, 2)])])
    shifts, windows = timeline.layout([res], "uvloop")
    assert windows == [("a", 0, 3), ("b", 4, 6)]  # one empty second between windows
    assert shifts == {"a": 1, "b": 4}
    ts, req, _err, _p99 = timeline.per_second(res.runs, shifts)
    assert list(ts) == [0, 1, 2, 3, 4, 5]
    assert np.isnan(req[3]) and list(req[:3]) == [5, 10, 20] and list(req[4:]) == [1, 2]


def test_timeline_rate_of_a_partial_last_second_uses_its_length() -> None:
    run = _run("a", [(-1, 8), (0, 10), (1, 5)])
    run["timeline"][-1]["len_s"] = 0.5  # 5 requests in the window's last half second
    res = _result(True, [run])
    shifts, windows = timeline.layout([res], "uvloop")
    assert windows == [("", -1, 1.5)]
    ts, req, _err, _p99, length = timeline.per_bucket(res.runs, shifts)
    assert list(ts) == [-1, 0, 1] and list(req) == [8, 10, 10] and list(length) == [1, 1, 0.5]


def test_run_entries_tolerate_other_shapes() -> None:
    r = Run.from_json({"driver": "d", "loop": "l", "op": "o", "requests": 100,
                       "duration_s": 2.0, "errors": {"total": 3, "by_kind": {"timeout": 3}}},
                      "here")
    # rps counts successful requests only (97 in 2 s), even in files that counted errors in
    assert r.rps == 48.5 and r.errors == 3 and r.errors_by_kind == {"timeout": 3}
    assert r.trial == 1 and r.histogram is None and r.timeline == []
    with pytest.raises(Exception, match="here: missing field 'op'"):
        Run.from_json({"driver": "d", "loop": "l"}, "here")


# --- issue 21: the throughput chart's labels, wording with one trial ------------------------

def _chart_figure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: dict, module):
    """Draw with ``module.draw`` and keep the figure ``style.finish`` would have closed."""
    from loadtnt.report import style

    kept = {}

    def finish(fig, title, results, path):
        kept["fig"] = fig
        fig.savefig(path)
        return path

    monkeypatch.setattr(style, "finish", finish)
    res = parse_result(data, tmp_path / "r.json", label="r")
    return res, kept, finish


def test_throughput_bar_labels_never_overlap(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    from loadtnt.report import throughput
    from tests.report.report_synth import LOOP_FACTOR, SEED_OPS

    # the seed suite's shape and README's figures: three drivers, six ops, two loops, asynctnt
    # and aiotarantool within a few % of each other (their labels, side by side, overlapped)
    rps = {"loadtnt": 251_330.0, "asynctnt": 90_487.0, "aiotarantool": 89_247.0}
    data = make_result(lambda d, lp, op, t: rps[d] * LOOP_FACTOR[lp] * (1 + t / 100)
                       * (1 + SEED_OPS.index(op) / 50),
                       drivers=("loadtnt", "asynctnt", "aiotarantool"),
                       loops=("uvloop", "asyncio"), ops=SEED_OPS, trials=3)
    res, kept, _ = _chart_figure(monkeypatch, tmp_path, data, throughput)
    assert throughput.draw([res], tmp_path / "t.png") is not None
    fig = kept["fig"]
    labels = [t for ax in fig.axes for t in ax.texts]
    assert len(labels) == 3 * 6 * 2
    assert not throughput.overlapping(fig, labels)
    # two drivers and two ops have room: their labels stay horizontal
    data = make_result(lambda d, lp, op, t: 1000.0 * (1 + t), ops=("ping", "call"), trials=1)
    res, kept, _ = _chart_figure(monkeypatch, tmp_path, data, throughput)
    throughput.draw([res], tmp_path / "t2.png")
    labels = [t for ax in kept["fig"].axes for t in ax.texts]
    assert labels and all(t.get_rotation() == 0 for t in labels)
    assert not throughput.overlapping(kept["fig"], labels)
    # one trial: no "median of 1 trials"
    assert kept["fig"].axes[0].get_ylabel() == "requests/s (one trial)"


def test_one_trial_wording_in_the_summary_and_the_timeline(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from loadtnt.results import summary

    one = [{"driver": "loadtnt", "loop": "uvloop", "trial": 1, "op": "ping", "rps": 10.0,
            "requests": 10, "errors": 0, "latency_us": {"p99": 5}}]
    text = summary.render(one, drivers=["loadtnt"], loops=["uvloop"], ops=["ping"])
    assert "one trial" in text and "median" not in text and "half their range" not in text
    three = [dict(one[0], trial=t) for t in (1, 2, 3)]
    text = summary.render(three, drivers=["loadtnt"], loops=["uvloop"], ops=["ping"])
    assert "median of the trials ± half their range" in text

    data = make_result(lambda d, lp, op, t: 1000.0, trials=1, with_timeline=True)
    res, kept, _ = _chart_figure(monkeypatch, tmp_path, data, timeline)
    assert timeline.draw([res], "uvloop", tmp_path / "tl.png") is not None
    titles = [ax.get_legend().get_title().get_text() for ax in kept["fig"].axes
              if ax.get_legend() is not None]
    assert titles and not any("later trials" in t for t in titles)
    data = make_result(lambda d, lp, op, t: 1000.0, trials=2, with_timeline=True)
    res, kept, _ = _chart_figure(monkeypatch, tmp_path, data, timeline)
    timeline.draw([res], "uvloop", tmp_path / "tl2.png")
    titles = [ax.get_legend().get_title().get_text() for ax in kept["fig"].axes
              if ax.get_legend() is not None]
    assert any("faded: later trials" in t for t in titles)
