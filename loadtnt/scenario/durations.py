"""Durations as scenarios write them: ``10s``, ``500ms``, ``2m``, ``1h`` or a number of seconds."""
from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m|h)?\s*")


def parse_duration(value: object) -> float:
    """Seconds from ``value``; ValueError or TypeError with a readable message when it is not a duration."""
    if isinstance(value, bool):
        raise TypeError(f"expected a duration like 10s, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _RE.fullmatch(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration like 10s, 500ms or 2m, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds
