"""The live state of a run, as the dashboard shows it: one JSON-able document and its updates.

:class:`LiveState` is an :class:`~loadtnt.live.observer.Observer`. Each merged tick becomes, per
op, the point the result's ``timeline`` holds for that second
(:func:`loadtnt.results.entries.timeline_point`); when a group ends its points are replaced by
the ``timeline`` of its ``runs`` entries as written to the file (the same numbers, with the
file's numbering of warm-up seconds and its short last bucket joined to the one before), so the
final page is the file. It also samples, once a tick, the CPU of the workers, of this process
(the coordinator, which serves the views) and of a local server, and polls the server's
box.stat() once a second while a phase runs (the session's admin connection; its own EVALs are
taken out of the file's deltas as the session's are).

Every change is a message ``{"event": name, "data": …}`` handed to :attr:`listeners`
(the dashboard's event streams): ``phase``, ``tick``, ``group``, ``end``; :meth:`snapshot` is the
whole document, for a page that connects late.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Callable
from typing import Any

from loadtnt.live.observer import GroupEnd, Observer, PhaseStart, RunEnd, Tick
from loadtnt.results.entries import TAIL_MERGE_S, timeline_point
from loadtnt.runner import machine

STAT_POLL_S = 1.0
CPU_MIN_S = 0.5  # CPU is sampled at most this often (/proc counts in 10 ms ticks)
BOX_TYPES = ("REQUESTS", "SELECT", "INSERT", "REPLACE", "UPDATE", "UPSERT", "DELETE", "CALL",
             "EVAL", "EXECUTE", "AUTH", "ERROR")


def group_key(ev: PhaseStart) -> str:
    return f"{ev.server}|{ev.driver}|{ev.loop}|{ev.trial}|{','.join(ev.ops)}"


class LiveState(Observer):
    def __init__(self, *, scenario: dict[str, Any], several_servers: bool = False) -> None:
        self.doc: dict[str, Any] = {
            "scenario": {"name": scenario.get("name"), "description": scenario.get("description"),
                         "drivers": scenario.get("drivers"), "loops": scenario.get("loops"),
                         "trials": scenario.get("trials"), "warmup": scenario.get("warmup"),
                         "duration": scenario.get("duration"),
                         "requests": scenario.get("requests"), "rate": scenario.get("rate")},
            "several_servers": several_servers,
            "status": "starting",  # warmup, measure, done
            "started_at": time.time(),
            "current": None,
            "groups": [],
            "cpu": [],  # [wall s, workers cores, coordinator cores, server cores | None]
            "box": [],  # [wall s, {box.stat type: per second}]
            "end": None,
        }
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._groups: dict[str, dict[str, Any]] = {}
        self._phase: PhaseStart | None = None
        self._cpu_last: tuple[float, dict[int, float]] | None = None
        self._poller: asyncio.Task[None] | None = None
        self.box_totals: dict[str, int] = {}  # the server's latest box.stat() totals
        self.box_server = ""                  # … of this server set-up
        self.cpu_now: dict[str, float | None] = {}

    # --- observer hooks ------------------------------------------------------------------

    def phase(self, ev: PhaseStart) -> None:
        self._phase = ev
        key = group_key(ev)
        g = self._groups.get(key)
        if g is None:
            g = {"key": key, "server": ev.server, "driver": ev.driver, "loop": ev.loop,
                 "trial": ev.trial, "ops": list(ev.ops), "label": ev.label, "final": False,
                 # the measured window's wall-clock start (until it starts: the expected one)
                 "t0": (ev.start_at + _warmup_buckets(ev.seconds or 0) if ev.phase == "warmup"
                        else ev.start_at),
                 "points": {}, "errors_by_kind": {}, "summary": {}}
            self._groups[key] = g
            self.doc["groups"].append(g)
            self._send("group", g)
        if ev.phase == "measure":
            g["t0"] = ev.start_at
        self.doc["status"] = ev.phase
        self.doc["current"] = {"phase": ev.phase, "label": ev.label, "key": key,
                               "server": ev.server, "driver": ev.driver, "loop": ev.loop,
                               "trial": ev.trial, "ops": list(ev.ops), "start_at": ev.start_at,
                               "seconds": ev.seconds, "t": 0}
        self._send("phase", {"current": self.doc["current"], "t0": g["t0"]})
        self._start_poller(ev)

    def tick(self, ev: Tick) -> None:
        ph = self._phase
        if ph is None or ev.phase != ph.phase:
            return
        g = self._groups[group_key(ph)]
        if ev.phase == "warmup":
            t_s = ev.t - 1 - _warmup_buckets(ph.seconds or 0)
        else:
            t_s = ev.t - 1
        points = {}
        for name, o in ev.ops.items():
            point = timeline_point(o, t_s, ev.len_s)
            g["points"].setdefault(name, []).append(point)
            points[name] = point
        now = time.time()
        cpu = self._sample_cpu(now, ph)
        box = self.doc["box"][-1] if self.doc["box"] else None
        self.doc["current"]["t"] = ev.t
        self._send("tick", {"key": g["key"], "phase": ev.phase, "t": ev.t, "points": points,
                            "cpu": cpu, "box": box})

    def group_end(self, ev: GroupEnd) -> None:
        self._stop_poller()
        if self._phase is None or not ev.entries:
            return
        g = self._groups[group_key(self._phase)]
        g["final"] = True
        g["points"] = {e["op"]: e.get("timeline", []) for e in ev.entries}
        g["errors_by_kind"] = {e["op"]: e.get("errors_by_kind", {}) for e in ev.entries}
        g["summary"] = {e["op"]: {k: e.get(k) for k in (
            "requests", "ok", "errors", "rps", "duration_s", "latency_us", "warnings")}
            for e in ev.entries}
        g["server_delta"] = ev.server.get("delta", {})
        self.doc["status"] = "between"
        self._send("group", g)

    def run_end(self, ev: RunEnd) -> None:
        self._stop_poller()
        self.doc["status"] = "done"
        self.doc["current"] = None
        self.doc["end"] = {"path": str(ev.path) if ev.path else None,
                           "partial": bool(ev.result.get("partial")),
                           "warnings": list(ev.result.get("warnings", [])),
                           "links": {}}
        self._send("end", self.doc["end"])

    # --- for the views ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return self.doc

    def add_link(self, name: str, url: str) -> None:
        """A link the final page shows (the result file, the HTML report)."""
        if self.doc["end"] is not None:
            self.doc["end"]["links"][name] = url
            self._send("end", self.doc["end"])

    def _send(self, event: str, data: Any) -> None:
        msg = {"event": event, "data": data}
        for listener in list(self.listeners):
            listener(msg)

    # --- probes ----------------------------------------------------------------------------

    def _sample_cpu(self, now: float, ph: PhaseStart) -> list[Any] | None:
        """CPU since the previous sample, cores (a process not in both samples — workers of
        a new group — is left out of that one)."""
        last = self._cpu_last
        if last is not None and now - last[0] < CPU_MIN_S:
            return None  # ticks that came together (a phase's end): too short to tell
        pids = {"workers": list(ph.worker_pids), "coordinator": [os.getpid()],
                "server": [ph.server_pid] if ph.server_pid else []}
        seconds: dict[int, float] = {}
        for pid in {p for ps in pids.values() for p in ps}:
            c = machine.cpu_seconds(pid)
            if c is not None:
                seconds[pid] = c
        self._cpu_last = (now, seconds)
        if last is None:
            return None
        dt = now - last[0]

        def cores(group: list[int]) -> float | None:
            used = [seconds[p] - last[1][p] for p in group if p in seconds and p in last[1]]
            return round(sum(used) / dt, 3) if used else None

        point = [round(now, 3), cores(pids["workers"]), cores(pids["coordinator"]),
                 cores(pids["server"])]
        self.cpu_now = {"workers": point[1], "coordinator": point[2], "server": point[3]}
        self.doc["cpu"].append(point)
        return point

    def _start_poller(self, ev: PhaseStart) -> None:
        self._stop_poller()
        if ev.box_stat is None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to poll with
            self._poller = asyncio.get_running_loop().create_task(
                self._poll(ev.box_stat, ev.server))

    def _stop_poller(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def _poll(self, box_stat: Any, server: str) -> None:
        last: tuple[float, dict[str, int]] | None = None
        while True:
            try:
                totals = await box_stat()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the server went away: no rates until next phase
                return
            now = time.time()
            self.box_totals = {k: v for k, v in totals.items() if not k.startswith("_")}
            self.box_server = server
            if last is not None and now > last[0]:
                dt = now - last[0]
                rates = {k: round((v - last[1].get(k, v)) / dt, 1)
                         for k, v in self.box_totals.items() if k in BOX_TYPES}
                self.doc["box"].append([round(now, 3), rates])
            last = (now, self.box_totals)
            await asyncio.sleep(STAT_POLL_S)


def _warmup_buckets(seconds: float) -> int:
    """How many buckets a warm-up of ``seconds`` has in the timeline (its last one, shorter than
    :data:`TAIL_MERGE_S`, joins the one before): warm-up tick ``t`` is at ``t_s = t - 1 - n``."""
    return max(1, math.ceil(seconds - TAIL_MERGE_S))
