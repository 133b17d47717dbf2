"""What the coordinator tells the live views (the dashboard, Prometheus) while a run goes.

:class:`~loadtnt.runner.session.Session` calls its observers at four points, all in the
coordinator's event loop and none of them awaited: a phase starts (:class:`PhaseStart`), a
per-second tick has been merged from every worker (:class:`Tick`: the same merged counts the
result's ``timeline`` is built from), a measured group ends (:class:`GroupEnd`: its ``runs``
entries as written to the file), and the run ends (:class:`RunEnd`). The workers do nothing
for it. An observer that raises is reported once and dropped: a view never stops a run.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class PhaseStart:
    phase: str                # "warmup" or "measure"
    server: str               # the server set-up's name
    driver: str
    loop: str
    trial: int
    ops: tuple[str, ...]      # the group's operations (all of them for a mix)
    label: str                # as the progress line says it
    start_at: float           # wall-clock start of the phase (the workers' barrier), s
    seconds: float | None     # its planned length (None: a request count)
    worker_pids: tuple[int, ...] = ()
    server_pid: int | None = None  # a local server's pid (its CPU is shown), when known
    # box.stat() totals of the server under load, for its per-second rates (None: unknown)
    box_stat: Callable[[], Awaitable[dict[str, int]]] | None = None


@dataclasses.dataclass(frozen=True)
class Tick:
    phase: str
    t: int                    # the phase's 1-based second
    len_s: float              # the tick's real length (a phase's last one is shorter)
    ops: dict[str, dict[str, Any]]  # op → {"requests", "errors", "hist": [(index, count)], …}


@dataclasses.dataclass(frozen=True)
class GroupEnd:
    entries: list[dict[str, Any]]   # the group's ``runs`` entries (with their ``timeline``)
    server: dict[str, Any]          # its ``server`` entry (box.stat() deltas)


@dataclasses.dataclass(frozen=True)
class RunEnd:
    result: dict[str, Any]
    path: Path | None         # where the result was written (None: nothing was)
    code: int | None = None


class Observer:
    """Every hook does nothing unless overridden."""

    def phase(self, ev: PhaseStart) -> None:
        pass

    def tick(self, ev: Tick) -> None:
        pass

    def group_end(self, ev: GroupEnd) -> None:
        pass

    def run_end(self, ev: RunEnd) -> None:
        pass


class Observers:
    """The session's observers, called in order; one that raises is dropped with a warning."""

    def __init__(self, observers: Iterable[Observer] = (),
                 warn: Callable[[str], None] | None = None) -> None:
        self.items = list(observers)
        self._warn = warn

    def __bool__(self) -> bool:
        return bool(self.items)

    def _call(self, hook: str, ev: Any) -> None:
        for obs in list(self.items):
            try:
                getattr(obs, hook)(ev)
            except Exception as e:  # noqa: BLE001 - a live view must never stop the run
                self.items.remove(obs)
                if self._warn is not None:
                    self._warn(f"{type(obs).__name__} stopped: {type(e).__name__}: {e}")

    def phase(self, ev: PhaseStart) -> None:
        self._call("phase", ev)

    def tick(self, ev: Tick) -> None:
        self._call("tick", ev)

    def group_end(self, ev: GroupEnd) -> None:
        self._call("group_end", ev)

    def run_end(self, ev: RunEnd) -> None:
        self._call("run_end", ev)
