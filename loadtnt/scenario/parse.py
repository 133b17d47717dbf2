"""Scenarios: YAML in, a validated typed model (:mod:`loadtnt.scenario.model`) out.

:func:`load` reads a file and returns a :class:`Scenario` or raises :class:`ScenarioError`, whose
message names the file, the line and the field (``seed.yaml:14: operations[2].key: ...``).
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable
from typing import Any

import yaml

from loadtnt import drivers
from loadtnt.results.thresholds import ThresholdError, parse_threshold
from loadtnt.scenario.durations import parse_duration
from loadtnt.scenario.generators import GeneratorError, compile_value, is_generator_spec
from loadtnt.scenario.model import (
    EMBEDDED,
    HARNESS_CFG,
    LOOPS,
    Operation,
    Scenario,
    ScenarioError,
    Server,
    ServerSetup,
    Sharded,
    check_model,
)
from loadtnt.scenario.opspec import (
    CRUD_MODES,
    ISOLATIONS,
    MODES,
    OP_FIELDS,
    OP_REQUIRED,
    STATIC_FIELDS,
    STEP_OPS,
)
from loadtnt.scenario.stages import Profile, Stage, check_stages

# --- YAML with line numbers -------------------------------------------------------------


class _Doc:
    """Turns YAML nodes into values, raising ScenarioError at the node's line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, field: str, message: str) -> ScenarioError:
        line = node.start_mark.line + 1 if node is not None else None
        return ScenarioError(message, path=self.path, line=line, field=field)

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, field: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, field, f"expected a mapping, got {_kind(node)}")
        out = []
        seen: set[str] = set()
        for knode, vnode in node.value:
            key = self.value(knode)
            if not isinstance(key, str):
                raise self.fail(knode, field, f"keys must be strings, got {key!r}")
            if key in seen:
                raise self.fail(knode, _join(field, key), "duplicate key")
            seen.add(key)
            out.append((key, knode, vnode))
        return out

    def typed(self, node: yaml.Node, field: str, check: Callable[[Any], Any]) -> Any:
        try:
            return check(self.value(node))
        except (TypeError, ValueError) as e:
            raise self.fail(node, field, str(e)) from None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


def _join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"expected a positive integer, got {v!r}")
    return v


def _positive_number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise ValueError(f"expected a positive number, got {v!r}")
    return float(v)


def _positive_duration(v: Any) -> float:
    seconds = parse_duration(v)
    if seconds <= 0:
        raise ValueError(f"must be longer than zero, got {v!r}")
    return seconds


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {v!r}")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"expected true or false, got {v!r}")
    return v


def _names(allowed: tuple[str, ...] | None) -> Callable[[Any], tuple[str, ...]]:
    def check(v: Any) -> tuple[str, ...]:
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise ValueError(f"expected a name or a non-empty list of names, got {v!r}")
        for x in items:
            if allowed is not None and x not in allowed:
                raise ValueError(f"unknown {x!r} (known: {', '.join(allowed)})")
        if len(set(items)) != len(items):
            raise ValueError(f"names repeat in {items!r}")
        return tuple(items)
    return check


