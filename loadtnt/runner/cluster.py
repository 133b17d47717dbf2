"""``--cluster tcp://SCHEDULER:8786``: the workers on Dask workers, one per Dask worker thread.

The coordinator (this process) keeps everything else: the server, box.stat, trials, the file.
:class:`DaskExecutor` checks the cluster before any server starts — every Dask worker runs the
same loadtnt, driver and relay protocol as this process, there are threads enough for the
scenario's workers, and each host's clock is within a tenth of the warm-up of ours — then hands
the session :class:`RemoteProc` objects, which behave as the local
:class:`~loadtnt.runner.procs.WorkerProc`: ``start(job)``, ``send(msg)``, ``(proc, message)`` into
the session's queue and ``(proc, None)`` with :attr:`RemoteProc.reason` when it is gone,
``kill()``, ``finish()``.

Each RemoteProc is one Dask task (:func:`loadtnt.runner.remote.serve`, pinned to its Dask worker)
that connects back to a TCP port this process listens on (``--listen HOST``) and relays the
worker's JSON lines both ways: per phase one ``run`` and one ``done``, a ``tick`` a second.  The
only translation is the clock: a ``run``'s ``start_at`` goes out in the host's clock, a ``done``'s
``started_at`` comes back in ours.  Dask only places and cancels the tasks; the load stops when
our connection closes, whatever Dask does (a running task cannot be interrupted).
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loadtnt.results.entries import window_s
from loadtnt.runner import remote
from loadtnt.runner.procs import LINE_LIMIT, describe_exit
from loadtnt.scenario.model import Scenario, ScenarioError

INSTALL = "pip install 'loadtnt[cluster]'"
SCHEDULER_TIMEOUT = 10.0  # Dask's client retries a refused connection until then
CONNECT_TIMEOUT = 20.0  # a task's connection back to us (it may wait for a thread first)
START_LEAD_S = 0.25  # the barrier's lead over a network: the run command reaches every host first
NO_WARMUP_OFFSET_S = 0.01  # the clock check's limit when there is no warm-up


class ClusterError(ScenarioError):
    """The cluster cannot run the scenario (found before any load): exit 2, this message."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.path = self.line = self.field = None
        self.message = message


def require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--cluster needs Dask's distributed, which is not installed: "
                           f"{INSTALL}") from None
    return distributed


def reach_host(scheduler: str) -> str:
    """The local address by which this machine reaches ``scheduler`` (no packet is sent)."""
    url = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    host, port = url.hostname or "127.0.0.1", url.port or 8786
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, port))
        except OSError as e:
            raise ClusterError(f"cannot find a route to the scheduler {scheduler}: {e}") \
                from None
        return str(s.getsockname()[0])


@dataclass
class Clock:
    offset_s: float  # the host's time.time() minus ours
    rtt_s: float  # of the probe the offset comes from (its error is at most half of it)


@dataclass
class DaskWorker:
    address: str
    name: str
    nthreads: int
    info: dict[str, Any]
    clock: Clock | None = None

    @property
    def host(self) -> str:
        return str(self.info.get("hostname") or urlsplit(self.address).hostname)


@dataclass
class _Expected:
    proc: RemoteProc
    conn: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


def compare_versions(local: dict[str, Any], workers: Iterable[DaskWorker]) -> None:
    """Refuse a Dask worker whose loadtnt, driver or relay differs from this process's."""
    for w in workers:
        where = f"host {w.host} (Dask worker {w.address})"
        checks = [("loadtnt", local["loadtnt_version"], w.info.get("loadtnt_version")),
                  ("loadtnt.driver", local["driver_version"], w.info.get("driver_version")),
                  ("the relay protocol", local["protocol"], w.info.get("protocol"))]
        checks += [(name, v, w.info.get("drivers", {}).get(name))
                   for name, v in local["drivers"].items()]
        for what, ours, theirs in checks:
            if ours != theirs:
                raise ClusterError(f"{where} runs {what} {theirs} but this coordinator runs "
                                   f"{what} {ours}: install the same version on every host")


