"""Value generators: what a scenario may write wherever a value stands.

``{uniform: [lo, hi]}``, ``{zipf: [lo, hi, s]}``, ``{sequential: start}``, ``{string: length}``
or a constant; lists and mappings may nest generators (``tuple: [{sequential: 1}, {string: 8}]``).
:func:`compile_value` turns such a spec into a :class:`Generator`, whose ``fn`` gives one fresh value
per call.  Everything here is pure Python (workers under other interpreters import it).
"""
from __future__ import annotations

import bisect
import itertools
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("uniform", "zipf", "sequential", "string")
ZIPF_MAX_RANGE = 10_000_000
STRING_MAX = 1 << 20


class GeneratorError(ValueError):
    """A bad generator spec; ``path`` locates it inside the value (keys and indexes)."""

    def __init__(self, message: str, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Context:
    """Where values are generated: worker ``index`` of ``count`` (sequences interleave)."""

    index: int = 0
    count: int = 1
    seed: int | None = None


class Generator:
    """``fn()`` gives one value; ``is_constant`` tells whether it always gives the same one."""

    __slots__ = ("fn", "is_constant")

    def __init__(self, fn: Callable[[], Any], is_constant: bool) -> None:
        self.fn = fn
        self.is_constant = is_constant

    def __call__(self) -> Any:
        return self.fn()


def constant(value: Any) -> Generator:
    return Generator(lambda: value, True)


def is_generator_spec(spec: Any) -> bool:
    return isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in KINDS


def compile_value(spec: Any, ctx: Context | None = None, rng: random.Random | None = None,
                  ) -> Generator:
    """Compile a value spec (constant, generator, or list/mapping nesting them)."""
    ctx = ctx or Context()
    rng = rng or random.Random(ctx.seed)
    return _compile(spec, ctx, rng, ())


def _compile(spec: Any, ctx: Context, rng: random.Random, path: tuple[Any, ...]) -> Generator:
    if is_generator_spec(spec):
        kind, arg = next(iter(spec.items()))
        return Generator(_BUILDERS[kind](arg, ctx, rng, path + (kind,)), False)
    if isinstance(spec, list | tuple):
        parts = [_compile(v, ctx, rng, path + (i,)) for i, v in enumerate(spec)]
        if all(p.is_constant for p in parts):
            return constant(list(spec))
        fns = [p.fn for p in parts]
        return Generator(lambda: [f() for f in fns], False)
    if isinstance(spec, dict):
        items = [(k, _compile(v, ctx, rng, path + (k,))) for k, v in spec.items()]
        if all(g.is_constant for _, g in items):
            return constant(dict(spec))
        pairs = [(k, g.fn) for k, g in items]
        return Generator(lambda: {k: f() for k, f in pairs}, False)
    return constant(spec)


def _int(v: Any, what: str, path: tuple[Any, ...]) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise GeneratorError(f"{what} must be an integer, got {v!r}", path)
    return v


def _range(arg: Any, n: int, form: str, path: tuple[Any, ...]) -> list[Any]:
    if not isinstance(arg, list) or len(arg) != n:
        raise GeneratorError(f"expected {form}, got {arg!r}", path)
    lo = _int(arg[0], "lo", path)
    hi = _int(arg[1], "hi", path)
    if lo > hi:
        raise GeneratorError(f"lo ({lo}) is greater than hi ({hi})", path)
    return arg


def _uniform(arg: Any, ctx: Context, rng: random.Random, path: tuple[Any, ...]):
    lo, hi = _range(arg, 2, "[lo, hi]", path)
    n = hi - lo + 1
    rand = rng.random
    return lambda: lo + int(rand() * n)


_ZIPF_CACHE: dict[tuple[int, float], array] = {}


def _zipf_cdf(n: int, s: float) -> array:
    cdf = _ZIPF_CACHE.get((n, s))
    if cdf is None:
        cdf = array("d", itertools.accumulate(k ** -s for k in range(1, n + 1)))
        _ZIPF_CACHE[(n, s)] = cdf
    return cdf


def _zipf(arg: Any, ctx: Context, rng: random.Random, path: tuple[Any, ...]):
    lo, hi, s = _range(arg, 3, "[lo, hi, s]", path)
    if isinstance(s, bool) or not isinstance(s, int | float) or s <= 0:
        raise GeneratorError(f"s must be a positive number, got {s!r}", path)
    n = hi - lo + 1
    if n > ZIPF_MAX_RANGE:
        raise GeneratorError(f"zipf range too large ({n} > {ZIPF_MAX_RANGE})", path)
    cdf = _zipf_cdf(n, float(s))
    total = cdf[-1]
    rand = rng.random
    find = bisect.bisect_left
    last = n - 1
    # rank 1 (the most frequent value) is lo, rank 2 is lo + 1, ...
    return lambda: lo + min(find(cdf, rand() * total), last)


def _sequential(arg: Any, ctx: Context, rng: random.Random, path: tuple[Any, ...]):
    start = _int(arg, "start", path)
    # worker i of n takes start+i, start+i+n, ...: sequences never collide across workers
    return itertools.count(start + ctx.index, ctx.count).__next__


def _string(arg: Any, ctx: Context, rng: random.Random, path: tuple[Any, ...]):
    n = _int(arg, "length", path)
    if not 0 <= n <= STRING_MAX:
        raise GeneratorError(f"length must be within 0..{STRING_MAX}, got {n}", path)
    nbytes = n // 2 + 1
    randbytes = rng.randbytes
    return lambda: randbytes(nbytes).hex()[:n]


_BUILDERS = {"uniform": _uniform, "zipf": _zipf, "sequential": _sequential, "string": _string}
