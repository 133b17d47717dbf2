"""Decode, merge and sample HdrHistogram V2 histograms (values in microseconds)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

# Spectrum x positions: 1/(1-p) from 1 (p0) to 10^5 (p99.999), evenly spaced on a log axis.
SPECTRUM_DECADES = 5
SPECTRUM_POINTS = 400


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded)


def merge(encoded: Iterable[str | None]) -> HdrHistogram | None:
    """All histograms added into one (lossless), or None when there is none."""
    merged: HdrHistogram | None = None
    for e in encoded:
        if not e:
            continue
        h = decode(e)
        if merged is None:
            merged = HdrHistogram(h.lowest_trackable_value, h.highest_trackable_value,
                                  h.significant_figures)
        merged.add(h)
    return merged if merged is not None and merged.get_total_count() > 0 else None


def value_at_percentiles(h: HdrHistogram, percentiles: np.ndarray) -> np.ndarray:
    """h.get_value_at_percentile for many percentiles at once: one pass over the recorded
    buckets, then a binary search (hdrh's own method rescans the counts for every call)."""
    values, counts = [], []
    for item in h.get_recorded_iterator():
        values.append(item.value_iterated_to)
        counts.append(item.count_at_value_iterated_to)
    if not values:
        return np.zeros(len(percentiles))
    cum = np.cumsum(np.array(counts, dtype=np.int64))
    total = int(cum[-1])
    targets = np.maximum(1, (np.minimum(percentiles, 100.0) / 100 * total + 0.5).astype(np.int64))
    idx = np.minimum(np.searchsorted(cum, targets, side="left"), len(values) - 1)
    return np.array(values, dtype=float)[idx]


def spectrum(h: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """(x, latency_us) with x = 1/(1-p): the percentile spectrum, up to the resolution the
    sample count supports (no point beyond the p that one request represents)."""
    count = h.get_total_count()
    top = min(SPECTRUM_DECADES, np.log10(max(count, 1)))
    x = np.logspace(0, top, SPECTRUM_POINTS)
    y = value_at_percentiles(h, (1 - 1 / x) * 100)
    # The last point: the max, drawn at the far right like HdrHistogram's plotter.
    return np.append(x, x[-1]), np.append(y, float(h.get_max_value()))