def check_clocks(workers: Iterable[DaskWorker], limit_s: float, warmup_s: float) -> None:
    for w in workers:
        assert w.clock is not None
        if abs(w.clock.offset_s) > limit_s:
            basis = (f"a tenth of the warm-up ({warmup_s:g} s)" if warmup_s > 0
                     else "the limit without a warm-up")
            raise ClusterError(
                f"host {w.host} (Dask worker {w.address}): its clock is "
                f"{w.clock.offset_s * 1e3:+.1f} ms off this coordinator's, more than {basis}, "
                f"{limit_s * 1e3:.0f} ms: synchronise the clocks (NTP) or warm up longer")


class DaskExecutor:
    """The workers as Dask tasks on the cluster at ``scheduler``."""

    start_lead = START_LEAD_S

    def __init__(self, scenario: Scenario, scheduler: str, *, listen: str | None = None) -> None:
        self.scenario = scenario
        self.scheduler = scheduler
        self.listen_host = listen or ""
        self.client: Any = None
        self.token = secrets.token_hex(16)
        self.workers: list[DaskWorker] = []
        self.slots: list[DaskWorker] = []
        self.address: tuple[str, int] = ("", 0)
        self._server: asyncio.Server | None = None
        self._expected: dict[str, _Expected] = {}
        self._clocks: dict[str, Clock] = {}
        self._procs: list[RemoteProc] = []
        self._runs = 0

    # --- before the run -------------------------------------------------------------------

    async def open(self) -> None:
        distributed = require_distributed()
        s = self.scenario
        self.listen_host = self.listen_host or reach_host(self.scheduler)
        try:
            self.client = await distributed.Client(self.scheduler, asynchronous=True,
                                                   timeout=SCHEDULER_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                               f"{type(e).__name__}: {e}") from None
        try:
            self._server = await asyncio.start_server(self._accept, self.listen_host, 0,
                                                      limit=LINE_LIMIT)
        except OSError as e:
            raise ClusterError(f"--listen {self.listen_host}: cannot listen there: "
                               f"{e.strerror}") from None
        self.address = self._server.sockets[0].getsockname()[:2]
        ident = await self.client.scheduler.identity(n_workers=-1)
        found = ident.get("workers") or {}
        if not found:
            raise ClusterError(f"the Dask scheduler at {self.scheduler} has no workers: start "
                               f"`dask worker {self.scheduler} --nthreads 1` on each host")
        infos = await self.client.run(remote.host_info, list(s.drivers), on_error="return")
        # in a stable order: by host, then name (threads are handed out in this order)
        for address, w in sorted(found.items(), key=lambda x: (str(x[1].get("host")),
                                                               str(x[1].get("name")), x[0])):
            info = infos.get(address)
            if isinstance(info, BaseException) or info is None:
                raise ClusterError(f"Dask worker {address} (host {w.get('host')}) cannot run "
                                   f"loadtnt: {type(info).__name__}: {info} (install loadtnt "
                                   "with the same version on every host)")
            self.workers.append(DaskWorker(address, str(w.get("name") or address),
                                           int(w.get("nthreads") or 1), info))
        compare_versions(remote.host_info(list(s.drivers)), self.workers)
        await self._measure_clocks()
        limit = s.warmup / 10 if s.warmup > 0 else NO_WARMUP_OFFSET_S
        check_clocks(self.workers, limit, s.warmup)
        busy = {a: keys for a, keys in (await self.client.processing()).items() if keys}
        if busy:
            address, keys = next(iter(busy.items()))
            raise ClusterError(f"the cluster is busy: Dask worker {address} is running "
                               f"{len(keys)} task(s), e.g. {next(iter(keys))!r} (another "
                               "loadtnt run?); a run needs its Dask worker threads to itself")
        self.slots = _slots(self.workers)
        if s.workers > len(self.slots):
            raise ClusterError(
                f"the scenario asks for {s.workers} workers but the cluster at {self.scheduler} "
                f"has {len(self.slots)} Dask worker threads ({len(self.workers)} workers): one "
                "loadtnt worker per thread; start more `dask worker ... --nthreads 1`")

    async def _measure_clocks(self) -> None:
        """Each Dask worker's clock against ours, by probes over a connection to us (NTP's
        estimate: the host's time minus the midpoint of the probe's round trip)."""
        got = await self.client.run(remote.probe, self.address, self.token, on_error="return")
        for w in self.workers:
            clock = self._clocks.get(w.address)
            if clock is None:
                raise ClusterError(f"Dask worker {w.address} (host {w.host}) did not answer "
                                   f"the clock probes: {got.get(w.address)!r} (can it reach "
                                   f"{self.address[0]}:{self.address[1]}? see --listen)")
            w.clock = clock

    async def _probe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     dask_worker: str) -> None:
        best: Clock | None = None
        for seq in range(remote.CLOCK_PROBES):
            t0 = time.time()
            writer.write(_line({"cmd": "clock", "seq": seq}))
            await writer.drain()
            msg = json.loads(await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT))
            t1 = time.time()
            sample = Clock(offset_s=float(msg["t"]) - (t0 + t1) / 2, rtt_s=t1 - t0)
            if best is None or sample.rtt_s < best.rtt_s:
                best = sample
        writer.write(_line({"cmd": "done"}))
        await writer.drain()
        assert best is not None
        self._clocks[dask_worker] = best

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = json.loads(await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT))
            if hello.get("token") != self.token:
                raise ValueError("not ours")
            if hello.get("hello") == "probe":
                await self._probe(reader, writer, str(hello.get("dask_worker")))
                raise ValueError("probed")
            waiting = self._expected.pop(str(hello.get("key")), None)
            if waiting is None or waiting.conn.done():  # e.g. a task Dask ran again
                raise ValueError("not expected")
            waiting.conn.set_result((reader, writer))
        except (ValueError, KeyError, OSError, asyncio.TimeoutError):
            writer.close()

    # --- the seam the session uses ---------------------------------------------------------

    def procs(self, n: int, python: str, events: asyncio.Queue[Any]) -> list[RemoteProc]:
        self._runs += 1
        procs = [RemoteProc(i, self.slots[i], self, events, key=f"{self._runs}-{i}")
                 for i in range(n)]
        self._procs = procs
        return procs

    def _expect(self, proc: RemoteProc) -> _Expected:
        exp = _Expected(proc)
        self._expected[proc.key] = exp
        return exp

    def _submit(self, proc: RemoteProc, driver: str) -> Any:
        return self.client.submit(remote.serve, self.address, self.token, proc.key, driver,
                                  key=f"loadtnt-worker-{self.token[:8]}-{proc.key}",
                                  workers=[proc.slot.address], allow_other_workers=False,
                                  pure=False, retries=0)

    def local_pids(self) -> list[int]:
        """Dask workers on this machine and their loadtnt workers: their CPU is the load's."""
        here = socket.gethostname()
        pids = [int(w.info["pid"]) for w in self.workers if w.host == here and w.info.get("pid")]
        return pids + [p.pid for p in self._procs if p.host == here and p.pid]

    def per_host(self, done: dict[Any, Any], op: str) -> dict[str, Any]:
        by_host: dict[str, list[dict[str, Any]]] = {}
        for proc, msg in done.items():
            by_host.setdefault(proc.host, []).append(msg)
        out = {}
        for host, parts in sorted(by_host.items()):
            ops = [p["ops"][op] for p in parts if op in p["ops"]]
            ok = sum(o.get("ok", o["requests"] - o["errors"]) for o in ops)
            duration = window_s(parts)
            out[host] = {"workers": len(parts), "requests": sum(o["requests"] for o in ops),
                         "ok": ok, "rps": ok / duration if duration else 0.0}
        return out

    def describe(self) -> dict[str, Any]:
        hosts: dict[str, dict[str, Any]] = {}
        for w in self.workers:
            assert w.clock is not None
            h = hosts.setdefault(w.host, {
                "name": w.host, "cpu": w.info.get("cpu"), "python": w.info.get("python"),
                "executable": w.info.get("executable"),
                "loadtnt_version": w.info.get("loadtnt_version"), "commit": w.info.get("commit"),
                "driver_version": w.info.get("driver_version"), "drivers": w.info.get("drivers"),
                "clock_offset_ms": None, "clock_rtt_ms": None, "dask_workers": []})
            h["dask_workers"].append({"address": w.address, "name": w.name,
                                      "nthreads": w.nthreads,
                                      "clock_offset_ms": round(w.clock.offset_s * 1e3, 3),
                                      "clock_rtt_ms": round(w.clock.rtt_s * 1e3, 3)})
            # the host's offset: its most precise probe
            if h["clock_rtt_ms"] is None or w.clock.rtt_s * 1e3 < h["clock_rtt_ms"]:
                h["clock_offset_ms"] = round(w.clock.offset_s * 1e3, 3)
                h["clock_rtt_ms"] = round(w.clock.rtt_s * 1e3, 3)
        return {"scheduler": self.scheduler, "listen": self.listen_host,
                "dask_workers": len(self.workers), "threads": len(self.slots),
                "hosts": list(hosts.values())}

    async def close(self) -> None:
        for p in self._procs:
            p.kill("the run ended")
        if self.client is not None:
            futures = [p.future for p in self._procs if p.future is not None]
            with contextlib.suppress(Exception):
                if futures:
                    await asyncio.wait_for(self.client.cancel(futures, force=True), 5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 5)
            self.client = None
        if self._server is not None:
            self._server.close()
            self._server = None


