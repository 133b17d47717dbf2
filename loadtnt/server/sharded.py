"""A real sharded cluster on loopback: vshard replica sets (storages) and routers, with crud.

For the crud tests, the sharded benchmarks and the harness's ``server: {sharded: ...}``::

    with ShardedCluster(shards=2, replicas=2, routers=2) as cluster:
        conn = Connection(host=cluster.host, port=cluster.router_ports[0],
                          username=cluster.username, password=cluster.password)
        await conn.crud.insert_object('customers', {'id': 1, 'name': 'a', 'age': 30})
        cluster.kill('storage-1-a')      # SIGKILL a member (its files stay)
        cluster.restart('storage-1-a')   # same port and files; back once its buckets are

``shards`` replica sets of ``replicas`` instances each (the first of each set its master) and
``routers`` routers, every one a Tarantool process on 127.0.0.1 with vshard and crud loaded
from the modules tree (``modules=``, else $LOADTNT_TARANTOOL_MODULES, else
``../shared/tarantool-modules`` beside the repository checkout). ``start()`` returns once the
buckets are bootstrapped and every router sees every bucket writable.

How the cluster is described depends on the server, the way its users describe it:

- Tarantool 3.x: one generated ``config.yaml`` (``sharding.roles: [storage]`` / ``[router]``,
  ``roles: [roles.crud-storage]`` / ``[roles.crud-router]``, the user in ``credentials``
  cluster-wide), each instance run as ``tarantool --name NAME --config FILE``;
- Tarantool 2.x (or ``config=False``): a script per instance with the classic
  ``vshard.storage.cfg`` / ``vshard.router.cfg`` and ``crud.init_storage`` / ``init_router``.

Storages keep their files across restarts (``wal_mode='write'``: replication reads the WAL,
and Tarantool 2.6 storages crashed in bucket bootstrap with ``'none'``); routers hold no data
(``'none'``) and start afresh.

One generated user (``username``, a random ``password``) is the cluster's: crud runs its
storage functions as the caller, vshard's routers and replicas log in as it. The password is in
the private (0700) work directory's files only: never in a repr, a log line or an error
message of this module.

``schema``: Lua run once on each replica set's master after the start (replicated to the
others) - a path or the text; by default :data:`DEFAULT_SCHEMA`, the ``customers`` space
(``id``, ``bucket_id``, ``name``, ``age``) with a ``bucket_id`` index and a non-unique
``age`` index. It must be idempotent (``if_not_exists``): a restarted master does not run it
again, but ``apply_schema()`` may.

The instances are administered over a Lua console on a unix socket in their work
directories (no credentials): ``eval(name, lua)``.
"""
from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from loadtnt.instance import (
    TarantoolInstance,
    TarantoolInstanceError,
    free_port,
    lua_literal,
    version_tuple,
)
from loadtnt.server.replicaset import _covers, console_eval, wait_until

if TYPE_CHECKING:
    from typing import Self

__all__ = (
    "DEFAULT_SCHEMA",
    "MODULES_ENV",
    "ModulesNotFoundError",
    "ShardedCluster",
    "ShardedClusterError",
    "find_modules",
)

MODULES_ENV = "LOADTNT_TARANTOOL_MODULES"
_LUA_SUBDIR = os.path.join("share", "lua", "5.1")
_CONSOLE_NAME = "console.sock"

DEFAULT_SCHEMA = """\
local s = box.schema.space.create('customers', {
    if_not_exists = true,
    format = {
        {name = 'id', type = 'unsigned'},
        {name = 'bucket_id', type = 'unsigned'},
        {name = 'name', type = 'string'},
        {name = 'age', type = 'unsigned'},
    },
})
s:create_index('primary_index', {parts = {{field = 'id'}}, if_not_exists = true})
s:create_index('bucket_id', {parts = {{field = 'bucket_id'}}, unique = false,
                             if_not_exists = true})
s:create_index('age_index', {parts = {{field = 'age'}}, unique = false, if_not_exists = true})
"""

