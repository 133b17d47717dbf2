"""HdrHistogram's bucket layout for the harness's histograms: 1 µs .. 1 hour, 3 significant digits.

The same arithmetic as HdrHistogram (and the ``hdrhistogram`` package), so a counts index of
:mod:`._recorder` is an index of ``hdrh.histogram.HdrHistogram(LOWEST, HIGHEST, DIGITS)``.
"""
from __future__ import annotations

import math

LOWEST = 1
HIGHEST = 3_600_000_000  # one hour in microseconds
DIGITS = 3

UNIT_MAGNITUDE = math.floor(math.log(LOWEST) / math.log(2))
_SUB_MAG = math.ceil(math.log(2 * 10**DIGITS) / math.log(2))
SUB_BUCKET_HALF_COUNT_MAGNITUDE = _SUB_MAG - 1 if _SUB_MAG > 1 else 0
SUB_BUCKET_COUNT = 1 << (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
SUB_BUCKET_HALF_COUNT = SUB_BUCKET_COUNT // 2
SUB_BUCKET_MASK = (SUB_BUCKET_COUNT - 1) << UNIT_MAGNITUDE


def _bucket_count(value: int) -> int:
    smallest_untrackable = SUB_BUCKET_COUNT << UNIT_MAGNITUDE
    n = 1
    while smallest_untrackable <= value:
        smallest_untrackable <<= 1
        n += 1
    return n


BUCKET_COUNT = _bucket_count(HIGHEST)
COUNTS_LEN = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT


def index_for(value: int) -> int:
    """The counts index of ``value`` (µs), clamped to the histogram's range."""
    value = min(max(int(value), 0), HIGHEST)
    pow2ceiling = (value | SUB_BUCKET_MASK).bit_length()
    bucket = pow2ceiling - UNIT_MAGNITUDE - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
    sub = value >> (bucket + UNIT_MAGNITUDE)
    return ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub - SUB_BUCKET_HALF_COUNT


def value_for(index: int) -> int:
    """The lowest value (µs) counted at ``index``."""
    bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1
    sub = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT
    if bucket < 0:
        sub -= SUB_BUCKET_HALF_COUNT
        bucket = 0
    return sub << (bucket + UNIT_MAGNITUDE)


def highest_equivalent(index: int) -> int:
    """The highest value (µs) counted at ``index`` (what HdrHistogram reports as a percentile)."""
    value = value_for(index)
    bucket = max((index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1, 0)
    return value + (1 << (bucket + UNIT_MAGNITUDE)) - 1