def parse_server(text: str, user: str | None = None, password: str | None = None) -> Server:
    """``host:port`` (as ``--server`` and ``server.uri`` take it)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {text!r}")
    return Server(host=host, port=int(port), user=user, password=password)


def parse_servers(text: str, user: str | None = None, password: str | None = None) -> Server:
    """``host:port``, or ``host:port,host:port,...``: the instances of one replica set."""
    uris = [u.strip() for u in text.split(",")]
    first = parse_server(uris[0], user, password)
    if len(uris) == 1:
        return first
    seen = [parse_server(u).uri for u in uris]
    dup = next((u for i, u in enumerate(seen) if u in seen[:i]), None)
    if dup:
        raise ValueError(f"{dup} is listed twice")
    return dataclasses.replace(first, endpoints=tuple(seen))


def load(path: str | os.PathLike[str]) -> Scenario:
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ScenarioError(f"cannot read: {e.strerror}", path=path) from None
    return loads(text, path=path)


def loads(text: str, *, path: str = "<scenario>") -> Scenario:
    doc = _Doc(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(f"invalid YAML: {e.problem or e.context}", path=path,
                            line=line) from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"invalid YAML: {e}", path=path) from None
    if root is None:
        raise ScenarioError("the file is empty", path=path)

    simple: dict[str, tuple[Callable[[Any], Any], str]] = {
        "name": (_string, "name"), "description": (_string, "description"),
        "drivers": (_names(tuple(drivers.available())), "drivers"), "loops": (_names(LOOPS), "loops"),
        "workers": (_positive_int, "workers"), "connections": (_positive_int, "connections"),
        "concurrency": (_positive_int, "concurrency"), "trials": (_positive_int, "trials"),
        "requests": (_positive_int, "requests"), "warmup": (parse_duration, "warmup"),
        "duration": (parse_duration, "duration"), "timeout": (_positive_duration, "timeout"),
        "mix": (_bool, "mix"), "before": (_string, "before"),
        "cluster": (_string, "cluster"),
    }
    values: dict[str, Any] = {}
    nodes: dict[str, yaml.Node] = {}
    thresholds_node: yaml.Node | None = None
    for key, knode, vnode in doc.mapping(root, ""):
        nodes[key] = vnode
        is_null = isinstance(vnode, yaml.ScalarNode) and doc.value(vnode) is None
        if key in simple:
            if not is_null:
                values[key] = doc.typed(vnode, key, simple[key][0])
        elif key == "rate":
            if isinstance(vnode, yaml.SequenceNode):
                values["stages"] = _stages(doc, vnode)
            else:
                values[key] = None if is_null else doc.typed(vnode, key, _positive_number)
        elif key == "thresholds":
            if not is_null:
                thresholds_node = vnode
        elif key == "server":
            if not is_null:
                server = _server(doc, vnode, os.path.dirname(path))
                if isinstance(server, Server):
                    values["server"] = server
                else:
                    values["servers"] = (server,)
        elif key == "servers":
            if not is_null:
                values["servers"] = _servers(doc, vnode, os.path.dirname(path))
        elif key == "operations":
            values[key] = _operations(doc, vnode)
        else:
            known = ", ".join(sorted([*simple, "rate", "server", "servers", "operations",
                                      "thresholds"]))
            raise doc.fail(knode, key, f"unknown key (known: {known})")
    if "operations" not in values:
        raise doc.fail(root, "operations", "missing: a scenario needs at least one operation")
    if "server" in nodes and "servers" in nodes and values.get("servers"):
        raise doc.fail(nodes["servers"], "servers", "give server or servers, not both (server: "
                       "one running server or one embedded set-up; servers: several set-ups)")
    if "duration" in values and "requests" in values:
        raise doc.fail(nodes["requests"], "requests", "give duration or requests, not both")
    if "duration" in values and values["duration"] <= 0:
        raise doc.fail(nodes["duration"], "duration", "must be longer than zero")
    if "requests" in values:
        values["duration"] = None
    if values.get("stages"):
        for key in ("duration", "requests"):
            if key in values and values[key] is not None:
                raise doc.fail(nodes[key], key, "the rate stages set the duration (the sum of "
                               "their `over` and `hold`): drop it")
        values["duration"] = Profile(values["stages"]).duration
    if thresholds_node is not None:
        values["thresholds"] = _thresholds(doc, thresholds_node, values.get("operations", ()))
    if "name" not in values:
        values["name"] = os.path.splitext(os.path.basename(path))[0]
    scenario = Scenario(path=path, **values)
    try:
        check_model(scenario, targets=False)  # the command line may still give the server
    except ScenarioError as e:
        node = nodes.get(e.field or "")
        raise ScenarioError(e.message, path=path,
                            line=node.start_mark.line + 1 if node else e.line,
                            field=e.field) from None
    return scenario


_RUNNING_KEYS = ("uri", "uris", "user", "password", "config", "routers")
_SETUP_KEYS = ("name", "binary", "cfg", "optional", "replicas", "sharded")
_SHARDED_KEYS = ("shards", "replicas", "routers", "bucket_count", "schema")
# Pool.from_config's filters, as ``server.routers`` takes them
_FILTERS = ("groups", "replicasets", "instances", "roles", "sharding_roles", "labels")


def _server(doc: _Doc, node: yaml.Node, base_dir: str) -> Server | ServerSetup:
    """``server:``: a running server (``uri``, ``user``, ``password``, ``name``) or one embedded
    set-up (``binary``, ``cfg``, ``name``)."""
    items = doc.mapping(node, "server")
    keys = {k for k, _, _ in items}
    if keys & set(_SETUP_KEYS[1:]):
        for key, knode, _ in items:
            if key in _RUNNING_KEYS:
                raise doc.fail(knode, _join("server", key), "a running server (uri) has no "
                               "binary or cfg; an embedded one (binary, cfg) has no " + key)
        return _setup(doc, node, "server", base_dir, default_name=EMBEDDED)
    if "config" in keys or "routers" in keys:
        return _config_server(doc, node, items, base_dir)
    uri = None
    uris: tuple[str, ...] = ()
    extra: dict[str, str | None] = {"user": None, "password": None, "name": None}
    for key, knode, vnode in items:
        f = _join("server", key)
        if key == "uri":
            uri = doc.typed(vnode, f, lambda v: parse_server(_string(v)))
        elif key == "uris":
            uris = _uris(doc, vnode, f)
        elif key in extra:
            extra[key] = doc.typed(vnode, f, lambda v: None if v is None else _string(v))
        else:
            raise doc.fail(knode, f, "unknown key (known: uri, uris, user, password, name; for "
                           "the embedded server: binary, cfg, name, replicas, sharded; for an "
                           "existing sharded cluster: config, routers, user, password, name)")
    if uri is not None and uris:
        raise doc.fail(node, "server.uris", "give uri (one instance) or uris (several), not "
                       "both")
    if uris:
        uri = dataclasses.replace(parse_server(uris[0]), endpoints=uris)
    if uri is None:
        raise doc.fail(node, "server.uri", "missing (host:port, or uris: [host:port, ...]; or "
                       "give binary/cfg/replicas for the embedded server)")
    named = {"name": extra["name"]} if extra["name"] else {}
    return dataclasses.replace(uri, user=extra["user"], password=extra["password"], **named)


def _config_server(doc: _Doc, node: yaml.Node, items: list[tuple[str, yaml.Node, yaml.Node]],
                   base_dir: str) -> Server:
    """``server: {config: FILE.yaml, routers: {...filters...}, user:, password:, name:}``: an
    existing Tarantool 3.x sharded cluster, its routers selected by Pool.from_config's filters
    (default ``sharding_roles: [router]``); the config is resolved here, so that a config or a
    filter that selects nothing is an error at its line."""
    from loadtnt.driver.config import ConfigError, resolve_config

    values: dict[str, Any] = {"user": None, "password": None, "name": None}
    config: str | None = None
    config_node: yaml.Node = node
    routers: dict[str, Any] = {}
    routers_node: yaml.Node = node
    for key, knode, vnode in items:
        f = _join("server", key)
        if key == "config":
            config = doc.typed(vnode, f, lambda v: os.path.normpath(os.path.join(
                os.path.abspath(base_dir or "."), os.path.expanduser(_string(v)))))
            config_node = vnode
        elif key == "routers":
            routers_node = vnode
            for rkey, rknode, rvnode in doc.mapping(vnode, f):
                if rkey not in _FILTERS:
                    raise doc.fail(rknode, _join(f, rkey), "unknown filter (Pool.from_config's: "
                                   + ", ".join(_FILTERS) + ")")
                routers[rkey] = doc.typed(rvnode, _join(f, rkey), _filter_value(rkey))
        elif key in values:
            values[key] = doc.typed(vnode, f, lambda v: None if v is None else _string(v))
        else:
            raise doc.fail(knode, f, "unknown key for an existing sharded cluster (known: "
                           "config, routers, user, password, name)")
    if config is None:
        raise doc.fail(node, "server.config", "missing: the cluster's config.yaml (routers: "
                       "selects its routers)")
    if not os.path.isfile(config):
        raise doc.fail(config_node, "server.config", f"no such file: {config}")
    filters = routers or {"sharding_roles": ["router"]}
    try:
        chosen = resolve_config(config, **filters, username=values["user"],
                                password=values["password"])
    except (ConfigError, ValueError, TypeError, OSError, yaml.YAMLError) as e:
        bad = routers_node if routers and "no instance" in str(e) else config_node
        raise doc.fail(bad, "server.routers" if bad is routers_node else "server.config",
                       f"{type(e).__name__}: {e}") from None
    endpoints = tuple(c.endpoint for c in chosen)
    host, _, port = endpoints[0].rpartition(":")
    if not port.isdigit():
        raise doc.fail(config_node, "server.config", f"router {chosen[0].name} listens on "
                       f"{endpoints[0]}: the harness needs host:port")
    return Server(host=host, port=int(port), user=values["user"] or chosen[0].username,
                  password=values["password"], name=values["name"] or "sharded",
                  endpoints=endpoints, config=config, routers=filters)


def _filter_value(key: str) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if key == "labels":
            if not isinstance(v, dict):
                raise TypeError(f"expected a mapping of label: value, got {v!r}")
            return v
        if isinstance(v, str):
            return [v]
        if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            return v
        raise TypeError(f"expected a name or a list of names, got {v!r}")
    return check


def _sharded(doc: _Doc, node: yaml.Node, where: str, base_dir: str) -> Sharded:
    values: dict[str, Any] = {}
    if isinstance(node, yaml.ScalarNode) and doc.value(node) in (True, None):
        return Sharded()
    for key, knode, vnode in doc.mapping(node, where):
        f = _join(where, key)
        if key in ("shards", "replicas", "routers"):
            values[key] = doc.typed(vnode, f, lambda v: _bounded(v, 1, 9))
        elif key == "bucket_count":
            values[key] = doc.typed(vnode, f, lambda v: _bounded(v, 1, 1 << 20))
        elif key == "schema":
            path = doc.typed(vnode, f, lambda v: os.path.normpath(os.path.join(
                os.path.abspath(base_dir or "."), os.path.expanduser(_string(v)))))
            if not os.path.isfile(path):
                raise doc.fail(vnode, f, f"no such file: {path} (a Lua file run on each "
                               "replica set's master)")
            values[key] = path
        else:
            raise doc.fail(knode, f, f"unknown key (known: {', '.join(_SHARDED_KEYS)})")
    if values.get("bucket_count", 3000) < values.get("shards", 2):
        raise doc.fail(node, _join(where, "bucket_count"), "fewer buckets than shards")
    return Sharded(**values)


def _bounded(v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"expected an integer from {lo} to {hi}, got {v!r}")
    return v


def _uris(doc: _Doc, node: yaml.Node, field: str) -> tuple[str, ...]:
    """``uris: [host:port, ...]``: the instances of one replica set, each once."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise doc.fail(node, field, "expected a non-empty list of host:port")
    out: list[str] = []
    for i, unode in enumerate(node.value):
        uri = doc.typed(unode, _join(field, i), lambda v: parse_server(_string(v)).uri)
        if uri in out:
            raise doc.fail(unode, _join(field, i), f"{uri} is listed twice")
        out.append(uri)
    return tuple(out)


def _servers(doc: _Doc, node: yaml.Node, base_dir: str) -> tuple[ServerSetup, ...]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise doc.fail(node, "servers", "expected a non-empty list of server set-ups "
                       "({name:, binary:, cfg:})")
    single = len(node.value) == 1
    out: list[ServerSetup] = []
    for i, snode in enumerate(node.value):
        where = f"servers[{i}]"
        setup = _setup(doc, snode, where, base_dir, default_name=EMBEDDED if single else None)
        if any(x.name == setup.name for x in out):
            name_node = next((v for k, _, v in doc.mapping(snode, where) if k == "name"), snode)
            raise doc.fail(name_node, _join(where, "name"), f"duplicate server name "
                           f"{setup.name!r}: give each set-up a distinct name")
        out.append(setup)
    return tuple(out)


def _setup(doc: _Doc, node: yaml.Node, where: str, base_dir: str, *,
           default_name: str | None) -> ServerSetup:
    values: dict[str, Any] = {}
    for key, knode, vnode in doc.mapping(node, where):
        f = _join(where, key)
        if key == "name":
            values["name"] = doc.typed(vnode, f, _name)
        elif key == "binary":
            values["binary"] = doc.typed(vnode, f, lambda v: resolve_binary(_string(v), base_dir))
        elif key == "optional":
            values["optional"] = doc.typed(vnode, f, _bool)
        elif key == "replicas":
            values["replicas"] = doc.typed(vnode, f, _replicas)
        elif key == "sharded":
            values["sharded"] = _sharded(doc, vnode, f, base_dir)
        elif key == "cfg":
            cfg: dict[str, Any] = {}
            for ckey, cknode, cvnode in doc.mapping(vnode, f):
                if ckey in HARNESS_CFG:
                    raise doc.fail(cknode, _join(f, ckey), "set by the harness (the embedded "
                                   "server listens on a free port in a temporary directory)")
                cfg[ckey] = doc.value(cvnode)
            values["cfg"] = cfg
        else:
            raise doc.fail(knode, f, f"unknown key (known: {', '.join(_SETUP_KEYS)})")
    if "sharded" in values:
        for key, knode, _ in doc.mapping(node, where):
            if key in ("cfg", "replicas"):
                raise doc.fail(knode, _join(where, key), f"a sharded cluster has no {key} "
                               "(sharded: {shards, replicas, routers, bucket_count, schema})")
    if "name" not in values:
        if default_name is None:
            raise doc.fail(node, _join(where, "name"), "missing: with several set-ups each needs "
                           "a name (it labels their results)")
        values["name"] = default_name
    return ServerSetup(**values)


def _replicas(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 9:
        raise ValueError(f"expected the number of instances of the replica set (1 to 9), "
                         f"got {v!r}")
    return v


def _name(v: Any) -> str:
    if isinstance(v, int | float) and not isinstance(v, bool):
        raise TypeError(f"expected a string, got the number {v!r}: quote it ('{v}')")
    name = _string(v)
    if not name.strip() or name != name.strip():
        raise ValueError(f"expected a non-empty name without surrounding spaces, got {v!r}")
    return name


def resolve_binary(binary: str, base_dir: str = "") -> str:
    """A Tarantool binary as a set-up names it: a bare name is looked up on PATH when the server
    starts; a path (``bin/tarantool``, ``~/t/tarantool``) is made absolute, relative paths
    against ``base_dir`` (the scenario file's directory); ``$VAR`` (or ``${VAR}``) stays as
    ``$VAR``, the environment variable read when the set-up is checked
    (:func:`loadtnt.server.setups.find_binary`)."""
    if not binary:
        raise ValueError("expected the tarantool binary's name or path, got ''")
    if binary.startswith("$"):  # an environment variable, read when the set-up is checked
        if not re.fullmatch(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", binary):
            raise ValueError(f"expected $VARIABLE (an environment variable naming the binary), "
                             f"got {binary!r}")
        return "$" + binary.strip("${}")
    if os.sep not in binary and not binary.startswith("~"):
        return binary
    path = os.path.expanduser(binary)
    return os.path.normpath(os.path.join(os.path.abspath(base_dir or "."), path))


def _operations(doc: _Doc, node: yaml.Node, field: str = "operations", *,
                in_transaction: str | None = None) -> tuple[Operation, ...]:
    """``operations:``, or (``in_transaction``: the transaction's name) a transaction's
    ``steps:``, which may only be data ops and have no weight."""
    what = "steps" if in_transaction is not None else "operations"
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise doc.fail(node, field, f"expected a non-empty list of {what}")
    known_ops = STEP_OPS if in_transaction is not None else tuple(OP_FIELDS)
    ops: list[Operation] = []
    names: set[str] = set()
    for i, onode in enumerate(node.value):
        where = f"{field}[{i}]"
        items = doc.mapping(onode, where)
        by_key = {k: (kn, vn) for k, kn, vn in items}
        if "op" not in by_key:
            raise doc.fail(onode, _join(where, "op"), "missing (one of: " + ", ".join(known_ops)
                           + ")")
        op = doc.typed(by_key["op"][1], _join(where, "op"), _string)
        if op not in known_ops:
            if op in OP_FIELDS:
                raise doc.fail(by_key["op"][1], _join(where, "op"),
                               f"op {op!r} cannot be a step of a transaction (steps are data "
                               f"ops: {', '.join(STEP_OPS)})")
            raise doc.fail(by_key["op"][1], _join(where, "op"),
                           f"unknown op {op!r} (known: {', '.join(known_ops)})")
        allowed = OP_FIELDS[op]
        name, weight = op, 1.0
        fields: dict[str, Any] = {}
        steps: tuple[Operation, ...] = ()
        for key, knode, vnode in items:
            f = _join(where, key)
            if key == "op":
                continue
            if key == "name":
                name = doc.typed(vnode, f, _string)
            elif key == "weight" and in_transaction is None:
                weight = doc.typed(vnode, f, _positive_number)
            elif key == "weight":
                raise doc.fail(knode, f, f"a step has no weight: it runs once in every "
                               f"{in_transaction!r} transaction (weight the transaction)")
            elif op == "transaction" and key == "steps":
                steps = _operations(doc, vnode, f, in_transaction=name)
            elif op == "transaction" and key == "isolation":
                fields[key] = doc.typed(vnode, f, _isolation)
            elif key == "mode" and op.startswith("crud.") and key in allowed:
                fields[key] = doc.typed(vnode, f, _crud_mode)
            elif key == "mode" and in_transaction is None and op != "transaction":
                fields[key] = doc.typed(vnode, f, _mode)
            elif key == "mode":
                raise doc.fail(knode, f, "a transaction runs on the master (its stream is one "
                               "connection's): no mode for it or its steps")
            elif key in allowed:
                fields[key] = _field_value(doc, vnode, f, static=key in STATIC_FIELDS)
            else:
                top = in_transaction is None
                known = ", ".join(("name", *(("weight",) if top else ()), *allowed,
                                   *(("mode",) if top and op != "transaction"
                                     and "mode" not in allowed else ())))
                raise doc.fail(knode, f, f"unknown key for op {op!r} (known: {known})")
        for req in OP_REQUIRED[op]:
            if req not in fields and not (req == "steps" and steps):
                raise doc.fail(onode, _join(where, req), f"missing (op {op!r} needs it)")
        if name in names:
            dup = "step" if in_transaction is not None else "operation"
            within = f" in transaction {in_transaction!r}" if in_transaction is not None else ""
            raise doc.fail(by_key.get("name", by_key["op"])[1], _join(where, "name"),
                           f"duplicate {dup} name {name!r}{within}: give each a distinct name")
        names.add(name)
        ops.append(Operation(op=op, name=name, weight=weight, fields=fields, steps=steps,
                             line=onode.start_mark.line + 1, where=where))
    if in_transaction is None:
        _check_step_entries(doc, node, ops)
    return tuple(ops)


def _mode(v: Any) -> str:
    if not isinstance(v, str) or v.lower() not in MODES:
        raise ValueError(f"unknown mode {v!r} (known: {', '.join(MODES)})")
    return v.lower()


def _crud_mode(v: Any) -> str:
    if not isinstance(v, str) or v.lower() not in CRUD_MODES:
        raise ValueError(f"unknown crud mode {v!r} (crud's: {', '.join(CRUD_MODES)}; the "
                         "routers are taken in turn)")
    return v.lower()


def _isolation(v: Any) -> str:
    if not isinstance(v, str) or v.lower() not in ISOLATIONS:
        raise ValueError(f"unknown isolation {v!r} (known: {', '.join(ISOLATIONS)})")
    return v.lower()


def _check_step_entries(doc: _Doc, node: yaml.Node, ops: list[Operation]) -> None:
    """A step's result entry (``<transaction>.<step>``) must not take an operation's name."""
    names = {op.name for op in ops}
    for i, op in enumerate(ops):
        for entry in op.step_names:
            if entry in names:
                raise doc.fail(node.value[i], f"operations[{i}].name", f"the step entry "
                               f"{entry!r} of transaction {op.name!r} takes the name of another "
                               "operation: rename one")


def _field_value(doc: _Doc, node: yaml.Node, field: str, *, static: bool) -> Any:
    value = doc.value(node)
    if static and _has_generator(value):
        raise doc.fail(node, field, "must be a constant (generators stand only for values)")
    try:
        compile_value(value)
    except GeneratorError as e:
        bad = _node_at(node, e.path)
        sub = field + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.path)
        raise doc.fail(bad, sub, f"bad generator: {e.message}") from None
    _check_generator_shapes(doc, node, field)
    return value


def _has_generator(value: Any) -> bool:
    if is_generator_spec(value):
        return True
    if isinstance(value, list):
        return any(_has_generator(v) for v in value)
    if isinstance(value, dict):
        return any(_has_generator(v) for v in value.values())
    return False


_GEN_LIKE = ("uniform", "zipf", "sequential", "string", "random", "constant", "seq")


def _check_generator_shapes(doc: _Doc, node: yaml.Node, field: str) -> None:
    """A mapping that looks like a misspelt or malformed generator is an error, not a value."""
    if isinstance(node, yaml.MappingNode):
        keys = [doc.value(k) for k, _ in node.value]
        if any(k in _GEN_LIKE for k in keys) and not (len(keys) == 1 and keys[0] in _GEN_LIKE[:4]):
            raise doc.fail(node, field, "bad generator: expected exactly one of {uniform: [lo, hi]}"
                           ", {zipf: [lo, hi, s]}, {sequential: start}, {string: length}")
        if len(keys) == 1 and keys[0] in _GEN_LIKE[:4]:
            return
        if len(keys) == 1 and isinstance(keys[0], str):
            close = difflib.get_close_matches(keys[0], _GEN_LIKE[:4], n=1, cutoff=0.7)
            if close:
                raise doc.fail(node, field, f"unknown generator {keys[0]!r} "
                               f"(did you mean {close[0]!r}?)")
        for k, v in node.value:
            _check_generator_shapes(doc, v, _join(field, doc.value(k)))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _check_generator_shapes(doc, v, _join(field, i))


def _node_at(node: yaml.Node, path: tuple[Any, ...]) -> yaml.Node:
    for p in path:
        if isinstance(node, yaml.SequenceNode) and isinstance(p, int) and p < len(node.value):
            node = node.value[p]
        elif isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == p]
            if not match:
                break
            node = match[0]
        else:
            break
    return node


def _stages(doc: _Doc, node: yaml.SequenceNode) -> tuple[Stage, ...]:
    """``rate:`` as stages: ``{to: R, over: 30s}``, ``{hold: 60s}``, ``{to: R}``."""
    out: list[Stage] = []
    for i, snode in enumerate(node.value):
        where = f"rate[{i}]"
        items = {k: (kn, vn) for k, kn, vn in doc.mapping(snode, where)}
        for key, (knode, _) in items.items():
            if key not in ("to", "over", "hold"):
                raise doc.fail(knode, _join(where, key), "unknown key (a stage is {to: R, over: "
                               "30s}, {hold: 60s} or {to: R})")
        line = snode.start_mark.line + 1
        if "hold" in items:
            if len(items) > 1:
                raise doc.fail(snode, where, "a hold has no `to` or `over`: {hold: 60s} keeps "
                               "the rate the stages before it reached")
            out.append(Stage(None, doc.typed(items["hold"][1], _join(where, "hold"),
                                             _positive_duration), line))
            continue
        if "to" not in items:
            raise doc.fail(snode, _join(where, "to"), "missing: a stage is {to: R, over: 30s}, "
                           "{hold: 60s} or {to: R}")
        to = doc.typed(items["to"][1], _join(where, "to"), _rate)
        over = (doc.typed(items["over"][1], _join(where, "over"), _positive_duration)
                if "over" in items else 0.0)
        out.append(Stage(to, over, line))
    stages = tuple(out)
    why = check_stages(stages)
    if why:
        raise doc.fail(node, "rate", why)
    return stages