_WHERE_TO_GET = (
    "vshard 0.1.42 and crud 1.7.5 (with their dependencies checks >= 3.3.0 and errors >= 2.2.1), "
    "pure Lua modules: install them into a directory with `tt rocks install` (or "
    "`tarantoolctl rocks install`) vshard 0.1.42, crud 1.7.5 - or take the project's "
    "shared/tarantool-modules tree - and point loadtnt at the directory that holds "
    f"share/lua/5.1: set {MODULES_ENV}=DIR or pass modules=DIR"
)


class ShardedClusterError(TarantoolInstanceError):
    """An instance did not start, the buckets did not bootstrap in time, or a console said no."""


class ModulesNotFoundError(ShardedClusterError, FileNotFoundError):
    """vshard and crud were not found: the message says where loadtnt looked and how to
    get them."""


def _default_modules_dirs() -> list[Path]:
    # the repository checkout (loadtnt/ is its top package), then its sibling shared/
    repo = Path(__file__).resolve().parent.parent.parent
    return [repo.parent / "shared" / "tarantool-modules", repo / "shared" / "tarantool-modules"]


def _lua_root(directory: Path) -> Path | None:
    """The directory with vshard/ and crud.lua in it: DIR/share/lua/5.1 or DIR itself."""
    for candidate in (directory / _LUA_SUBDIR, directory):
        if (candidate / "vshard" / "init.lua").is_file() and (candidate / "crud.lua").is_file():
            return candidate
    return None


def find_modules(modules: str | os.PathLike[str] | None = None) -> Path:
    """The Lua tree with vshard and crud (the directory LUA_PATH gets): from ``modules``, else
    $LOADTNT_TARANTOOL_MODULES, else ``../shared/tarantool-modules`` beside the repository.
    Raises ModulesNotFoundError saying where it looked and where to get them."""
    if modules is not None:
        tried = [(Path(modules), "the modules argument")]
    elif os.environ.get(MODULES_ENV):
        tried = [(Path(os.environ[MODULES_ENV]), f"${MODULES_ENV}")]
    else:
        tried = [(d, "the default") for d in _default_modules_dirs()]
    for directory, _ in tried:
        root = _lua_root(directory.expanduser())
        if root is not None:
            return root.resolve()
    looked = "; ".join(f"{d} ({why})" for d, why in tried)
    raise ModulesNotFoundError(
        f"the Lua modules vshard and crud were not found (looked in {looked}). They are "
        + _WHERE_TO_GET)


class _Member:
    """One instance of the cluster: its name, role, place and process."""

    def __init__(self, name: str, kind: str, shard: int | None, port: int, work_dir: str):
        self.name = name
        self.kind = kind           # 'storage' or 'router'
        self.shard = shard         # the replica set's index (storages)
        self.port = port
        self.work_dir = work_dir
        self.uuid = str(uuid.uuid4())
        self.master = False
        self.instance: TarantoolInstance | None = None

    @property
    def running(self) -> bool:
        return self.instance is not None and self.instance.is_running


