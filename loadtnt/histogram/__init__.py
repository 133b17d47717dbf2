"""Latency histograms: cheap recording on the hot path, HdrHistogram V2 for everything else.

* :class:`Recorder` — per-operation counts in HdrHistogram's layout (:mod:`.layout`: µs,
  1 µs .. 1 h, 3 significant digits); the Cython :mod:`._recorder` when built, else a slow
  pure-Python stand-in (:data:`FAST` tells which).
* :func:`encode` / :func:`decode` / :func:`merge` — the standard V2 compressed base64 form via the
  ``hdrhistogram`` package, so any HdrHistogram tool reads the results.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtnt.histogram.layout import DIGITS, HIGHEST, LOWEST, highest_equivalent

try:
    from loadtnt.histogram._recorder import Recorder
    FAST = True
except ImportError:  # extension not built: correct, but ~1 µs per record
    from loadtnt.histogram._pyrecorder import Recorder  # type: ignore[assignment]
    FAST = False

__all__ = ["FAST", "PERCENTILES", "Recorder", "decode", "empty", "encode", "encode_all",
           "from_counts",
           "merge", "percentiles", "sparse_percentile", "sparse_percentiles",
           "sparse_sum"]

# the `latency_us` keys of a result and the percentiles they stand for
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def empty() -> HdrHistogram:
    return HdrHistogram(LOWEST, HIGHEST, DIGITS)


def from_counts(pairs: Iterable[tuple[int, int]], min_value: int | None = None,
                max_value: int | None = None) -> HdrHistogram:
    """An HdrHistogram holding ``(index, count)`` pairs (a :class:`Recorder`'s ``nonzero()``)."""
    h = empty()
    counts = h.counts
    lo = hi = -1
    total = 0
    for i, c in pairs:
        counts[i] += c
        total += c
        lo = i if lo < 0 else min(lo, i)
        hi = max(hi, i)
    if total:
        h.set_internal_tacking_values(lo, hi, total)
        if min_value is not None:
            h.min_value = min_value
        if max_value is not None:
            h.max_value = max_value
    return h


def encode(rec: Any) -> str:
    """A Recorder (or an HdrHistogram) as HdrHistogram V2 compressed base64."""
    h = rec if isinstance(rec, HdrHistogram) else from_counts(
        rec.nonzero(), rec.min_value, rec.max_value)
    out = h.encode()
    return out.decode("ascii") if isinstance(out, bytes) else out


def encode_all(recs: Iterable[Any]) -> str:
    """Several Recorders as one V2-encoded histogram (their sum)."""
    recs = list(recs)
    lo = min((r.min_value for r in recs), default=None)
    hi = max((r.max_value for r in recs), default=None)
    return encode(from_counts([p for r in recs for p in r.nonzero()], lo, hi))


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii") if isinstance(text, str) else text)


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """The lossless sum of V2-encoded histograms."""
    h = empty()
    for text in encoded:
        h.decode_and_add(text.encode("ascii") if isinstance(text, str) else text)
    return h


def percentiles(h: HdrHistogram, max_us: int | None = None) -> dict[str, int | None]:
    """``{p50, p90, p99, p999, max}`` in µs; all None for an empty histogram (no successful
    request: there is no latency to report, and 0 would read as a fast one).

    ``max_us``: the recorded maximum, when known (the histogram's own is the top of its bucket).
    """
    if h.get_total_count() == 0:
        return {k: None for k in (*PERCENTILES, "max")}
    out: dict[str, int | None] = {k: int(h.get_value_at_percentile(q))
                                  for k, q in PERCENTILES.items()}
    out["max"] = int(max_us) if max_us is not None else int(h.get_max_value())
    return out


def sparse_sum(*pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(index, count)`` pairs (each may repeat an index) summed: one pair per index, sorted."""
    merged: dict[int, int] = {}
    for seq in pairs:
        for i, c in seq:
            merged[i] = merged.get(i, 0) + c
    return sorted(merged.items())


def sparse_percentile(pairs: Iterable[tuple[int, int]], q: float) -> int | None:
    """Percentile ``q`` of ``(index, count)`` pairs (they may repeat an index), in µs."""
    return sparse_percentiles(pairs, (q,))[0]


def sparse_percentiles(pairs: Iterable[tuple[int, int]], qs: Iterable[float]
                       ) -> list[int | None]:
    """Percentiles ``qs`` (ascending or not) of ``(index, count)`` pairs in one pass, in µs;
    each as :func:`sparse_percentile` gives it."""
    qs = list(qs)
    merged: dict[int, int] = {}
    for i, c in pairs:
        merged[i] = merged.get(i, 0) + c
    total = sum(merged.values())
    if not total:
        return [None] * len(qs)
    order = sorted(range(len(qs)), key=lambda k: qs[k])
    targets = [max(1, int(qs[k] / 100.0 * total + 0.5)) for k in order]
    out: list[int | None] = [highest_equivalent(max(merged))] * len(qs)
    j, seen = 0, 0
    for i in sorted(merged):
        seen += merged[i]
        while j < len(order) and seen >= targets[j]:
            out[order[j]] = highest_equivalent(i)
            j += 1
        if j == len(order):
            break
    return out