def _rate(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise ValueError(f"expected a rate (requests/s, 0 or more), got {v!r}")
    return float(v)


def _thresholds(doc: _Doc, node: yaml.Node, ops: tuple[Operation, ...]) -> tuple[Any, ...]:
    """``thresholds: {op: ['p99 < 2ms', ...], '*': [...]}``: each parsed once, here."""
    names = [n for op in ops for n in (op.name, *op.step_names)]
    out = []
    for key, knode, vnode in doc.mapping(node, "thresholds"):
        f = _join("thresholds", key)
        if key != "*" and key not in names:
            raise doc.fail(knode, f, f"unknown op {key!r} (the scenario's ops: "
                           f"{', '.join(names)}; or '*' for all of them together)")
        items = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
        if isinstance(vnode, yaml.SequenceNode) and not items:
            raise doc.fail(vnode, f, "expected a threshold or a list of them")
        for i, inode in enumerate(items):
            fi = _join(f, i) if isinstance(vnode, yaml.SequenceNode) else f
            opts: dict[str, bool] = {}
            if isinstance(inode, yaml.MappingNode):
                text_node = None
                for k, kn, vn in doc.mapping(inode, fi):
                    if k == "threshold":
                        text_node = vn
                    elif k in ("abort_on_fail", "all_trials"):
                        opts[k] = doc.typed(vn, _join(fi, k), _bool)
                    else:
                        raise doc.fail(kn, _join(fi, k), "unknown key (known: threshold, "
                                       "abort_on_fail, all_trials)")
                if text_node is None:
                    raise doc.fail(inode, _join(fi, "threshold"), "missing (e.g. 'p99 < 2ms')")
                inode = text_node
            text = doc.typed(inode, fi, _string)
            try:
                out.append(parse_threshold(text, op=key, line=inode.start_mark.line + 1, **opts))
            except ThresholdError as e:
                raise doc.fail(inode, fi, str(e)) from None
    return tuple(out)
