"""The scenario as a validated, typed model: what a run measures, with its cross-field checks.

:class:`Scenario` is immutable; :meth:`Scenario.override` applies CLI flags and validates again;
:meth:`Scenario.normalized` is what a result stores (durations in seconds, defaults filled in, no
password). Pure Python without PyYAML (the YAML side is :mod:`loadtnt.scenario.parse`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from loadtnt import drivers
from loadtnt.scenario.stages import Profile, Stage, check_stages

LOOPS = ("asyncio", "uvloop")
DEFAULT_DURATION = 10.0
EMBEDDED = "embedded"  # the name of the embedded server when the scenario names no set-up
EXTERNAL = "external"  # ... and of a running server (``server: {uri: ...}``) without a name
HARNESS_CFG = ("listen", "work_dir")  # box.cfg options the embedded server sets itself


class ScenarioError(ValueError):
    """A bad scenario: ``str()`` is the one message the user sees (file:line: field: what)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = path or "<scenario>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


@dataclass(frozen=True)
class Server:
    """A running server to load (``server: {uri: host:port, user:, password:, name:}``), or
    several instances of one replica set loaded through the pool (``uris: [host:port, ...]``;
    ``host``/``port`` are then the first)."""

    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    name: str = EXTERNAL
    #: every instance as ``host:port``, the first included; empty: just ``host:port``
    endpoints: tuple[str, ...] = ()
    #: an existing Tarantool 3.x sharded cluster (``server: {config: FILE.yaml, routers:
    #: {...}}``): the config file (absolute) and Pool.from_config's filters for the routers;
    #: ``endpoints`` are then the routers the filters selected
    config: str | None = None
    routers: dict[str, Any] = field(default_factory=dict)

    @property
    def sharded(self) -> bool:
        return self.config is not None

    @property
    def uri(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def uris(self) -> tuple[str, ...]:
        return self.endpoints or (self.uri,)

    def normalized(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uri": self.uri, "user": self.user, "name": self.name}
        if len(self.uris) > 1 or self.config is not None:
            out["uris"] = list(self.uris)
        if self.config is not None:
            out["config"] = self.config
            out["routers"] = dict(self.routers)
        return out


@dataclass(frozen=True)
class Sharded:
    """``server: {sharded: {...}}``: an embedded vshard + crud cluster
    (:class:`loadtnt.server.sharded.ShardedCluster`), started fresh for every trial."""

    shards: int = 2
    replicas: int = 2
    routers: int = 2
    bucket_count: int = 3000
    #: a Lua file run on each replica set's master (absolute); None: the default ``customers``
    schema: str | None = None

    def normalized(self) -> dict[str, Any]:
        return {"shards": self.shards, "replicas": self.replicas, "routers": self.routers,
                "bucket_count": self.bucket_count, "schema": self.schema}


@dataclass(frozen=True)
class ServerSetup:
    """An embedded server set-up (``servers:``, or ``server: {binary:, cfg:}`` for one): the
    Tarantool binary and box.cfg options over the benchmark server's own; each is started fresh
    for every trial. ``optional``: a set-up whose binary is not there is skipped, not an error."""

    name: str = EMBEDDED
    binary: str = "tarantool"
    cfg: dict[str, Any] = field(default_factory=dict)
    optional: bool = False
    #: instances of an embedded replica set (1: a single server), loaded through the pool
    replicas: int = 1
    #: an embedded sharded cluster instead of the benchmark server (its routers are loaded)
    sharded: Sharded | None = None

    def normalized(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "binary": self.binary, "cfg": dict(self.cfg)}
        if self.optional:
            out["optional"] = True
        if self.replicas > 1:
            out["replicas"] = self.replicas
        if self.sharded is not None:
            out["sharded"] = self.sharded.normalized()
        return out


@dataclass(frozen=True)
class Operation:
    op: str
    name: str
    weight: float = 1.0
    fields: dict[str, Any] = field(default_factory=dict)  # field -> value spec (raw YAML value)
    #: a transaction's steps (each without a weight: the mix never picks a step on its own)
    steps: tuple[Operation, ...] = ()
    line: int | None = field(default=None, compare=False)  # where the file defines it
    where: str = field(default="", compare=False)  # its field path, e.g. 'operations[1]'

    @property
    def step_names(self) -> list[str]:
        """The result entries of a transaction's steps: ``<transaction>.<step>``."""
        return [f"{self.name}.{st.name}" for st in self.steps]

    def normalized(self) -> dict[str, Any]:
        out = {"op": self.op, "name": self.name, "weight": self.weight, **self.fields}
        if self.op == "transaction":
            out.setdefault("isolation", "default")
            out["steps"] = [{"op": st.op, "name": st.name, **st.fields} for st in self.steps]
        return out


@dataclass(frozen=True)
class Scenario:
    name: str
    operations: tuple[Operation, ...]
    description: str = ""
    drivers: tuple[str, ...] = ("loadtnt",)
    loops: tuple[str, ...] = ("uvloop",)
    workers: int = 1
    connections: int = 1
    concurrency: int = 100
    warmup: float = 1.0
    duration: float | None = DEFAULT_DURATION
    requests: int | None = None
    trials: int = 1
    rate: float | None = None
    #: open loop in stages (``rate:`` as a list): the schedule follows them; ``duration`` is theirs
    stages: tuple[Stage, ...] = ()
    #: ``thresholds:``, parsed (loadtnt.results.thresholds.Threshold)
    thresholds: tuple[Any, ...] = ()
    server: Server | None = None  # a running server; None: the embedded one(s), ``servers``
    servers: tuple[ServerSetup, ...] = ()  # empty: one embedded server with the defaults
    mix: bool = True
    before: str | None = None
    timeout: float | None = None  # per request; None: each driver's default (none)
    #: ``--cluster`` / ``cluster:``: the Dask scheduler whose workers run the load (None: here)
    cluster: str | None = None
    #: ``--listen``: the address the embedded server and the coordinator listen on for a
    #: cluster's workers (None: the one by which this machine reaches the scheduler)
    listen: str | None = None
    path: str | None = None

    @property
    def instances(self) -> int:
        """How many instances every target has (1; more for a replica set or several uris)."""
        if self.server is not None:
            return len(self.server.uris)
        return max((x.sharded.routers if x.sharded is not None else x.replicas
                    for x in self.setups), default=1)

    @property
    def sharded(self) -> bool:
        """A sharded cluster is loaded (embedded or existing): the workers go to its routers."""
        if self.server is not None:
            return self.server.sharded
        return any(x.sharded is not None for x in self.setups)

    @property
    def profile(self) -> Profile | None:
        """The rate stages as a function of time (None: a constant rate or a closed loop)."""
        return Profile(self.stages) if self.stages else None

    @property
    def open_loop(self) -> bool:
        return self.rate is not None or bool(self.stages)

    @property
    def setups(self) -> tuple[ServerSetup, ...]:
        """The embedded server set-ups measured side by side (none with a running server)."""
        if self.server is not None:
            return ()
        return self.servers or (ServerSetup(),)

    @property
    def server_names(self) -> list[str]:
        """Every run entry's ``server``, in the order they are measured within a trial."""
        return [self.server.name] if self.server is not None else [s.name for s in self.setups]

    @property
    def transactions(self) -> tuple[Operation, ...]:
        """The ``transaction`` operations (they need a server with streams, 2.10+)."""
        return tuple(op for op in self.operations if op.op == "transaction")

    @property
    def groups(self) -> list[tuple[Operation, ...]]:
        """What is measured in turn: the whole mix, or (``mix: false``) each operation alone."""
        return [self.operations] if self.mix else [(op,) for op in self.operations]

    def override(self, **changes: Any) -> Scenario:
        """A copy with CLI overrides applied (``None`` values are ignored), validated."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "rate" in changes:  # a constant rate replaces the stages
            changes.setdefault("stages", ())
        elif changes.get("stages"):
            changes.setdefault("rate", None)
        if changes.get("stages") or (self.stages and "stages" not in changes):
            if "duration" in changes or "requests" in changes:
                raise ScenarioError("the rate stages set the duration: give --rate too, or "
                                    "change the stages", path=self.path, field="duration")
            changes["duration"] = Profile(changes.get("stages") or self.stages).duration
        if "requests" in changes:
            changes.setdefault("duration", None)
        elif "duration" in changes:
            changes["requests"] = None
        new = dataclasses.replace(self, **changes)
        check_model(new, targets=False)
        return new

    def normalized(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description,
            "drivers": list(self.drivers), "loops": list(self.loops),
            "workers": self.workers, "connections": self.connections,
            "concurrency": self.concurrency, "warmup": self.warmup,
            "duration": self.duration, "requests": self.requests, "trials": self.trials,
            "rate": [st.normalized() for st in self.stages] if self.stages else self.rate,
            "thresholds": [t.normalized() for t in self.thresholds],
            "server": self.server.normalized() if self.server else None,
            "servers": [x.normalized() for x in self.setups],
            "mix": self.mix, "before": self.before, "timeout": self.timeout,
            "operations": [op.normalized() for op in self.operations],
            **({"cluster": self.cluster} if self.cluster else {}),
        }


def check_model(s: Scenario, *, targets: bool = True) -> None:
    """Cross-field checks that CLI overrides can break too. ``targets=False``: not yet the
    checks that need the server to load, which the command line may still give (a file's
    ``mode:`` for a ``--server a,b``)."""
    for key in ("workers", "connections", "concurrency", "trials"):
        if getattr(s, key) < 1:
            raise ScenarioError(f"must be at least 1, got {getattr(s, key)}", path=s.path,
                                field=key)
    if s.connections > s.concurrency:
        raise ScenarioError(
            f"connections ({s.connections}) exceeds concurrency ({s.concurrency}): "
            "some connections would stay idle", path=s.path, field="connections")
    if s.requests is not None and s.requests < s.workers:
        raise ScenarioError(f"requests ({s.requests}) is fewer than workers ({s.workers})",
                            path=s.path, field="requests")
    if s.duration is None and s.requests is None:
        raise ScenarioError("give duration or requests", path=s.path, field="duration")
    if s.rate is not None and s.rate <= 0:
        raise ScenarioError(f"must be positive, got {s.rate}", path=s.path, field="rate")
    if s.stages:
        why = check_stages(s.stages)
        if why:
            raise ScenarioError(why, path=s.path, field="rate")
        if s.rate is not None:
            raise ScenarioError("give a rate or stages, not both", path=s.path, field="rate")
        if s.requests is not None:
            raise ScenarioError("rate stages set the duration: no requests with them",
                                path=s.path, field="requests")
    for loop in s.loops:
        if loop not in LOOPS:
            raise ScenarioError(f"unknown loop {loop!r} (known: {', '.join(LOOPS)})",
                                path=s.path, field="loops")
    known = drivers.available()
    for d in s.drivers:
        if d not in known:
            raise ScenarioError(f"unknown driver {d!r} (known: {', '.join(known)})",
                                path=s.path, field="drivers")
    if not s.drivers or not s.loops:
        raise ScenarioError("needs at least one driver and one loop", path=s.path,
                            field="drivers" if not s.drivers else "loops")
    if "loadtnt-c" in s.drivers:  # the C load loop sends the data ops only
        from loadtnt.drivers.loadtnt_c import C_OPS, NOT_IN_C

        for op in s.operations:
            if op.op not in C_OPS:
                raise ScenarioError(f"{op.op!r}: {NOT_IN_C}", path=s.path, line=op.line,
                                    field=op.where or "operations")
    if s.cluster is not None and not s.cluster.strip():
        raise ScenarioError("expected the Dask scheduler's address, e.g. tcp://10.0.0.9:8786",
                            path=s.path, field="cluster")
    if s.listen is not None and s.cluster is None:
        raise ScenarioError("--listen is for a cluster's workers: give --cluster too",
                            path=s.path, field="--listen")
    if s.server is not None and s.servers:
        raise ScenarioError("give server (a running one) or servers (embedded set-ups), not both",
                            path=s.path, field="servers")
    several = s.server is not None and len(s.server.uris) > 1 or any(
        x.replicas > 1 for x in s.servers)
    for op in s.operations:
        if op.op.startswith("crud."):  # crud's own mode ('read' / 'write')
            continue
        if targets and "mode" in op.fields and not several:
            raise ScenarioError("a mode picks among the instances of a replica set: give the "
                                "server several uris, or replicas: N", path=s.path,
                                line=op.line, field=f"{op.where or 'operations'}.mode")
    names = [x.name for x in s.servers]
    for i, x in enumerate(s.servers):
        if x.replicas < 1:
            raise ScenarioError(f"must be at least 1, got {x.replicas}", path=s.path,
                                field=f"servers[{i}].replicas")
        if names.count(x.name) > 1:
            raise ScenarioError(f"duplicate server name {x.name!r}: give each set-up a distinct "
                                "name", path=s.path, field=f"servers[{i}].name")
        for key in x.cfg:
            if key in HARNESS_CFG:
                raise ScenarioError(f"{key} is set by the harness (the embedded server listens "
                                    "on a free port in a temporary directory)", path=s.path,
                                    field=f"servers[{i}].cfg.{key}")
