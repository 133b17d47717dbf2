"""Worker processes as the parent sees them: spawn, talk JSON lines, notice deaths, reap.

Every worker's messages go into one queue as ``(worker, message)``; ``message`` is None when the
worker's stdout closed (it exited or died), after which :attr:`WorkerProc.reason` says why.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import loadtnt

LINE_LIMIT = 64 << 20  # result messages carry encoded histograms
PROJECT_ROOT = str(Path(loadtnt.__file__).resolve().parent.parent)


class WorkerProc:
    def __init__(self, index: int, python: str, events: asyncio.Queue[Any]) -> None:
        self.index = index
        self.python = python
        self.events = events
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.alive = False
        self.reason: str | None = None
        self.ready: dict[str, Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __str__(self) -> str:
        return f"worker {self.index} (pid {self.pid})"

    @property
    def where(self) -> str:
        """How the progress line names it where it runs: its pid."""
        return str(self.pid)

    async def start(self, job: dict[str, Any]) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            self.python, "-m", "loadtnt.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=worker_env(), limit=LINE_LIMIT)
        self.alive = True
        self._tasks = [asyncio.create_task(self._read_stdout()),
                       asyncio.create_task(self._read_stderr())]
        self.send(job)  # the job carries the password: a pipe, never argv or environment

    def send(self, msg: dict[str, Any]) -> None:
        if not self.alive or self.proc is None or self.proc.stdin is None:
            return
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass

    async def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            try:
                line = await self.proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self.stderr_tail.append("a message from the worker exceeded the line limit")
                break
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                self.stderr_tail.append(f"unreadable output: {line[:200]!r}")
                continue
            if msg.get("type") == "error":
                self.stderr_tail.append(msg.get("message", ""))
            self.events.put_nowait((self, msg))
        code = await self.proc.wait()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        self.alive = False
        self.reason = self.reason or describe_exit(code, list(self.stderr_tail))
        self.events.put_nowait((self, None))

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for line in self.proc.stderr:
            text = line.decode(errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text)

    def kill(self, reason: str | None = None) -> None:
        if self.proc is not None and self.proc.returncode is None:
            if reason and not self.reason:
                self.reason = reason
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def finish(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit, kill it if it does not, and reap it."""
        if self.proc is None:
            return
        self.send({"cmd": "exit"})
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.kill("did not exit when asked")
            await self.proc.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def worker_env() -> dict[str, str]:
    """The environment of a worker process (here, or under a Dask worker)."""
    env = dict(os.environ)
    # the source tree first, so a driver venv with an older installed copy runs this code
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT_ROOT, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class LocalExecutor:
    """Workers as child processes of this one (the default; ``--cluster``: :mod:`.cluster`).

    The executor seam: :class:`~loadtnt.runner.session.Session` asks it for its workers and
    where the server must listen, and never knows which executor it has.
    """

    listen_host = "127.0.0.1"  # the embedded server's address
    start_lead = 0.05  # the barrier: the start instant this far after the command, seconds

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def procs(self, n: int, python: str, events: asyncio.Queue[Any]) -> list[WorkerProc]:
        return [WorkerProc(i, python, events) for i in range(n)]

    def local_pids(self) -> list[int]:
        """Processes on this machine that are ours though not our children."""
        return []

    def per_host(self, done: dict[Any, Any], op: str) -> dict[str, Any] | None:
        """Each host's part of op ``op`` in the workers' ``done`` messages (None: one host)."""
        return None

    def describe(self) -> dict[str, Any] | None:
        """What the result's environment records about the executor (None: nothing)."""
        return None


def describe_exit(code: int, stderr_tail: list[str]) -> str:
    if code < 0:
        try:
            what = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"exited with code {code}"
    last = next((line for line in reversed(stderr_tail) if line.strip()), None)
    return f"{what}: {last}" if last else what
