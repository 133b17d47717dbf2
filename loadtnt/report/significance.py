"""One-sided Mann-Whitney U test, exact for the small samples benchmarks have (trials), normal
approximation with tie correction beyond that. No scipy: the exact test is a permutation count.

Why one-sided: the questions `compare` and `check` ask are directional ("is NEW slower than
BASE?", "is NEW faster?"). With 3 trials each, complete separation gives p = 1/20 = 0.05, the
smallest p the data can give; `min_p_value` tells callers when a test cannot reach alpha at all.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from itertools import combinations

EXACT_LIMIT = 50_000  # permutations enumerated at most; beyond, the normal approximation


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties get their mid-rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def u_statistic(x: Sequence[float], y: Sequence[float]) -> float:
    """U of x: the number of (x, y) pairs with x > y, ties counting one half."""
    ranks = _ranks(list(x) + list(y))
    return sum(ranks[: len(x)]) - len(x) * (len(x) + 1) / 2


def p_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value for H1: x tends to be greater than y."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 1.0
    ranks = _ranks(list(x) + list(y))
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    if math.comb(n1 + n2, n1) <= EXACT_LIMIT:
        # Permutation distribution of the rank sum of x (exact, ties included).
        observed = sum(ranks[:n1])
        sums = _rank_sums(tuple(sorted(ranks)), n1)
        hits = len(sums) - bisect.bisect_left(sums, observed - 1e-9)
        return hits / len(sums)
    n = n1 + n2
    mean = n1 * n2 / 2
    counts: dict[float, int] = {}
    for r in ranks:
        counts[r] = counts.get(r, 0) + 1
    tie = sum(t**3 - t for t in counts.values())
    var = n1 * n2 / 12 * ((n + 1) - tie / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - mean - 0.5) / math.sqrt(var)  # continuity correction
    return 0.5 * math.erfc(z / math.sqrt(2))


@functools.lru_cache(maxsize=256)
def _rank_sums(ranks: tuple[float, ...], n1: int) -> list[float]:
    """Every rank sum of n1 of ``ranks``, sorted (the same ranks recur: cached, so that a
    suite's rows and a simulation's thousands of them enumerate once)."""
    return sorted(sum(chosen) for chosen in combinations(ranks, n1))


def p_less(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value for H1: x tends to be smaller than y."""
    return p_greater(y, x)


def min_p_value(n1: int, n2: int) -> float:
    """The smallest one-sided p-value samples of these sizes can give (complete separation)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return 1 / math.comb(n1 + n2, n1)
