"""One ``loadtnt run``: every (trial, server, loop, driver) with its workers, then the file.

Trial-major: trial 1 runs every server set-up in turn, each server started fresh (an embedded
one) and every driver on every loop against it, then trial 2 does the same, so that drift over
time spreads over all of them alike. Set-ups are checked before anything starts
(:mod:`loadtnt.server.setups`).

For each measured group of operations (the whole mix, or each op alone with ``mix: false``):
the ``before`` Lua runs, all workers warm up together, box.stat() is sampled, all workers measure
together (the barrier: one wall-clock start time for all), box.stat() is sampled again.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from loadtnt import drivers, histogram
from loadtnt.drivers.base import CRUD, NO_CRUD, ServerAddress
from loadtnt.live.observer import GroupEnd, Observer, Observers, PhaseStart, RunEnd, Tick
from loadtnt.live.progress import Progress, fmt_us
from loadtnt.results import environment, summary, thresholds
from loadtnt.results.entries import (
    TAIL_MERGE_S,
    add_targets,
    cross_check,
    op_entry,
    rate_warnings,
    stage_summaries,
    timeline,
    window_s,
)
from loadtnt.results.file import ResultFile
from loadtnt.runner import machine
from loadtnt.runner.admin import BUCKETS_LUA, Admin, node_deltas, stat_deltas
from loadtnt.runner.procs import LocalExecutor, WorkerProc
from loadtnt.scenario.model import Operation, Scenario, ScenarioError, Server
from loadtnt.server.embedded import EmbeddedReplicaSet, EmbeddedServer
from loadtnt.server.setups import (
    Checked,
    check,
    check_streams,
    short_version,
    with_mvcc,
)

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
EXIT_ALL_FAILED = 4  # every request of an op failed in some run (its first error is printed)
READY_TIMEOUT = 60.0
SLACK = 30.0
TICK_S = 1.0  # the workers' tick (loadtnt/worker/main.py)


class Session:
    def __init__(self, scenario: Scenario, *, out: Path, progress: Progress,
                 observers: Iterable[Observer] = ()) -> None:
        self.scenario = scenario
        self.out = out
        self.progress = progress
        # the live views (loadtnt/live/observer.py): told of phases, merged ticks, groups, the end
        self.observers = Observers(observers, warn=self._warn)
        self.result = ResultFile(scenario.normalized(), environment.collect())
        self.interrupted = False
        self.failed = False
        self.server: Any = None  # running now: EmbeddedServer, EmbeddedReplicaSet, ShardedCluster
        # a sharded cluster: its instances' names and the connections to its storages
        self.nodes: Nodes | None = None
        self.server_name = ""  # the set-up being measured now
        self.admin: Admin | None = None
        self.server_pid: int | None = None  # a local server not started here (its CPU is ours)
        self._procs: list[WorkerProc] = []
        # where the workers run: child processes, or Dask workers (--cluster)
        self.executor = new_executor(scenario)
        self._started = False
        # the workers' merged ticks of the current group, {phase: {t: bucket}}, for the timeline
        self._buckets: dict[str, dict[int, dict[str, Any]]] = {}
        self._step_names = {n for op in scenario.operations for n in op.step_names}
        self._live: dict[str, dict[str, Any]] | None = None  # abort_on_fail: the window so far
        self._live_label = ""
        self.aborted: str | None = None  # why the run was stopped by a threshold
        self.threshold_rows: list[dict[str, Any]] = []
        # the pre-flight check's server of the first target, still up for its first trial
        self._kept: tuple[Server | Checked, ServerAddress] | None = None

    # --- the whole run ------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # Ctrl-C, and a CI job's timeout (SIGTERM): stop, write what was measured, stop the server
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_stop_signal)
        try:
            s = self.scenario
            await self.executor.open()  # a cluster is checked before any server starts
            cluster = self.executor.describe()
            if cluster is not None:
                self.result.data["environment"]["cluster"] = cluster
            targets: list[Server | Checked]
            if s.server is not None:
                targets = [s.server]
            else:
                # before any load: every binary runs and takes its options (else exit 2)
                checked, skipped = check(s.setups, path=s.path)
                for w in skipped:
                    self._warn(w)
                # a transaction needs streams (2.10+): refused here, before any server starts
                for c in checked:
                    check_streams(s, c.version, c.setup.name)
                targets = [with_mvcc(s, c) for c in checked]
            # drivers not installed here (each with the command that adds it), and drivers
            # that cannot send an op (e.g. aiotarantool: no streams, no SQL): said once, skipped
            skip = {**missing_drivers(s), **unsupported_ops(s)}
            for driver, reason in skip.items():
                self._warn(f"{driver}: skipped: {reason}")
            if len(skip) == len(s.drivers):
                self.failed = True
                self._warn("no driver of the scenario can run here: nothing measured")
                return EXIT_FAILED
            # before any load: every server has what the ops name, as the run's user sees it
            await self._preflight(targets)
            for trial in range(1, s.trials + 1):
                for target in targets:
                    if self.interrupted or self.aborted:
                        break
                    address = await self._start_server(target)
                    try:
                        for loop_name in s.loops:
                            for driver in s.drivers:
                                if driver in skip:
                                    continue
                                if self.interrupted or self.aborted:
                                    break
                                self._started = True
                                await self.run_driver(driver, loop_name, trial, address)
                    finally:
                        await self._stop_server()
        except Exception as e:
            self.result.warn(f"the run failed: {type(e).__name__}: {e}")
            raise
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            for p in self._procs:
                p.kill("the run ended")
            await self.executor.close()
            await self._stop_server()
            if self.scenario.thresholds and self.result.runs:
                self.threshold_rows = thresholds.evaluate(self.scenario.thresholds,
                                                          self.result.runs,
                                                          mix=self.scenario.mix)
                self.result.data["thresholds"] = {
                    "aborted": self.aborted, "rows": self.threshold_rows,
                    "passed": all(r["pass"] for r in self.threshold_rows) and not self.aborted}
            written = None
            if self._started and (self.result.runs or self.interrupted):
                self.result.data["partial"] = self.interrupted or self.aborted is not None
                path = written = self.result.write(self.out)
                self.progress.done()
                self.progress.note(f"result written to {path}")
            self.observers.run_end(RunEnd(self.result.data, written))
        if self.interrupted:
            return EXIT_INTERRUPTED
        if summary.all_failed(self.result.runs):
            return EXIT_ALL_FAILED
        if self.aborted or any(not r["pass"] for r in self.threshold_rows):
            return thresholds.EXIT_BREACHED
        return EXIT_FAILED if self.failed else EXIT_OK

    async def _preflight(self, targets: list[Server | Checked]) -> None:
        """Start (or reach) every target once, run ``before`` there, and check the scenario
        against it (:mod:`loadtnt.runner.preflight`); a miss is a ScenarioError (exit 2)."""
        from loadtnt.runner.preflight import PreflightError, check

        misses: list[str] = []
        # the first target is the first one measured: it stays up for trial 1 (the others
        # are started, checked and stopped meanwhile)
        kept: tuple[Any, ...] | None = None
        try:
            for i, target in enumerate(targets):
                if self.interrupted:
                    return
                address = await self._start_server(target, checking=i > 0)
                try:
                    await self._before()
                    misses += await check(self.scenario, address, self.server_name,
                                          self.nodes.storage_uris if self.nodes else ())
                finally:
                    if i == 0:
                        kept = (target, address, self.server, self.admin, self.server_name,
                                self.nodes)
                        self.server, self.admin, self.nodes = None, None, None
                    else:
                        await self._stop_server()
        finally:
            if kept is not None:
                target, address, self.server, self.admin, self.server_name, self.nodes = kept
                if misses or self.interrupted:
                    await self._stop_server()
                else:
                    self._kept = (target, address)
        if misses:
            raise PreflightError(misses)

    async def _check_eval(self, target: Server) -> None:
        """The harness reads box.stat() and runs ``before`` by eval: a user who may not eval
        gets one line saying so (exit 2), not a database error in the middle of a run."""
        assert self.admin is not None
        try:
            await self.admin.eval("return true")
        except Exception as e:
            if getattr(e, "code", None) != 42:  # ER_ACCESS_DENIED
                raise
            user = target.user or "guest"
            raise ScenarioError(
                f"user {user!r} may not eval on server {target.name!r} ({target.uri}): "
                f"{getattr(e, 'message', e)}. The harness reads box.stat() and runs `before` "
                f"with eval: box.schema.user.grant({user!r}, 'execute', 'universe')",
                path=self.scenario.path, field="server") from None

    async def _before(self) -> None:
        s = self.scenario
        assert self.admin is not None
        if s.before:
            try:
                await self.admin.eval(s.before)
            except Exception as e:  # noqa: BLE001 - one clear line: which Lua, what failed
                raise RuntimeError(f"the scenario's `before` ({s.before!r}) failed on the "
                                   f"server: {e}") from None

    async def _start_server(self, target: Server | Checked, *,
                            checking: bool = False) -> ServerAddress:
        """Start (an embedded set-up) or reach (a running server) ``target``, connect the admin
        client, and record the server in the environment the first time. ``checking``: only for
        the pre-flight check (said so on the terminal). The pre-flight's first target is still
        up: it is the first one measured."""
        if self._kept is not None and self._kept[0] is target:
            address = self._kept[1]
            self._kept = None
            return address
        keys: list[str] = []
        started = "pre-flight check: started Tarantool" if checking else "embedded Tarantool"
        if isinstance(target, Server) and target.config is not None:
            self.server_name = target.name
            address, nodes = await asyncio.to_thread(_config_cluster, target)
            self.nodes = nodes
            self.progress.info(f"sharded cluster {target.config}: routers "
                               f"{', '.join(address.uris)}, storages "
                               f"{', '.join(nodes.storage_uris)}")
        elif isinstance(target, Server):
            self.server_name = target.name
            address = ServerAddress(target.host, target.port, target.user, target.password,
                                    endpoints=target.endpoints)
        else:
            setup = target.setup
            self.server_name = setup.name
            keys = list(setup.cfg)
            if setup.sharded is not None:
                address = await self._start_sharded(target, checking)
            elif setup.replicas > 1:
                rs = EmbeddedReplicaSet(setup.replicas, binary=target.binary, cfg=setup.cfg)
                self.server = rs.start()
                what = "pre-flight check: started" if checking else "embedded"
                self.progress.info(f"{what} replica set at {', '.join(rs.endpoints)} "
                                   f"(master pid {rs.pid}): {setup.name}, Tarantool "
                                   f"{short_version(target.version)}")
                address = ServerAddress(rs.host, rs.port, endpoints=tuple(rs.endpoints))
            else:
                self.server = EmbeddedServer(binary=target.binary, cfg=setup.cfg,
                                             host=self.executor.listen_host).start()
                self.progress.info(f"{started} at {self.server.host}:"
                                   f"{self.server.port} (pid {self.server.pid}): {setup.name}, "
                                   f"Tarantool {short_version(target.version)}")
                address = ServerAddress(self.server.host, self.server.port)
        self.admin = await Admin(address).connect()
        if isinstance(target, Server):
            await self._check_eval(target)
        if self.nodes is not None:
            await self.nodes.connect(address)
        self.server_pid = None
        if isinstance(target, Server) and target.host in ("127.0.0.1", "localhost", "::1"):
            with contextlib.suppress(Exception):
                self.server_pid = int(await self.admin.eval("return box.info.pid"))
        env = self.result.data["environment"]
        servers = env.setdefault("servers", {})
        if self.server_name not in servers:
            info = await self.admin.info(keys)
            if isinstance(target, Server):
                info.update(uri=target.uri)
                # a running server's version is known now, still before any load
                check_streams(self.scenario, str(info.get("version") or ""), target.name)
            else:
                info.update(binary=target.binary, cfg=dict(target.setup.cfg))
            if len(address.uris) > 1:  # a replica set: its instances, as box.stat names them
                info["instances"] = list(address.uris)
            if self.nodes is not None:
                info["sharded"] = self.nodes.describe()
            servers[self.server_name] = info
            if not env.get("tarantool"):  # the first server, as results before servers: had it
                env["tarantool"] = {"version": info.get("version"),
                                    "box_cfg": info.get("box_cfg")}
        return address

    async def _start_sharded(self, target: Checked, checking: bool) -> ServerAddress:
        """``server: {sharded: ...}``: a ShardedCluster started (its buckets bootstrapped and
        seen by every router), its routers the address the workers load through the pool."""
        from loadtnt.server.sharded import ShardedCluster

        sh = target.setup.sharded
        assert sh is not None
        cluster = ShardedCluster(sh.shards, sh.replicas, sh.routers,
                                 bucket_count=sh.bucket_count, schema=sh.schema,
                                 binary=target.binary)
        await asyncio.to_thread(cluster.start)
        self.server = cluster
        self.nodes = Nodes(
            routers=dict(zip(cluster.router_names, cluster.router_endpoints, strict=True)),
            storages={n: cluster.endpoint(n) for rs in cluster.storage_names for n in rs})
        what = "pre-flight check: started" if checking else "embedded"
        how = "config.yaml" if cluster.config else "vshard.cfg"
        self.progress.info(
            f"{what} sharded cluster ({cluster.shards} x {cluster.replicas} + "
            f"{cluster.routers} routers, {how}): routers {', '.join(cluster.router_endpoints)}: "
            f"{target.setup.name}, Tarantool {short_version(target.version)}")
        return ServerAddress(cluster.host, cluster.router_ports[0], cluster.username,
                             cluster.password, endpoints=tuple(cluster.router_endpoints),
                             sharded=True)

    async def _stop_server(self) -> None:
        if self.nodes is not None:
            await self.nodes.close()
            self.nodes = None
        if self.admin is not None:
            with contextlib.suppress(Exception):
                await self.admin.close()
            self.admin = None
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
            self.server = None
            self.progress.info(f"embedded Tarantool ({self.server_name}) stopped")

    def _on_stop_signal(self) -> None:
        if self.interrupted:  # the second Ctrl-C: stop waiting for anyone
            for p in self._procs:
                p.kill("interrupted")
            return
        self.interrupted = True
        self.progress.warn("interrupted: finishing the requests in flight and writing what "
                           "was measured (Ctrl-C again to stop at once)")
        for p in self._procs:
            p.send({"cmd": "stop"})

    def _label(self, driver: str, loop_name: str, trial: int) -> str:
        where = f"{self.server_name}: " if len(self.scenario.server_names) > 1 else ""
        return f"{where}{driver}/{loop_name} trial {trial}"

    def _warn(self, text: str) -> None:
        self.result.warn(text)
        self.progress.warn(text)

    # --- one driver on one loop, one trial ------------------------------------------------

    async def run_driver(self, driver: str, loop_name: str, trial: int,
                         address: ServerAddress, body: Any = None) -> None:
        """``body``: what to do with the started workers, ``await body(procs, events)``
        (default: measure every group once; ``loadtnt capacity`` runs its steps)."""
        s = self.scenario
        label = self._label(driver, loop_name, trial)
        events: asyncio.Queue[Any] = asyncio.Queue()
        try:
            python = drivers.load(driver).python()
        except Exception as e:  # noqa: BLE001 - e.g. the driver's venv is missing: skip it
            self.failed = True
            self._warn(f"{label}: skipped: {e}")
            return
        procs = self.executor.procs(s.workers, python, events)
        self._procs = procs
        try:
            job = {"driver": driver, "loop": loop_name, "count": s.workers,
                   "scenario": s.normalized(),
                   "server": {"host": address.host, "port": address.port,
                              "user": address.user, "password": address.password,
                              "endpoints": list(address.endpoints),
                              "sharded": address.sharded, "config": address.config,
                              "filters": address.filters}}
            for p in procs:
                try:
                    await p.start({**job, "index": p.index})
                except OSError as e:
                    self.failed = True
                    self._warn(f"{label}: cannot start a worker with {python}: {e.strerror}")
                    return
            self.progress.info(f"{label}: workers " + ", ".join(p.where for p in procs)
                               + f" ({python})")
            ready = await self._wait(procs, events, "ready", label, "start", READY_TIMEOUT)
            if not ready:
                self.failed = True
                self._warn(f"{label}: no worker started")
                return
            first = next(iter(ready.values()))
            env = self.result.data["environment"]
            env["drivers"][driver] = first.get("driver_version")
            env["loops"][loop_name] = first.get("loop_version")
            env.setdefault("worker_python", {})[driver] = first.get("python")
            if not first.get("fast_recorder", True):
                self._warn(f"{label}: the Cython recorder is not built; recording is slow")
            if body is not None:
                await body(procs, events)
                return
            for group in s.groups:
                if self.interrupted or self.aborted or not any(p.alive for p in procs):
                    break
                await self.run_group(group, procs, events, driver, loop_name, trial)
        finally:
            await asyncio.gather(*(p.finish() for p in procs), return_exceptions=True)
            self._procs = []

    async def run_group(self, group: tuple[Operation, ...], procs: list[WorkerProc],
                        events: asyncio.Queue[Any], driver: str, loop_name: str,
                        trial: int) -> None:
        s = self.scenario
        assert self.admin is not None
        names = [op.name for op in group]
        what = s.name if s.mix else names[0]
        label = f"{self._label(driver, loop_name, trial)} {what}"
        await self._before()
        alive = [p for p in procs if p.alive]
        self._buckets = {"warmup": {}, "measure": {}}
        profile = s.profile
        warm_rate = profile.first_rate if profile is not None else s.rate
        if s.warmup > 0:
            start_at = time.time() + self.executor.start_lead
            self._observe_phase("warmup", driver, loop_name, trial, names, label, start_at,
                                s.warmup, alive)
            for i, p in enumerate(alive):
                # open loop: one schedule at the total rate, worker i of n sends its i-th slots
                # (with stages: at the first rate they reach)
                p.send({"cmd": "run", "phase": "warmup", "ops": names, "seconds": s.warmup,
                        "rate": warm_rate, "share": [i, len(alive)], "start_at": start_at})
            await self._wait(alive, events, "done", label, "warmup",
                             s.warmup * 1.5 + (s.timeout or 0) + SLACK)
            if self.interrupted:
                return
        alive = [p for p in procs if p.alive]
        if not alive:
            return
        quotas = _split(s.requests, len(alive)) if s.requests else [None] * len(alive)
        nodes_before = await self.nodes.sample(self.admin) if self.nodes is not None else None
        before = ([x.get("stat") or {} for x in nodes_before[0]] if nodes_before is not None
                  else await self.admin.box_stats())
        pids = machine.own_pids([*([self.server_pid] if self.server_pid else []),
                                 *(self.nodes.local_pids if self.nodes is not None else ()),
                                 *self.executor.local_pids()])
        cpu0 = machine.sample(pids)
        start_at = time.time() + self.executor.start_lead
        self._observe_phase("measure", driver, loop_name, trial, names, label, start_at,
                            s.duration, alive)
        for i, (p, quota) in enumerate(zip(alive, quotas, strict=True)):
            p.send({"cmd": "run", "phase": "measure", "ops": names, "seconds": s.duration,
                    "requests": quota, "rate": s.rate, "share": [i, len(alive)],
                    "stages": profile.normalized() if profile is not None else None,
                    "start_at": start_at})
        self._live = {} if s.thresholds else None
        self._live_label = label
        limit = s.duration * 1.5 + 1 + (s.timeout or 0) + SLACK if s.duration else None
        bucket_points: list[dict[str, Any]] = []
        stop_tracking = asyncio.Event()
        tracking = (asyncio.get_running_loop().create_task(
            self.nodes.track(start_at, bucket_points, stop_tracking))
            if self.nodes is not None else None)
        try:
            done = await self._wait(alive, events, "done", label, "measure", limit)
        finally:
            stop_tracking.set()
            if tracking is not None:
                await tracking
        other = machine.other_cores(cpu0, machine.sample(pids))
        nodes_after = None
        try:
            after: list[dict[str, int]] | None
            if self.nodes is not None:
                nodes_after = await self.nodes.sample(self.admin)
                after = [x.get("stat") or {} for x in nodes_after[0]]
            else:
                after = await self.admin.box_stats()
        except Exception as e:  # noqa: BLE001 - e.g. the server died: keep what was measured
            after = None
            self._warn(f"{label}: cannot read the server's counters after the window: "
                       f"{type(e).__name__}: {e}")
        parts = list(done.values())
        if not parts:
            self._warn(f"{label}: no worker finished the measured window")
            return
        total_weight = sum(op.weight for op in group)
        series = timeline(self._buckets["warmup"], self._buckets["measure"])
        # the drivers' own requests in the window (a pool's role polls) are not the load
        own = [sum(int((p.get("own_requests") or {}).get(uri, 0)) for p in parts)
               for uri in self.admin.uris]
        delta, each = stat_deltas(before, after, own) if after is not None else ({}, [])
        sharded: dict[str, Any] = {}
        if self.nodes is not None and nodes_before is not None and nodes_after is not None:
            # per instance, a restarted or unreachable one told apart (see node_deltas)
            sharded = self.nodes.window(nodes_before, nodes_after, own, parts, group)
            sharded["buckets_timeline"] = bucket_points
            # the client's side of the CPU table: the workers' CPU over their windows
            sharded["client_cpu_s"] = round(sum(float(p.get("cpu_s") or 0.0) for p in parts), 6)
            each = [n.get("delta") or {} for n in sharded["routers"].values()]
            delta = {}
            for d in each:
                for k, v in d.items():
                    delta[k] = delta.get(k, 0) + v
        entries = []
        # each op, and after a transaction each of its steps (the step's latency inside it)
        measured: list[tuple[str, str, float | None, str | None]] = []
        mean_rate = profile.mean_rate if profile is not None else s.rate
        for op in group:
            measured.append((op.name, op.op, mean_rate * op.weight / total_weight if mean_rate
                             else None, None))
            measured.extend((name, st.op, None, op.name)
                            for name, st in zip(op.step_names, op.steps, strict=True))
        for name, _kind, target, step_of in measured:
            entry = op_entry(server=self.server_name, driver=driver, loop=loop_name, trial=trial,
                             op=name, parts=parts, target_rps=target, workers=len(alive))
            if step_of is not None:
                entry["step_of"] = step_of
            entry["timeline"] = series.get(name, [])
            hosts = self.executor.per_host(done, name)
            if hosts is not None:
                entry["hosts"] = hosts
            if target is not None and mean_rate:
                share = target / mean_rate
                add_targets(entry["timeline"], share=share, warmup_rate=warm_rate,
                            rate=s.rate, profile=profile)
                if profile is not None:
                    entry["stages"] = stage_summaries(entry["timeline"], profile, share)
            dead = [p for p in entry["timeline"] if p["t_s"] >= 0 and p["requests"] <= p["errors"]]
            if dead and entry["requests"]:
                entry.setdefault("warnings", []).append(
                    f"stalled: no successful request in {len(dead)} of "
                    f"{sum(p['t_s'] >= 0 for p in entry['timeline'])} measured seconds")
            entry["other_cpu_cores"] = other
            entries.append(entry)
        extra: dict[str, list[str]] = {}
        if mean_rate:
            extra = rate_warnings([e for e in entries if "step_of" not in e],
                                  {op.name: op.weight for op in group}, mean_rate, s.duration)
        mismatch = cross_check(entries, {name: kind for name, kind, _, _ in measured}, delta)
        busy = ([(f"the machine was busy: other processes used {other:.2f} cores during the "
                  "window")] if other is not None and other > machine.BUSY_CORES else [])
        for entry in entries:
            warnings = extra.get(entry["op"], []) + entry.get("warnings", []) + mismatch + busy
            if warnings:
                entry["warnings"] = warnings
            for w in warnings:
                self.progress.warn(f"{label} {entry['op']}: {w}")
            self.result.runs.append(entry)
        self.result.data["server"].append({
            "server": self.server_name, "driver": driver, "loop": loop_name, "trial": trial,
            "ops": names, "duration_s": round(window_s(parts), 6), "delta": delta,
            "other_cpu_cores": other,
            # a replica set: each instance's own (their REQUESTS add up to the harness's count)
            **({"instances": dict(zip(self.admin.uris, each, strict=True))}
               if len(each) > 1 else {}),
            **sharded,
        })
        self.observers.group_end(GroupEnd(entries, self.result.data["server"][-1]))

    # --- waiting for the workers ----------------------------------------------------------

    async def _wait(self, procs: list[WorkerProc], events: asyncio.Queue[Any], kind: str,
                    label: str, phase: str, timeout: float | None) -> dict[WorkerProc, Any]:
        """Messages of type ``kind`` from every live worker of ``procs``; deaths are reported."""
        pending = {p for p in procs if p.alive}
        got: dict[WorkerProc, Any] = {}
        ticks: dict[int, dict[int, dict[str, Any]]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else None
        while pending:
            wait = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                proc, msg = await asyncio.wait_for(events.get(), wait)
            except asyncio.TimeoutError:
                for p in pending:
                    p.kill(f"no answer within {timeout:.0f} s during {phase}")
                deadline = None  # now wait for their exits
                continue
            if msg is None:
                if proc in pending:
                    pending.discard(proc)
                    self.failed = True
                    self._warn(f"{label}: {proc} died during {phase}: {proc.reason}")
                continue
            if msg.get("type") == "tick":
                self._tick(ticks, msg, procs, label)
            elif msg.get("type") == kind and proc in pending:
                pending.discard(proc)
                got[proc] = msg
        for t in sorted(ticks):
            self._emit_tick(t, ticks.pop(t), label)
        return got

    def _tick(self, ticks: dict[int, dict[int, dict[str, Any]]], msg: dict[str, Any],
              procs: list[WorkerProc], label: str) -> None:
        t = int(msg["t"])
        ticks.setdefault(t, {})[msg["index"]] = msg
        alive = {p.index for p in procs if p.alive}
        if alive <= set(ticks[t]):
            for old in sorted(k for k in ticks if k <= t):
                self._emit_tick(old, ticks.pop(old), label)

    def _emit_tick(self, t: int, by_worker: dict[int, dict[str, Any]], label: str) -> None:
        msgs = list(by_worker.values())
        phase = msgs[0]["phase"]
        # a whole second unless a worker's last tick says otherwise (then the longest of them)
        length = max(float(m.get("len_s", TICK_S)) for m in msgs)
        per_op: dict[str, dict[str, Any]] = {}
        steps = self._step_names
        for m in msgs:
            for name, o in m["ops"].items():
                acc = per_op.setdefault(name, {"requests": 0, "errors": 0, "hist": []})
                acc["requests"] += o["requests"]
                acc["errors"] += o["errors"]
                acc["hist"].extend(o["hist"])
                if "sent" in o:
                    acc["sent"] = acc.get("sent", 0) + o["sent"]
        # a transaction's steps are inside it: not requests of their own in the live line
        mix = [o for name, o in per_op.items() if name not in steps]
        total = sum(o["requests"] for o in mix)
        errors = sum(o["errors"] for o in mix)
        p99 = histogram.sparse_percentile([x for o in mix for x in o["hist"]], 99.0)
        # a phase's last bucket may be a fraction of a second: rated by its length (a count
        # per whole second would read as a collapse), and one too short to rate is not shown
        partial = length < TICK_S - 0.01
        if not partial or length >= TAIL_MERGE_S:
            rate = total / length
            what = f" (last {length:.2f} s)" if partial else ""
            self.progress.status(f"{label} {phase} {t:>3}s{what}  {rate:>9,.0f} req/s  "
                                 f"p99 {fmt_us(p99)}  errors {errors}")
        self.observers.tick(Tick(phase, t, length, per_op))
        buckets = self._buckets.get(phase)
        if buckets is None:
            return
        bucket = buckets.setdefault(t, {"len_s": length, "ops": {}})
        bucket["len_s"] = max(bucket["len_s"], length)
        for name, o in per_op.items():  # a worker's tick that came after the others' (rare)
            acc = bucket["ops"].setdefault(name, {"requests": 0, "errors": 0, "hist": []})
            acc["requests"] += o["requests"]
            acc["errors"] += o["errors"]
            # kept until the window ends: one pair per bucket, not one per worker and bucket
            acc["hist"] = histogram.sparse_sum(acc["hist"], o["hist"])
            if "sent" in o:
                acc["sent"] = acc.get("sent", 0) + o["sent"]
        if phase == "measure" and self._live is not None:
            self._check_live(per_op, t)

    def _observe_phase(self, phase: str, driver: str, loop_name: str, trial: int,
                       names: list[str], label: str, start_at: float, seconds: float | None,
                       procs: list[WorkerProc]) -> None:
        if not self.observers:
            return
        server_pid = getattr(self.server, "pid", None) if self.server is not None \
            else self.server_pid
        self.observers.phase(PhaseStart(
            phase=phase, server=self.server_name, driver=driver, loop=loop_name, trial=trial,
            ops=tuple(names), label=label, start_at=start_at, seconds=seconds,
            worker_pids=tuple(p.pid for p in procs if p.pid is not None), server_pid=server_pid,
            box_stat=self.admin.box_stat if self.admin is not None else None))

    def _check_live(self, per_op: dict[str, dict[str, Any]], t: int) -> None:
        """``abort_on_fail``: the window so far, once a second; the first breach stops the run
        (every worker finishes its requests in flight; the result is still written)."""
        assert self._live is not None
        for name, o in per_op.items():
            acc = self._live.setdefault(name, {"requests": 0, "errors": 0, "hist": {}})
            acc["requests"] += o["requests"]
            acc["errors"] += o["errors"]
            for i, c in o["hist"]:
                acc["hist"][i] = acc["hist"].get(i, 0) + c
        if self.aborted is not None:
            return
        steps = self._step_names
        mix = {n: a for n, a in self._live.items() if n not in steps}
        for th in self.scenario.thresholds:
            if not th.abort_on_fail:
                continue
            view = mix if th.op == "*" else {th.op: self._live[th.op]} if th.op in self._live \
                else {}
            hit = thresholds.breached_live([th], view)
            if hit is not None:
                value = th.live_value(sum(a["requests"] for a in view.values()),
                                      sum(a["errors"] for a in view.values()),
                                      [p for a in view.values() for p in a["hist"].items()])
                self.aborted = (f"aborted: threshold {th.op}: {th.text!r} breached after "
                                f"{t} s of the measured window ({th.format(value)}) "
                                f"[{self._live_label}]")
                self._warn(self.aborted)
                for p in self._procs:
                    p.send({"cmd": "stop"})
                return


def new_executor(s: Scenario) -> Any:
    """Where the workers run: the one place that chooses (the session never asks which)."""
    if s.cluster is None:
        return LocalExecutor()
    from loadtnt.runner.cluster import DaskExecutor

    return DaskExecutor(s, s.cluster, listen=s.listen)


def _split(total: int, n: int) -> list[int]:
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def missing_drivers(s: Scenario) -> dict[str, str]:
    """Drivers of ``s`` that are not installed here, each with why and how to add it."""
    out: dict[str, str] = {}
    for name in s.drivers:
        try:
            why = drivers.load(name).missing()
        except Exception:  # noqa: BLE001, S112 - run_driver reports a driver that cannot load
            continue
        if why is not None:
            out[name] = why
    return out


def unsupported_ops(s: Scenario) -> dict[str, str]:
    """Drivers of ``s`` that cannot send one of its ops (aiotarantool: no streams, so no
    ``transaction``, and no SQL ``execute``), each with why: they are skipped with a warning."""
    out: dict[str, str] = {}
    for name in s.drivers:
        try:
            can = drivers.load(name).ops
        except Exception:  # noqa: BLE001, S112 - run_driver reports a driver that cannot load
            continue
        missing = [op for op in s.operations if op.op not in can]
        missing += [st for op in s.operations for st in op.steps if st.op not in can]
        if missing and all(op.op in CRUD for op in missing):
            out[name] = (f"{name} cannot send crud's ops ("
                         + ", ".join(dict.fromkeys(op.op for op in missing)) + f"): {NO_CRUD}")
        elif (s.instances > 1 or s.sharded) and not drivers.load(name).pool:
            what = ("routers of a sharded cluster" if s.sharded
                    else f"{s.instances} instances of a replica set")
            out[name] = f"{name} has no connection pool: it cannot load the {what}"
        elif missing:
            out[name] = f"{name} cannot send " + ", ".join(
                f"{op.op!r} ({op.where or 'operation'} {op.name!r})" for op in missing)
    return out


class Nodes:
    """A sharded cluster's instances by name (routers, storages: ``host:port``), and the
    harness's connections to its storages (the routers' are the session's Admin): box.stat(),
    CPU, buckets and rows of each, sampled around every measured window."""

    def __init__(self, routers: dict[str, str], storages: dict[str, str],
                 config: str | None = None) -> None:
        self.routers = routers
        self.storages = storages
        self.admin: Admin | None = None
        self.local_pids: list[int] = []
        # an existing cluster's config: storages that join it during a run are found there
        self.config = config
        self.joined: dict[str, tuple[str, Admin]] = {}  # name -> (host:port, connection)
        self._address: ServerAddress | None = None

    TICK_S = 0.5  # the bucket timeline's interval

    async def track(self, t0: float, points: list[dict[str, Any]], stop: asyncio.Event) -> None:
        """Every :data:`TICK_S` until ``stop``: each storage's active buckets, as
        ``{"t_s": seconds since t0 (time.time()), "buckets": {name: n}}`` (a storage that
        joined the cluster's config meanwhile included: a rebalance shows)."""
        while not stop.is_set():
            try:
                points.append({"t_s": round(time.time() - t0, 3),
                               "buckets": await self.buckets()})
            except Exception:  # noqa: BLE001, S110 - a sample missed: the next one will do
                pass
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.TICK_S)

    async def buckets(self) -> dict[str, int]:
        assert self.admin is not None
        await self._discover()
        out: dict[str, int] = {}
        for name, n in zip(self.storages, await self.admin.eval_each(BUCKETS_LUA),
                           strict=True):
            if n is not None:
                out[name] = int(n)
        for name, (_, admin) in self.joined.items():
            (n,) = await admin.eval_each(BUCKETS_LUA)
            if n is not None:
                out[name] = int(n)
        return out

    async def _discover(self) -> None:
        if self.config is None or self._address is None:
            return
        from loadtnt.driver.config import ConfigError, resolve_config

        a = self._address
        try:
            found = await asyncio.to_thread(resolve_config, self.config,
                                            sharding_roles=["storage"], username=a.user,
                                            password=a.password)
        except (ConfigError, OSError, ValueError):  # being rewritten: try again next time
            return
        for c in found:
            if c.name in self.storages or c.name in self.joined:
                continue
            host, _, port = c.endpoint.rpartition(":")
            with contextlib.suppress(Exception):  # not up yet: the next tick
                admin = await Admin(ServerAddress(host, int(port), a.user, a.password)).connect()
                self.joined[c.name] = (c.endpoint, admin)

    @property
    def storage_uris(self) -> list[str]:
        return list(self.storages.values())

    def describe(self) -> dict[str, Any]:
        return {"routers": dict(self.routers), "storages": dict(self.storages)}

    async def connect(self, routers: ServerAddress) -> None:
        """The storages, as the routers' user (the cluster's)."""
        self._address = routers
        uris = tuple(self.storages.values())
        self.admin = await Admin(dataclasses.replace(
            routers, host=uris[0].rpartition(":")[0], port=int(uris[0].rpartition(":")[2]),
            endpoints=uris, sharded=False, config=None, filters={})).connect()

    async def close(self) -> None:
        for _, admin in self.joined.values():
            with contextlib.suppress(Exception):
                await admin.close()
        self.joined = {}
        if self.admin is not None:
            with contextlib.suppress(Exception):
                await self.admin.close()
            self.admin = None

    async def sample(self, routers: Admin) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(the routers', the storages') samples, in the order of their names."""
        assert self.admin is not None
        r = await routers.node_samples()
        st = await self.admin.node_samples()
        if not self.local_pids:  # a cluster on this machine: its CPU is not "other"
            local = [*routers.uris, *self.admin.uris]
            self.local_pids = [int(x["pid"]) for x, uri in zip([*r, *st], local, strict=True)
                               if x.get("pid") and uri.rpartition(":")[0] in LOCAL_HOSTS]
        return r, st

    def window(self, before: tuple[list[dict[str, Any]], list[dict[str, Any]]],
               after: tuple[list[dict[str, Any]], list[dict[str, Any]]],
               own: list[int], parts: list[dict[str, Any]],
               group: tuple[Operation, ...]) -> dict[str, Any]:
        """The window entry's ``routers`` and ``storages`` (see RESULT_FORMAT.md), and
        ``harness_calls``: the requests of the window's crud and call ops the workers counted
        (each one IPROTO_CALL on a router), which the routers' CALL deltas must sum to."""
        calls = sum(int(p["ops"][op.name]["requests"]) for p in parts for op in group
                    if op.name in p["ops"] and (op.op in CRUD or op.op in ("call", "call16")))
        return {"routers": node_deltas(list(self.routers), before[0], after[0], own),
                "storages": node_deltas(list(self.storages), before[1], after[1]),
                "harness_calls": calls}


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _config_cluster(target: Server) -> tuple[ServerAddress, Nodes]:
    """An existing 3.x cluster: its routers (the scenario's filters) and storages
    (``sharding.roles: [storage]``), resolved from its config as Pool.from_config does, with
    the user and password the config gives when the scenario gives none."""
    from loadtnt.driver.config import resolve_config

    assert target.config is not None
    routers = resolve_config(target.config, **target.routers, username=target.user,
                             password=target.password)
    user, password = routers[0].username, routers[0].password
    storages = resolve_config(target.config, sharding_roles=["storage"], username=user,
                              password=target.password if target.password is not None
                              else password)
    uris = tuple(c.endpoint for c in routers)
    host, _, port = uris[0].rpartition(":")
    address = ServerAddress(host, int(port), user, password, endpoints=uris, sharded=True,
                            config=target.config, filters=dict(target.routers))
    return address, Nodes({c.name: c.endpoint for c in routers},
                          {c.name: c.endpoint for c in storages}, config=target.config)
