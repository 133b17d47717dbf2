"""Value generators, alone and nested in tuples and args."""
from __future__ import annotations

import collections

import pytest

from loadtnt.scenario.generators import Context, GeneratorError, compile_value
from loadtnt.scenario.opspec import build_specs


def test_constant_and_nested() -> None:
    g = compile_value(["a", 1, {"k": [2, 3]}])
    assert g.is_constant and g() == ["a", 1, {"k": [2, 3]}]
    g = compile_value([{"sequential": 10}, "x", {"n": {"uniform": [5, 5]}}, {"string": 7}])
    assert not g.is_constant
    a, b = g(), g()
    assert a[0] == 10 and b[0] == 11 and a[1] == "x" and a[2] == {"n": 5}
    assert len(a[3]) == 7 and a[3] != b[3]


def test_uniform_bounds() -> None:
    g = compile_value({"uniform": [3, 7]}, Context(seed=1))
    seen = {g() for _ in range(2000)}
    assert seen == {3, 4, 5, 6, 7}


def test_zipf_skew() -> None:
    g = compile_value({"zipf": [1, 1000, 1.1]}, Context(seed=2))
    counts = collections.Counter(g() for _ in range(20000))
    assert min(counts) >= 1 and max(counts) <= 1000
    assert counts[1] > counts[2] > counts[10] > 0
    assert counts[1] > 20000 * 0.1


def test_sequential_interleaves_across_workers() -> None:
    seqs = [compile_value({"sequential": 100}, Context(index=i, count=3)) for i in range(3)]
    values = [s() for _ in range(4) for s in seqs]
    assert sorted(values) == list(range(100, 112))


@pytest.mark.parametrize("spec", [{"uniform": [1]}, {"zipf": [1, 10, 0]}, {"sequential": "a"},
                                  {"string": -1}, [{"uniform": [2, 1]}]])
def test_bad_specs(spec: object) -> None:
    with pytest.raises(GeneratorError):
        compile_value(spec)


def test_specs_wrap_scalar_keys() -> None:
    [spec] = build_specs([{"op": "select", "name": "s", "weight": 1, "space": "t",
                           "key": {"uniform": [4, 4]}}], Context())
    assert spec.gen("key")() == [4] and spec.static("space") == "t"
    with pytest.raises(ValueError, match="constant"):
        spec.static("key")