def _slots(workers: list[DaskWorker]) -> list[DaskWorker]:
    """Dask worker threads in the order workers take them: a thread of every Dask worker
    before a second one of any, so that load spreads over processes and hosts first."""
    out: list[DaskWorker] = []
    for r in range(max((w.nthreads for w in workers), default=0)):
        out.extend(w for w in workers if w.nthreads > r)
    return out


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _line(msg: dict[str, Any]) -> bytes:
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


class RemoteProc:
    """One loadtnt worker on a Dask worker, as the session sees a local one."""

    def __init__(self, index: int, slot: DaskWorker, executor: DaskExecutor,
                 events: asyncio.Queue[Any], *, key: str) -> None:
        self.index = index
        self.slot = slot
        self.host = slot.host
        self.key = key
        self.executor = executor
        self.events = events
        self.alive = False
        self.reason: str | None = None
        self.ready: dict[str, Any] | None = None
        self.pid: int | None = None  # the worker's, on its host (from its ready message)
        self.future: Any = None
        self._offset = slot.clock.offset_s if slot.clock else 0.0
        self._writer: asyncio.StreamWriter | None = None
        self._pending: list[bytes] = []  # commands sent before the task connected
        self._task: asyncio.Task[None] | None = None
        self._exit: dict[str, Any] | None = None
        self._killed = False

    @property
    def where(self) -> str:
        return f"{self.slot.name}@{self.host}"

    def __str__(self) -> str:
        name = "" if self.slot.name == self.slot.address else f"{self.slot.name} at "
        return f"worker {self.index} on {self.host} (Dask worker {name}{self.slot.address})"

    async def start(self, job: dict[str, Any]) -> None:
        """Submit the task; it connects back, gets the job and starts the worker."""
        server = str(job["server"]["host"])
        if _loopback(server) and self.host != socket.gethostname():
            # from another host a loopback address is that host itself, not the server
            self.reason = (f"the server's address {server} is a loopback address, which on "
                           f"{self.host} is not this machine: give --server (or --listen) an "
                           "address the Dask workers can reach")
        expected = self.executor._expect(self)
        if self.reason is None:
            self.future = self.executor._submit(self, job["driver"])
        self.alive = True
        self._task = asyncio.create_task(self._run(expected, job))

    def send(self, msg: dict[str, Any]) -> None:
        if not self.alive:
            return
        if "start_at" in msg and msg["start_at"] is not None:  # the barrier, in the host's clock
            msg = {**msg, "start_at": msg["start_at"] + self._offset}
        self._write(_line(msg))

    def _write(self, data: bytes) -> None:
        if self._writer is None:
            self._pending.append(data)
            return
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write(data)

    async def _run(self, expected: _Expected, job: dict[str, Any]) -> None:
        try:
            reader = await self._connect(expected) if self.reason is None else None
            if reader is not None:
                await self._relay(reader, job)
        except asyncio.CancelledError:
            self.reason = self.reason or "cancelled"
        except Exception as e:  # noqa: BLE001 - named in the warning, not a traceback
            self.reason = self.reason or f"{type(e).__name__}: {e}"
        finally:
            self.executor._expected.pop(self.key, None)
            if self._writer is not None:
                self._writer.close()
            self.alive = False
            if self.reason is None:
                self.reason = await self._why_lost()
            self.events.put_nowait((self, None))

    async def _connect(self, expected: _Expected) -> asyncio.StreamReader | None:
        """The task's connection, or None with :attr:`reason` (the task failed or never ran)."""
        task_end = asyncio.ensure_future(self._task_result())
        try:
            waits: set[asyncio.Future[Any]] = {expected.conn, task_end}
            done, _ = await asyncio.wait(waits, timeout=CONNECT_TIMEOUT,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not expected.conn.done():
                expected.conn.cancel()
        if expected.conn in done and not expected.conn.cancelled():
            reader, self._writer = expected.conn.result()
            task_end.cancel()
            return reader
        if task_end in done:
            self.reason = self.reason or f"its Dask task ended before it connected: " \
                                         f"{task_end.result()}"
        else:
            task_end.cancel()
            self.reason = self.reason or (
                f"its Dask task did not connect back to {self.executor.address[0]}:"
                f"{self.executor.address[1]} within {CONNECT_TIMEOUT:.0f} s (is --listen an "
                "address the workers can reach?)")
        return None

    async def _task_result(self) -> str:
        try:
            return repr(await self.future)
        except Exception as e:  # noqa: BLE001
            return f"{type(e).__name__}: {e}"

    async def _relay(self, reader: asyncio.StreamReader, job: dict[str, Any]) -> None:
        assert self._writer is not None
        self._writer.write(_line({"cmd": "job", "job": job}))
        for data in self._pending:
            self._writer.write(data)
        self._pending = []
        if self._killed:
            return
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self.reason = "a message from the worker exceeded the line limit"
                return
            except OSError:
                return
            if not line:
                return
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("type")
            if kind == "exited":
                self._exit = msg
                self.reason = self.reason or describe_exit(int(msg["code"]), msg["stderr"])
                continue
            if kind == "ready":
                self.ready = msg
                self.pid = msg.get("pid")
            elif kind == "done" and msg.get("started_at"):  # back in our clock
                msg["started_at"] -= self._offset
            self.events.put_nowait((self, msg))

    async def _why_lost(self) -> str:
        """The connection closed without the worker's exit: what the scheduler says."""
        what = f"its connection closed without a word ({self.slot.name} at {self.slot.address})"
        with contextlib.suppress(Exception):
            for _ in range(10):
                ident = await self.executor.client.scheduler.identity(n_workers=-1)
                if self.slot.address not in (ident.get("workers") or {}):
                    return f"its Dask worker {self.slot.address} died (the scheduler lost it)"
                await asyncio.sleep(0.1)
        return what

    def kill(self, reason: str | None = None) -> None:
        """Close the connection: the relay kills the worker at once."""
        if reason and not self.reason and self.alive:
            self.reason = reason
        self._killed = True
        if self._writer is not None:
            self._writer.close()
        elif self._task is not None and not self._task.done():
            self._task.cancel()

    async def finish(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        self.send({"cmd": "exit"})
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            self.kill("did not exit when asked")
            await asyncio.gather(self._task, return_exceptions=True)
