"""The worker's life: read the job, connect, run phases on command, report, exit."""
from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
import traceback
from typing import Any

from loadtnt import drivers, histogram
from loadtnt.drivers.base import Adapter, ServerAddress
from loadtnt.scenario.generators import Context
from loadtnt.scenario.opspec import build_specs
from loadtnt.scenario.stages import Profile
from loadtnt.worker import channel
from loadtnt.worker.load import Phase

TICK_S = 1.0


def loop_version(name: str) -> str:
    if name == "uvloop":
        import uvloop

        return str(uvloop.__version__)
    return platform.python_version()


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise RuntimeError(f"uvloop is not installed for {sys.executable}") from None
        return uvloop.new_event_loop()
    if name == "asyncio":
        return asyncio.new_event_loop()
    raise RuntimeError(f"unknown event loop {name!r}")


class Worker:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.index = int(job["index"])
        self.count = int(job["count"])
        srv = job["server"]
        self.server = ServerAddress(srv["host"], srv["port"], srv.get("user"),
                                    srv.get("password"), tuple(srv.get("endpoints") or ()),
                                    sharded=bool(srv.get("sharded")), config=srv.get("config"),
                                    filters=dict(srv.get("filters") or {}))
        scenario = job["scenario"]
        self.adapter_cls: type[Adapter] = drivers.load(job["driver"])
        ctx = Context(index=self.index, count=int(job["count"]), seed=job.get("seed"))
        self.specs = {s.name: s for s in build_specs(scenario["operations"], ctx)}
        for s in self.specs.values():
            for op in (s, *s.steps):
                if op.op not in self.adapter_cls.ops:
                    raise RuntimeError(f"driver {job['driver']} cannot send {op.op!r}")
        self.connections = int(scenario["connections"])
        self.concurrency = int(scenario["concurrency"])
        timeout = scenario.get("timeout")
        self.timeout = float(timeout) if timeout else None
        self.adapters: list[Adapter] = []
        self.phase: Phase | None = None
        self.commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_command(self, msg: dict[str, Any]) -> None:
        if msg.get("cmd") == "stop":
            if self.phase is not None:
                self.phase.stop()
            return
        self.commands.put_nowait(msg)

    async def main(self) -> int:
        channel.listen(asyncio.get_running_loop(), self.on_command)
        for _ in range(self.connections):
            a = self.adapter_cls(self.server, request_timeout=self.timeout)
            await a.connect()
            await a.quiesce()  # nothing of the driver's own while the parent samples box.stat
            self.adapters.append(a)
        channel.send({"type": "ready", "pid": os.getpid(), "index": self.index,
                      "driver_version": self.adapter_cls.version(),
                      "loop_version": loop_version(self.job["loop"]),
                      "python": f"{platform.python_version()} ({sys.executable})",
                      "fast_recorder": histogram.FAST})
        try:
            while True:
                cmd = await self.commands.get()
                if cmd["cmd"] == "exit":
                    return 0
                if cmd["cmd"] == "run":
                    await self.run_phase(cmd)
        finally:
            for a in self.adapters:
                await a.close()

    def _own_requests(self) -> dict[str, int]:
        """What the driver sent on its own so far (a pool's role polls), by instance."""
        out: dict[str, int] = {}
        for a in self.adapters:
            for uri, n in a.own_requests().items():
                out[uri] = out.get(uri, 0) + n
        return out

    async def run_phase(self, cmd: dict[str, Any]) -> None:
        specs = [self.specs[name] for name in cmd["ops"]]
        fns = [[a.request(s) for s in specs] for a in self.adapters]
        phase = Phase(fns=fns, names=[s.name for s in specs], weights=[s.weight for s in specs],
                      coroutines=self.concurrency, classify=self.adapters[0].classify,
                      seconds=cmd.get("seconds"), requests=cmd.get("requests"),
                      rate=cmd.get("rate"),
                      profile=Profile.from_normalized(cmd["stages"]) if cmd.get("stages") else None,
                      share=tuple(cmd.get("share") or (self.index, self.count)),  # type: ignore[arg-type]
                      timeout=self.timeout)
        self.phase = phase
        # the window's start, for the phase, its schedule and its ticks alike: the barrier's
        # shared wall-clock time (not this worker's wake-up, which is a timer's error late)
        t0 = time.perf_counter()
        start_at = cmd.get("start_at")
        if start_at is not None:  # the barrier: all workers start at the same wall-clock time
            t0 += max(0.0, start_at - time.time())
            await asyncio.sleep(max(0.0, t0 - time.perf_counter() - 0.002))
            while time.perf_counter() < t0:
                await asyncio.sleep(0)
        own0 = self._own_requests()
        for a in self.adapters:
            a.resume()
        ticks = Ticker(phase, cmd["phase"], self.index, t0)
        ticker = asyncio.get_running_loop().create_task(ticks.run())
        try:
            await phase.run(t0)
        finally:
            ticker.cancel()
            self.phase = None
            # the driver's own requests stay inside the window the parent's samples bound
            await asyncio.gather(*(a.quiesce() for a in self.adapters))
        ticks.last()
        msg = {"type": "done", "phase": cmd["phase"], "index": self.index}
        if cmd["phase"] == "measure":
            msg.update(phase.result())
            own = {k: n - own0.get(k, 0) for k, n in self._own_requests().items()}
            if any(own.values()):
                msg["own_requests"] = own
        else:
            msg["stopped"] = phase.stopped
        channel.send(msg)



class Ticker:
    """Per-second counts for the live progress and the timeline: tick ``t`` holds what completed
    in the phase's ``t``-th second (on whole-second marks from ``t0``, the phase's start), and
    :meth:`last` the rest, up to the phase's end, with its real length (``len_s``): every request
    of the phase is in exactly one tick."""

    def __init__(self, phase: Phase, name: str, index: int, t0: float) -> None:
        self.phase, self.name, self.index = phase, name, index
        self.start = t0  # a time.perf_counter() value
        self.n = 0

    def _send(self, **extra: Any) -> None:
        self.n += 1
        channel.send({"type": "tick", "phase": self.name, "index": self.index, "t": self.n,
                      "ops": self.phase.tick(), **extra})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(max(0.0, self.start + (self.n + 1) * TICK_S
                                    - time.perf_counter()))
            self._send()

    def last(self) -> None:
        """The phase has ended: the part of a second since the last tick (``last``: no more
        ticks; ``len_s``: from the last whole-second mark to the end, seconds)."""
        length = time.perf_counter() - (self.start + self.n * TICK_S)
        self._send(last=True, len_s=round(max(length, 0.0), 6))


def main() -> int:
    channel.detach_from_terminal_signals()
    job = channel.read_job()
    try:
        worker = Worker(job)
        loop = new_loop(job["loop"])
    except Exception as e:  # noqa: BLE001 - reported to the parent, which names the worker
        channel.send({"type": "error", "message": f"{type(e).__name__}: {e}"})
        return 1
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(worker.main())
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        channel.send({"type": "error", "message": f"{type(e).__name__}: {e}"})
        return 1
    finally:
        loop.close()