class ShardedCluster:
    """``shards`` replica sets × ``replicas`` instances + ``routers`` routers on 127.0.0.1.
    A context manager (``stop()`` always stops every process).

    :param shards, replicas, routers: the cluster's shape (storage ``s``'s instances are
        ``storage-S-a`` (its master), ``storage-S-b``, ...; routers ``router-1``, ...)
    :param bucket_count: vshard's
    :param schema: Lua text or a path of a Lua file run on each replica set's master
        (default :data:`DEFAULT_SCHEMA`)
    :param modules: the directory with vshard and crud (see :func:`find_modules`)
    :param binary: the tarantool executable (default $TARANTOOL, else ``tarantool``)
    :param config: describe the cluster with a Tarantool 3 ``config.yaml`` (default: on 3.x)
        or with the classic ``vshard.*.cfg`` calls (2.x, or ``config=False``)
    :param username: the cluster's user (its password is generated)
    :param memtx_memory: bytes per instance
    :param start_timeout: seconds for each instance's start, and for the buckets
    """

    def __init__(self, shards: int = 2, replicas: int = 2, routers: int = 1, *,
                 bucket_count: int = 3000, schema: str | os.PathLike[str] | None = None,
                 modules: str | os.PathLike[str] | None = None, binary: str | None = None,
                 config: bool | None = None, username: str = "loadtnt",
                 memtx_memory: int = 64 << 20, start_timeout: float = 60.0) -> None:
        if shards < 1 or replicas < 1 or routers < 1:
            raise ValueError(f"a sharded cluster needs at least one shard, replica and router, "
                             f"not {shards}, {replicas}, {routers}")
        if replicas > 26:
            raise ValueError("at most 26 instances per replica set")
        self.shards = int(shards)
        self.replicas = int(replicas)
        self.routers = int(routers)
        self.bucket_count = int(bucket_count)
        self.modules = find_modules(modules)
        self.binary = binary or os.environ.get("TARANTOOL") or "tarantool"
        self.version = version_tuple(self.binary)
        self.config = (self.version >= (3,)) if config is None else bool(config)
        if self.config and self.version < (3, 0, 2):
            raise ShardedClusterError(
                f"a config.yaml cluster needs Tarantool 3.0.2+ (crud's roles); "
                f"{self.binary} is {'.'.join(map(str, self.version))}: use config=False")
        if schema is None:
            self._schema = DEFAULT_SCHEMA
        elif isinstance(schema, os.PathLike) or (
                isinstance(schema, str) and "\n" not in schema and schema.endswith(".lua")):
            self._schema = Path(schema).read_text(encoding="utf-8")
        else:
            self._schema = str(schema)
        self.username = username
        self._password = secrets.token_urlsafe(18)
        self._memtx_memory = int(memtx_memory)
        self.start_timeout = float(start_timeout)
        self._root: str | None = None
        self._members: dict[str, _Member] = {}
        self._rs_uuids: list[str] = [str(uuid.uuid4()) for _ in range(self.shards)]

    # --- names and addresses ------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def password(self) -> str:
        """The cluster user's password (for clients; never shown by this module)."""
        return self._password

    @property
    def storage_names(self) -> list[list[str]]:
        """Per replica set, its instances' names, the master first."""
        return [[f"storage-{s + 1}-{chr(ord('a') + r)}" for r in range(self.replicas)]
                for s in range(self.shards)]

    @property
    def router_names(self) -> list[str]:
        return [f"router-{i + 1}" for i in range(self.routers)]

    @property
    def names(self) -> list[str]:
        return [n for rs in self.storage_names for n in rs] + self.router_names

    def port(self, name: str) -> int:
        return self._member(name).port

    def endpoint(self, name: str) -> str:
        return f"{self.host}:{self.port(name)}"

    @property
    def router_ports(self) -> list[int]:
        return [self.port(n) for n in self.router_names]

    @property
    def router_endpoints(self) -> list[str]:
        """``['127.0.0.1:port', ...]`` of the routers (what ``Pool`` takes)."""
        return [self.endpoint(n) for n in self.router_names]

    @property
    def storage_endpoints(self) -> list[list[str]]:
        return [[self.endpoint(n) for n in rs] for rs in self.storage_names]

    @property
    def masters(self) -> list[str]:
        """Each replica set's master: its first instance, unless switch_leader changed it."""
        return [next((n for n in rs if n in self._members and self._members[n].master), rs[0])
                for rs in self.storage_names]

    @property
    def config_path(self) -> str | None:
        """The generated config.yaml (3.x), while started."""
        return None if self._root is None or not self.config else \
            os.path.join(self._root, "config.yaml")

    @property
    def work_dir(self) -> str | None:
        return self._root

    def instance(self, name: str) -> TarantoolInstance | None:
        return self._member(name).instance

    def is_running(self, name: str) -> bool:
        return self._member(name).running

    def connection_kwargs(self, name: str | None = None) -> dict[str, Any]:
        """Connection arguments (host, port, username, password) for a router (the first by
        default) or any instance."""
        return {"host": self.host, "port": self.port(name or self.router_names[0]),
                "username": self.username, "password": self._password}

    def __repr__(self) -> str:
        shape = f"{self.shards}x{self.replicas}+{self.routers}"
        how = "config.yaml" if self.config else "vshard.cfg"
        if not self._members:
            return f"<ShardedCluster {shape} ({how}) not started>"
        states = ", ".join(f"{m.name} {m.port} {'up' if m.running else 'down'}"
                           for m in self._members.values())
        return f"<ShardedCluster {shape} ({how}) user={self.username} {states}>"

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> Self:
        if self._root is not None:
            raise ShardedClusterError(f"{self!r} is already started")
        self._root = tempfile.mkdtemp(prefix="loadtnt-sharded-")   # 0700: secrets inside
        try:
            for s, rs in enumerate(self.storage_names):
                for r, name in enumerate(rs):
                    m = _Member(name, "storage", s, free_port(), os.path.join(self._root, name))
                    m.master = r == 0
                    self._members[name] = m
            for name in self.router_names:
                self._members[name] = _Member(name, "router", None, free_port(),
                                              os.path.join(self._root, name))
            for m in self._members.values():
                os.makedirs(m.work_dir, exist_ok=True)
            self._schema_path = os.path.join(self._root, "schema.lua")
            Path(self._schema_path).write_text(self._schema, encoding="utf-8")
            if self.config:
                self._write_config()
            # every instance of a replica set at once: they bootstrap it together
            self._parallel(self._spawn, [n for rs in self.storage_names for n in rs])
            self.apply_schema()
            self._parallel(self._spawn, self.router_names)
            self.bootstrap()
        except BaseException as e:  # noqa: BLE001  stopped, then re-raised (masked)
            self.stop()
            raise self._scrubbed(e) from None
        return self

    def _scrubbed(self, e: BaseException) -> BaseException:
        """``e``, or - should its message hold the password (a server's log tail, a Lua
        error quoting a URI) - a ShardedClusterError with the password masked."""
        text = str(e)
        if self._password not in text:
            return e
        return ShardedClusterError(text.replace(self._password, "<password>"))

    def stop(self) -> None:
        """Stop every instance (SIGTERM, SIGKILL after 5 s) and remove the work directory."""
        members = [m for m in self._members.values() if m.instance is not None]
        with ThreadPoolExecutor(max(1, len(members))) as ex:
            for m in members:
                ex.submit(self._stop_member, m)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self._members = {}

    @staticmethod
    def _stop_member(m: _Member) -> None:
        with contextlib.suppress(Exception):
            assert m.instance is not None
            m.instance.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self, name: str) -> None:
        """SIGKILL instance ``name`` (a storage's files stay, for ``restart``)."""
        m = self._member(name)
        if m.instance is not None:
            m.instance.kill()

    def stop_instance(self, name: str) -> None:
        """SIGTERM instance ``name`` (a graceful shutdown; SIGKILL after 5 s)."""
        m = self._member(name)
        if m.instance is not None:
            m.instance.stop()

    def restart(self, name: str, *, wait: bool = True) -> None:
        """Start instance ``name`` again (stopping it first if it runs) on its port - a storage
        on its files. With ``wait``, returns once every running router sees every bucket
        writable again."""
        m = self._member(name)
        if m.running:
            assert m.instance is not None
            m.instance.stop()
        try:
            self._spawn(name)
        except Exception as e:  # noqa: BLE001  re-raised, the password masked
            raise self._scrubbed(e) from None
        if wait:
            # recovered (a master: writable again), then seen by the routers
            lua = "return box.info.status == 'running' and " + (
                "not box.info.ro" if m.master else "true")
            self._wait(functools.partial(self._eval_is, name, lua, True),
                       f"{name} to run again after its restart")
            self.wait_buckets()

    # --- administration -----------------------------------------------------------

    def eval(self, name: str, lua: str, *, timeout: float = 30.0) -> list[Any]:
        """Run a one-line Lua chunk on instance ``name`` over its console; its return values.
        Raises ShardedClusterError with the Lua error's message when the chunk fails."""
        m = self._member(name)
        return console_eval(os.path.join(m.work_dir, _CONSOLE_NAME), lua, timeout,
                            ShardedClusterError, name,
                            lambda text: text.replace(self._password, "<password>"))

    def apply_schema(self) -> None:
        """Run the schema on every replica set's master, then wait until its replicas have
        it (their vclocks cover the master's)."""
        path = lua_literal(self._schema_path)
        grant = "" if self.config else (
            f"box.schema.user.grant({lua_literal(self.username)}, 'super', nil, nil, "
            "{if_not_exists = true}) ")
        lua = f"if box.info.ro then return false end {grant}dofile({path}) return true"
        for s, rs in enumerate(self.storage_names):
            master = rs[0]
            self._wait(functools.partial(self._eval_is, master, lua, True),
                       f"replica set {s + 1}'s master {master} to take the schema")
            vclock = self.eval(master, "return box.info.vclock")[0] or {}
            for replica in rs[1:]:
                self._wait(functools.partial(self._caught_up, replica, vclock),
                           f"{replica} to replicate the schema")

    def _eval_is(self, name: str, lua: str, expected: Any) -> bool:
        return bool(self.eval(name, lua)[0] == expected)

    def _caught_up(self, name: str, vclock: Any) -> bool:
        return _covers(self.eval(name, "return box.info.vclock")[0], vclock)

    def bootstrap(self) -> None:
        """Bootstrap the buckets from the first running router (once: a bootstrapped cluster
        is left as it is), then wait until every router sees every bucket."""
        router = next(n for n in self.router_names if self.is_running(n))
        self._wait(lambda: self.eval(
            router, "local ok, err = require('vshard').router.bootstrap("
                    "{if_not_bootstrapped = true, timeout = 10}) "
                    "if not ok and err then error(tostring(err.message or err)) end "
                    "return true")[0] is True,
            f"the buckets to bootstrap from {router}", self.start_timeout)
        self.wait_buckets()

    def wait_buckets(self, timeout: float | None = None) -> None:
        """Until every running router sees all ``bucket_count`` buckets writable."""
        for router in [n for n in self.router_names if self.is_running(n)]:
            self._wait(functools.partial(self._sees_all, router),
                       f"{router} to see all {self.bucket_count} buckets writable", timeout)

    def _sees_all(self, router: str) -> bool:
        return self.available_rw(router) == self.bucket_count

    def available_rw(self, router: str) -> int:
        """How many buckets router ``router`` can write to now (vshard.router.info())."""
        return int(self.eval(
            router, "local r = require('vshard').router r.discovery_wakeup() "
                    "return r.info().bucket.available_rw")[0])

    def bucket_counts(self) -> list[int]:
        """Active buckets on each replica set's master (vshard.storage.buckets_count())."""
        return [int(self.eval(rs[0], "return require('vshard').storage.buckets_count()")[0])
                for rs in self.storage_names]

    def switch_leader(self, shard: int, leader: str, *, timeout: float | None = None) -> float:
        """Make ``leader`` the master of replica set ``shard`` (1-based) the way a 3.x cluster
        with ``replication.failover: manual`` does it: the config's ``leader`` changed and the
        config reloaded - the old master first (it turns read-only), then, once the new one has
        its rows, the new one (it turns writable), then every other instance (the routers learn
        the new master). Returns the seconds until every router saw every bucket writable
        again. 3.x config clusters only."""
        if not self.config or self.config_path is None:
            raise ShardedClusterError("switch_leader needs a config.yaml cluster (Tarantool 3.x)")
        names = self.storage_names[shard - 1]
        if leader not in names:
            raise ValueError(f"{leader!r} is not in replica set {shard} ({', '.join(names)})")
        old = next(n for n in names if self._member(n).master)
        t0 = time.monotonic()
        if old == leader:
            return 0.0
        with open(self.config_path, encoding="utf-8") as fh:
            head = fh.readline()
            config = yaml.safe_load(fh)
        config["groups"]["storages"]["replicasets"][f"storages-{shard}"]["leader"] = leader
        with open(self.config_path, "w", encoding="utf-8") as fh:   # mode 0600 stays
            fh.write(head)
            yaml.safe_dump(config, fh, sort_keys=False)
        self.eval(old, "require('config'):reload()")
        vclock = self.eval(old, "return box.info.vclock")[0] or {}
        self._wait(functools.partial(self._caught_up, leader, vclock),
                   f"{leader} to have {old}'s rows", timeout)
        self.eval(leader, "require('config'):reload()")
        self._member(old).master, self._member(leader).master = False, True
        for name in self.names:
            if name not in (old, leader) and self.is_running(name):
                self.eval(name, "require('config'):reload()")
        self.wait_buckets(timeout)
        return time.monotonic() - t0

    def add_shard(self) -> str:
        """A new replica set joins (3.x config clusters): its instances started with the
        schema, then the config reloaded everywhere so that the routers and the storages know
        it, and the rebalancer woken up - vshard then moves buckets to it (watch
        ``bucket_counts()``). Returns the new set's master."""
        if not self.config or self._root is None:
            raise ShardedClusterError("add_shard needs a started config.yaml cluster (3.x)")
        self.shards += 1
        new = self.storage_names[-1]
        for r, name in enumerate(new):
            m = _Member(name, "storage", self.shards - 1, free_port(),
                        os.path.join(self._root, name))
            m.master = r == 0
            os.makedirs(m.work_dir, exist_ok=True)
            self._members[name] = m
        self._rs_uuids.append(str(uuid.uuid4()))
        # the file lists members in order: storages, then routers (they are in _members too)
        self._write_config()
        try:
            self._parallel(self._spawn, new)
        except Exception as e:  # noqa: BLE001 - re-raised, the password masked
            raise self._scrubbed(e) from None
        self.apply_schema()
        for name in self.names:
            if name not in new and self.is_running(name):
                self.eval(name, "require('config'):reload()")
        for master in self.masters:
            self.eval(master, "require('vshard').storage.rebalancer_wakeup()")
        return new[0]

    def crud_safe_mode(self, enabled: bool | None = None) -> list[bool]:
        """crud's rebalance safe mode on each master (crud 1.7: on, each storage request
        checks its bucket; a bucket move switches it on): switch it when ``enabled`` is
        given; returns each master's state."""
        lua = "local r = require('crud.common.rebalance') "
        if enabled is not None:
            lua += "r.safe_mode_enable() " if enabled else "r.safe_mode_disable() "
        lua += "return r.safe_mode_status()"
        return [bool(self.eval(m, lua)[0]) for m in self.masters]

    # --- internals ----------------------------------------------------------------

    def _member(self, name: str) -> _Member:
        try:
            return self._members[name]
        except KeyError:
            known = ", ".join(self._members) or "none: the cluster is not started"
            raise KeyError(f"no instance {name!r} in the cluster (it has {known})") from None

    def _env(self) -> dict[str, str]:
        m = str(self.modules)
        return {"LUA_PATH": f"{m}/?.lua;{m}/?/init.lua;;"}

    def _parallel(self, fn: Callable[[str], None], names: Iterable[str]) -> None:
        names = list(names)
        with ThreadPoolExecutor(max(1, len(names))) as ex:
            futures = [ex.submit(fn, n) for n in names]
            errors = [f.exception() for f in futures]
        for e in errors:
            if e is not None:
                raise e

    def _spawn(self, name: str) -> None:
        m = self._member(name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(m.work_dir, _CONSOLE_NAME))   # a killed one's socket
        if self.config:
            assert self.config_path is not None
            argv = [self.binary, "--name", name, "--config", self.config_path]
        else:
            script = os.path.join(m.work_dir, "init.lua")
            Path(script).write_text(self._classic_script(m), encoding="utf-8")
            argv = [self.binary, script]
        if m.instance is None:
            m.instance = TarantoolInstance(
                port=m.port, work_dir=m.work_dir, binary=self.binary, keep_files=True,
                start_timeout=self.start_timeout, argv=argv, env=self._env())
        m.instance.start()

    def _uri(self, m: _Member) -> str:
        # with the password: only ever written into the private work directory
        return f"{self.username}:{self._password}@{self.host}:{m.port}"

    def _classic_script(self, m: _Member) -> str:
        console = lua_literal("unix/:" + os.path.join(m.work_dir, _CONSOLE_NAME))
        sharding = {
            self._rs_uuids[s]: {"replicas": {
                self._members[n].uuid: {"uri": self._uri(self._members[n]), "name": n,
                                        "master": self._members[n].master}
                for n in rs}}
            for s, rs in enumerate(self.storage_names)
        }
        cfg: dict[str, Any] = {
            "sharding": sharding,
            "bucket_count": self.bucket_count,
            "listen": f"{self.host}:{m.port}",
            "work_dir": m.work_dir,
            "memtx_memory": self._memtx_memory,
            "checkpoint_interval": 0,
            "feedback_enabled": False,
            "log_level": 5,
        }
        lines = [
            "-- generated by loadtnt.server.sharded; holds a password: keep it private",
            f"require('console').listen({console})",
            "vshard = require('vshard')     -- a global: vshard's storage functions need it",
            "crud = require('crud')",
        ]
        if m.kind == "storage":
            cfg["wal_mode"] = "write"
            cfg["replication_connect_timeout"] = 30
            lines += [f"vshard.storage.cfg({lua_literal(cfg)}, {lua_literal(m.uuid)})",
                      "crud.init_storage()"]
        else:
            cfg["wal_mode"] = "none"
            user, pw = lua_literal(self.username), lua_literal(self._password)
            lines += [f"vshard.router.cfg({lua_literal(cfg)})",
                      "crud.init_router()",
                      f"box.schema.user.create({user}, {{password = {pw}, if_not_exists = true}})",
                      f"box.schema.user.grant({user}, 'super', nil, nil, {{if_not_exists = true}})"]
        return "\n".join(lines) + "\n"

    def _write_config(self) -> None:
        assert self._root is not None
        root = self._root
        storages: dict[str, Any] = {}
        for s, rs in enumerate(self.storage_names):
            storages[f"storages-{s + 1}"] = {
                "leader": next((n for n in rs if self._members[n].master), rs[0]),
                "instances": {n: {"iproto": {"listen": [{"uri": self.endpoint(n)}]}}
                              for n in rs},
            }
        routers = {f"routers-{i + 1}": {"instances": {
            n: {"iproto": {"listen": [{"uri": self.endpoint(n)}]}}}}
            for i, n in enumerate(self.router_names)}
        per_instance = os.path.join(root, "{{ instance_name }}")
        config = {
            "credentials": {"users": {self.username: {"password": self._password,
                                                      "roles": ["super"]}}},
            "iproto": {"advertise": {"peer": {"login": self.username},
                                     "sharding": {"login": self.username}}},
            "sharding": {"bucket_count": self.bucket_count},
            "console": {"enabled": True, "socket": os.path.join(per_instance, _CONSOLE_NAME)},
            "process": {"pid_file": os.path.join(per_instance, "tarantool.pid")},
            "wal": {"dir": per_instance},
            "snapshot": {"dir": per_instance},
            "vinyl": {"dir": per_instance},
            "memtx": {"memory": self._memtx_memory},
            "groups": {
                "storages": {
                    "roles": ["roles.crud-storage"],
                    "sharding": {"roles": ["storage"]},
                    "replication": {"failover": "manual", "timeout": 0.5},
                    "wal": {"mode": "write"},
                    "replicasets": storages,
                },
                "routers": {
                    "roles": ["roles.crud-router"],
                    "sharding": {"roles": ["router"]},
                    "replication": {"failover": "off"},
                    "wal": {"mode": "none"},
                    "replicasets": routers,
                },
            },
        }
        path = os.path.join(root, "config.yaml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# generated by loadtnt.server.sharded; holds a password: keep it private\n")
            yaml.safe_dump(config, fh, sort_keys=False)

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        wait_until(ready, what, self.start_timeout if timeout is None else timeout,
                   ShardedClusterError, (OSError, ShardedClusterError, ValueError, TypeError),
                   0.1, repr(self))
