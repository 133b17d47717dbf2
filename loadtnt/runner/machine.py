"""How busy the machine was: CPU used during a measured window by processes other than the
harness (this process and its descendants: workers, the embedded server) and a local server.

From /proc (Linux): the machine's busy time from /proc/stat less the own processes' utime + stime
from /proc/PID/stat, over the window's wall-clock time, in cores.  Elsewhere: None.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

BUSY_CORES = 0.2  # more than this used by others during a window: the machine was busy
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    wall: float
    busy_ticks: int
    own_ticks: dict[int, int]


def _machine_busy_ticks() -> int:
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is already in user)
    return sum(fields[:8]) - fields[3] - fields[4]


def _proc_stat(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on


def _ticks(pid: int) -> int | None:
    st = _proc_stat(pid)
    return int(st[11]) + int(st[12]) if st else None  # utime, stime


def own_pids(extra: Iterable[int] = ()) -> set[int]:
    """This process, its descendants and ``extra`` (e.g. a local server's pid)."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(name)
            if st:
                parent[int(name)] = int(st[1])
    mine = {os.getpid(), *extra}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return mine


def sample(pids: Iterable[int]) -> Sample | None:
    try:
        busy = _machine_busy_ticks()
    except (OSError, ValueError, IndexError):
        return None
    own = {}
    for pid in pids:
        t = _ticks(pid)
        if t is not None:
            own[pid] = t
    return Sample(time.monotonic(), busy, own)


def min_window_s() -> float:
    """The shortest window whose busy cores can be told: /proc counts CPU in clock ticks
    (10 ms), so one tick must be at most a tenth of :data:`BUSY_CORES` over the window
    (0.5 s at 100 ticks/s); over a shorter one a single tick reads as a busy machine."""
    return 10.0 / (_TICK * BUSY_CORES)


def other_cores(before: Sample | None, after: Sample | None) -> float | None:
    """Cores used by other processes between two samples (None when /proc is not there, or
    when the samples are closer than :func:`min_window_s`: too short to tell)."""
    if before is None or after is None or after.wall - before.wall < min_window_s():
        return None
    own = sum(after.own_ticks[p] - t for p, t in before.own_ticks.items() if p in after.own_ticks)
    # an own process that started after the first sample counts from zero
    own += sum(t for p, t in after.own_ticks.items() if p not in before.own_ticks)
    other = (after.busy_ticks - before.busy_ticks - own) / _TICK
    return round(max(other, 0.0) / (after.wall - before.wall), 3)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) ``pid`` has used so far, seconds (None: not readable)."""
    t = _ticks(pid)
    return t / _TICK if t is not None else None
