"""The per-second timeline from the workers' ticks (loadtnt.results.entries.timeline), no server."""
from __future__ import annotations

from typing import Any

from loadtnt.results.entries import timeline


def _bucket(length: float, **ops: int) -> dict[str, Any]:
    return {"len_s": length,
            "ops": {name: {"requests": n, "errors": n // 10, "hist": [(100, n)] if n else []}
                    for name, n in ops.items()}}


def test_measured_seconds_then_a_partial_last_one() -> None:
    out = timeline({}, {1: _bucket(1.0, a=100, b=10), 2: _bucket(1.0, a=90, b=9),
                        3: _bucket(0.5, a=50, b=0)})
    assert [(p["t_s"], p["requests"], p.get("len_s")) for p in out["a"]] == [
        (0, 100, None), (1, 90, None), (2, 50, 0.5)]
    assert [p["errors"] for p in out["a"]] == [10, 9, 5]
    assert out["b"][-1] == {"t_s": 2, "requests": 0, "errors": 0, "p99_us": None,
                            "p50_us": None, "p999_us": None, "len_s": 0.5}
    assert out["a"][0]["p99_us"] == 100


def test_a_tiny_remainder_joins_the_second_before() -> None:
    # the requests in flight at the end of a 2 s window, completed 3 ms after its last tick
    out = timeline({}, {1: _bucket(1.0, a=100), 2: _bucket(1.0, a=100), 3: _bucket(0.003, a=4)})
    assert [(p["t_s"], p["requests"], p.get("len_s")) for p in out["a"]] == [
        (0, 100, None), (1, 104, 1.003)]
    assert sum(p["requests"] for p in out["a"]) == 204


def test_warmup_seconds_count_back_from_the_window() -> None:
    out = timeline({1: _bucket(1.0, a=50), 2: _bucket(1.0, a=80), 3: _bucket(0.5, a=40)},
                   {1: _bucket(1.002, a=100)})
    assert [(p["t_s"], p["requests"], p.get("len_s")) for p in out["a"]] == [
        (-3, 50, None), (-2, 80, None), (-1, 40, 0.5), (0, 100, 1.002)]
    # a warm-up of one second and a tail: still one bucket, just before the window
    out = timeline({1: _bucket(1.0, a=50), 2: _bucket(0.01, a=1)}, {1: _bucket(0.8, a=80)})
    assert [(p["t_s"], p["requests"], p.get("len_s")) for p in out["a"]] == [
        (-1, 51, 1.01), (0, 80, 0.8)]
