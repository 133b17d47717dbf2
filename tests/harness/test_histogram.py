"""Recording: HdrHistogram's layout, lossless merge, the V2 encoding."""
from __future__ import annotations

import random

import pytest
from hdrh.histogram import HdrHistogram

from loadtnt import histogram
from loadtnt.histogram import layout
from loadtnt.histogram._pyrecorder import Recorder as PyRecorder


def _values(n: int, seed: int) -> list[int]:
    rnd = random.Random(seed)
    return [int(rnd.lognormvariate(6, 2)) for _ in range(n)] + [0, 1, 2047, 2048, 10**9]


def test_fast_recorder_is_built() -> None:
    assert histogram.FAST, "build the Cython recorder: make build"


def test_layout_matches_hdrhistogram() -> None:
    ref = HdrHistogram(layout.LOWEST, layout.HIGHEST, layout.DIGITS)
    assert ref.counts_len == layout.COUNTS_LEN
    for v in _values(5000, 1):
        i = layout.index_for(v)
        assert i == ref.get_counts_array_index(v)
        assert layout.highest_equivalent(i) == ref.get_highest_equivalent_value(v)


def test_recorder_equals_hdrhistogram_record_value() -> None:
    values = _values(20000, 2)
    rec, py, ref = histogram.Recorder(), PyRecorder(), histogram.empty()
    for v in values:
        rec.record(v)
        py.record(v)
        ref.record_value(v)
    assert rec.nonzero() == py.nonzero()
    h = histogram.decode(histogram.encode(rec))
    assert h.get_total_count() == len(values)
    assert histogram.percentiles(h) == histogram.percentiles(ref)
    assert [h.get_count_at_index(i) for i in range(h.counts_len)] == \
           [ref.get_count_at_index(i) for i in range(ref.counts_len)]


def test_merge_equals_single_histogram_of_all_values() -> None:
    parts = [_values(3000, seed) for seed in range(5)]
    encoded = []
    for vals in parts:
        r = histogram.Recorder()
        for v in vals:
            r.record_ns(v * 1000 + 499)  # ns in, µs recorded (to the nearest)
        encoded.append(histogram.encode(r))
    merged = histogram.merge(encoded)
    single = histogram.Recorder()
    for vals in parts:
        for v in vals:
            single.record(v)
    whole = histogram.decode(histogram.encode(single))
    assert merged.get_total_count() == whole.get_total_count() == sum(map(len, parts))
    assert [merged.get_count_at_index(i) for i in range(merged.counts_len)] == \
           [whole.get_count_at_index(i) for i in range(whole.counts_len)]
    assert histogram.percentiles(merged) == histogram.percentiles(whole)


def test_clamps_and_interval() -> None:
    r = histogram.Recorder()
    r.record(-5)
    r.record(layout.HIGHEST * 10)
    assert r.total == 2 and r.min_value == 0 and r.max_value == layout.HIGHEST
    assert r.clamped == 1  # the value over 1 h is counted, not silently cut
    assert r.itotal == 2
    pairs = r.take_interval()
    assert sum(c for _, c in pairs) == 2 and r.itotal == 0 and r.total == 2
    r.record(1000)
    assert histogram.sparse_percentile(r.take_interval(), 99.0) == 1000


def test_sparse_percentile_matches_hdr() -> None:
    values = _values(10000, 3)
    r = histogram.Recorder()
    for v in values:
        r.record(v)
    h = histogram.decode(histogram.encode(r))
    for q in (50.0, 90.0, 99.0, 99.9):
        assert histogram.sparse_percentile(r.nonzero(), q) == h.get_value_at_percentile(q)


@pytest.mark.parametrize("impl", ["fast", "python"])
def test_nanoseconds_round_to_the_nearest_microsecond(impl: str) -> None:
    from loadtnt.histogram import _pyrecorder

    r = histogram.Recorder() if impl == "fast" else _pyrecorder.Recorder()
    for ns in (1999, 1500, 1499, 2000):
        r.record_ns(ns)
    h = histogram.decode(histogram.encode(r))
    assert h.get_count_at_value(2) == 3 and h.get_count_at_value(1) == 1  # floor read 1,1,1,2
    r.record(layout.HIGHEST + 1)
    assert r.clamped == 1


def test_percentiles_of_nothing_are_null_and_max_is_the_recorded_one() -> None:
    assert set(histogram.percentiles(histogram.empty()).values()) == {None}
    r = histogram.Recorder()
    r.record(100_123)  # bucket 100,096 .. 100,159 µs
    h = histogram.decode(histogram.encode(r))
    assert histogram.percentiles(h, r.max_value)["max"] == 100_123
    assert h.get_max_value() != 100_123  # the histogram alone gives its bucket's top
