"""A real replica set on loopback: N Tarantool processes replicating to each other.

For the pool's tests and for the harness's ``replicas: N``. Each member is a
:class:`~loadtnt.instance.TarantoolInstance` (the launcher the embedded server uses) with
``wal_mode='write'`` (replication reads the WAL) and its files kept across restarts, so that a
killed member recovers its data and catches up instead of bootstrapping anew::

    with ReplicaSet(2, lua=schema_lua) as rs:
        pool = Pool(rs.endpoints, ...)
        rs.switch_master(1)   # member 0 read_only = true, then member 1 read_only = false
        rs.kill(1)            # SIGKILL
        rs.restart(1)         # same port and files; back in the replica set

Member 0 bootstraps the set and is its first master (``read_only = false``); the others join
it read-only. A replication user with a generated password (never logged, never in a repr:
only the members' init.lua in the private work directory hold it) carries the replication.
``start()`` and ``restart()`` return once every member's upstream and downstream with each
other member are ``follow``. Works with box.cfg on 2.6 and 3.x alike (3.x runs without a
config file).

The launcher administers the members over a Lua console on a unix socket in each member's work
directory (no credentials); ``eval(i, lua)`` runs a one-line Lua chunk there and returns its
values.

``lua`` / ``init_script`` run on every member at every start, after box.cfg (a joining member
has the replicated schema by then) and before listen: like a real instance file they must be
idempotent (``if_not_exists``, ``box.once``) and must not write on a read-only member.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from loadtnt.instance import TarantoolInstance, TarantoolInstanceError, free_port, lua_literal

if TYPE_CHECKING:
    from typing import Self

__all__ = ("ReplicaSet", "ReplicaSetError")

REPLICATION_USER = "loadtnt_replicator"
_CONSOLE_NAME = "console.sock"
# what every member gets under the caller's cfg: replication needs the WAL
_MEMBER_CFG: dict[str, Any] = {
    "wal_mode": "write",
    "replication_timeout": 0.5,
    "replication_connect_timeout": 10,
    # a restarted member's box.cfg waits this long for it to sync (default 300 s), before it
    # listens; the launcher waits for follow and for the master's writability itself
    "replication_sync_timeout": 5,
}
_MEMTX_MEMORY = 128 << 20


class ReplicaSetError(TarantoolInstanceError):
    """A member did not start, join or follow in time; or the console said no."""


class ReplicaSet:
    """``size`` members on 127.0.0.1, member 0 the master. A context manager (always stops).

    ``cfg``: box.cfg options for every member over ``wal_mode='write'`` and the launcher's
    replication timeouts; ``binary``: the tarantool executable (default $TARANTOOL, else
    ``tarantool``); ``follow_timeout``: seconds ``start()``/``restart()``/``switch_master()``
    wait for the replication to settle.
    """

    def __init__(self, size: int = 2, *, lua: str = "",
                 init_script: str | os.PathLike[str] | None = None,
                 cfg: Mapping[str, Any] | None = None, binary: str | None = None,
                 memtx_memory: int = _MEMTX_MEMORY, start_timeout: float = 30.0,
                 follow_timeout: float = 30.0) -> None:
        if size < 1:
            raise ValueError(f"a replica set needs at least one member, not {size}")
        self.size = int(size)
        self._lua = lua
        self._init_script = init_script
        self._cfg = {**_MEMBER_CFG, **(cfg or {})}
        self._binary = binary
        self._memtx_memory = int(memtx_memory)
        self._start_timeout = float(start_timeout)
        self.follow_timeout = float(follow_timeout)
        self._password = secrets.token_urlsafe(18)
        self._root: str | None = None
        self._ports: list[int] = []
        self._read_only: list[bool] = []
        self._members: list[TarantoolInstance | None] = []

    # --- addresses and roles --------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def ports(self) -> list[int]:
        return list(self._ports)

    @property
    def endpoints(self) -> list[str]:
        """``['127.0.0.1:port', ...]``, member 0 first (what ``Pool`` takes)."""
        return [f"{self.host}:{p}" for p in self._ports]

    @property
    def members(self) -> list[TarantoolInstance | None]:
        return list(self._members)

    @property
    def master(self) -> int | None:
        """The member this launcher made writable (None when there is none)."""
        for i, ro in enumerate(self._read_only):
            if not ro:
                return i
        return None

    def is_running(self, i: int) -> bool:
        member = self._members[i]
        return member is not None and member.is_running

    def __repr__(self) -> str:
        if not self._ports:
            return f"<ReplicaSet size={self.size} not started>"
        roles = ", ".join(
            f"{ep} {'down' if not self.is_running(i) else 'ro' if ro else 'rw'}"
            for i, (ep, ro) in enumerate(zip(self.endpoints, self._read_only, strict=True)))
        return f"<ReplicaSet {roles}>"

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        if self._root is not None:
            raise ReplicaSetError(f"{self!r} is already started")
        self._root = tempfile.mkdtemp(prefix="loadtnt-rs-")   # 0700: init.lua holds the password
        self._ports = [free_port() for _ in range(self.size)]
        self._read_only = [i != 0 for i in range(self.size)]
        self._members = [None] * self.size
        try:
            # member 0 bootstraps alone; each other one joins it (box.cfg returns once joined)
            self._spawn(0, bootstrap=True)
            for i in range(1, self.size):
                self._spawn(i, bootstrap=False)
            if self.size > 1:
                # now that all listen, every member replicates from every other one
                for i in range(self.size):
                    self.eval(i, f"box.cfg{{replication = {lua_literal(self._peer_uris(i))}}}")
                self.wait_follow()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL) and remove the work directory."""
        for member in self._members:
            if member is not None:
                with contextlib.suppress(Exception):
                    member.cleanup()
        self._members = [None] * self.size if self._members else []
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    @property
    def root(self) -> str | None:
        """The private temporary directory of the members' work dirs (None: not started)."""
        return self._root

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self, i: int) -> None:
        """SIGKILL member ``i`` (its files stay, for ``restart``)."""
        member = self._members[i]
        if member is not None:
            member.kill()

    def stop_member(self, i: int) -> None:
        """SIGTERM member ``i`` (a graceful shutdown; SIGKILL after 5 s)."""
        member = self._members[i]
        if member is not None:
            member.stop()

    def restart(self, i: int, *, read_only: bool | None = None) -> None:
        """Start member ``i`` again (stopping it first if it runs) on its port and files, with
        its role as it was (or ``read_only``); returns once the replication follows."""
        member = self._members[i]
        if member is not None and member.is_running:
            member.stop()
        if read_only is not None:
            self._read_only[i] = bool(read_only)
        self._spawn(i, bootstrap=False, peers=self._peer_uris(i))
        try:
            self.wait_follow(min(10.0, self.follow_timeout))
        except ReplicaSetError:
            # seen once on 2.6 under load, after a SIGKILL: a peer's link with the restarted
            # member never came back to follow. Reconnect every member's replication, as an
            # operator would, then wait the whole follow timeout.
            for j in range(self.size):
                if self.is_running(j):
                    self.eval(j, "box.cfg{replication = {}}")
                    self.eval(j, f"box.cfg{{replication = {lua_literal(self._peer_uris(j))}}}")
            self.wait_follow()
        if not self._read_only[i]:
            # an instance that recovers is read-only (orphan) until it has synced
            self._wait(lambda: self.eval(i, "return box.info.ro")[0] is False,
                       f"member {i} to become writable after its restart")

    def switch_master(self, to: int) -> None:
        """Make member ``to`` the master: the old master ``read_only = true``, then - once
        ``to`` has applied all of the old master's writes - ``to`` ``read_only = false``."""
        old = self.master
        if old == to:
            return
        if old is not None:
            self.set_read_only(old, True)
            if self.is_running(old):
                vclock = self.eval(old, "return box.info.vclock")[0] or {}
                self._wait(lambda: _covers(self.eval(to, "return box.info.vclock")[0], vclock),
                           f"member {to} to apply member {old}'s writes")
        self.set_read_only(to, False)

    def set_read_only(self, i: int, read_only: bool) -> None:
        """``box.cfg{read_only = ...}`` on member ``i`` (remembered for its restarts)."""
        self._read_only[i] = bool(read_only)
        if self.is_running(i):
            self.eval(i, f"box.cfg{{read_only = {lua_literal(bool(read_only))}}}")

    # --- administration -------------------------------------------------------------

    def eval(self, i: int, lua: str, *, timeout: float = 30.0) -> list[Any]:
        """Run a one-line Lua chunk on member ``i`` over its console; its return values.

        Raises ReplicaSetError with the Lua error's message when the chunk fails."""
        return console_eval(self._console_path(i), lua, timeout, ReplicaSetError,
                            f"member {i}")

    def wait_follow(self, timeout: float | None = None) -> None:
        """Until, between every two running members, both directions are ``follow``."""
        running = [i for i in range(self.size) if self.is_running(i)]
        if len(running) < 2:
            return

        def all_follow() -> bool:
            for i in running:
                info = self.eval(i, "return box.info.id, box.info.replication")
                my_id, replication = info[0], info[1] or {}
                peers = [r for r in replication.values() if isinstance(r, dict)
                         and r.get("id") != my_id and r.get("uuid") in uuids]
                if len(peers) < len(running) - 1:
                    return False
                for r in peers:
                    if (r.get("upstream") or {}).get("status") != "follow" or \
                            (r.get("downstream") or {}).get("status") != "follow":
                        return False
            return True

        uuids = {self.eval(i, "return box.info.uuid")[0] for i in running}
        self._wait(all_follow, "the replication to follow both ways", timeout)

    # --- internals ------------------------------------------------------------------

    def _uri(self, i: int) -> str:
        # with the replication user's password: only ever written to the members' init.lua
        # (in the private work directory) and sent over their consoles
        return f"{REPLICATION_USER}:{self._password}@{self.host}:{self._ports[i]}"

    def _peer_uris(self, i: int) -> list[str]:
        return [self._uri(j) for j in range(self.size) if j != i]

    def _console_path(self, i: int) -> str:
        assert self._root is not None, "the replica set is not started"
        return os.path.join(self._root, str(i), _CONSOLE_NAME)

    def _spawn(self, i: int, *, bootstrap: bool, peers: list[str] | None = None) -> None:
        assert self._root is not None
        work_dir = os.path.join(self._root, str(i))
        os.makedirs(work_dir, exist_ok=True)
        cfg = dict(self._cfg, read_only=self._read_only[i])
        if not bootstrap:
            # a new member joins member 0; a restarted one reconnects to all the others
            cfg["replication"] = peers if peers is not None else [self._uri(0)]
        path = os.path.join(work_dir, _CONSOLE_NAME)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)    # a killed member's stale socket
        parts = [f"require('console').listen({lua_literal('unix/:' + path)})"]
        if bootstrap:
            parts.append(
                f"box.schema.user.create({lua_literal(REPLICATION_USER)}, "
                f"{{password = {lua_literal(self._password)}, if_not_exists = true}})\n"
                f"box.schema.user.grant({lua_literal(REPLICATION_USER)}, 'replication', nil, "
                "nil, {if_not_exists = true})")
        if self._lua:
            parts.append(self._lua)
        member = TarantoolInstance(
            port=self._ports[i], lua="\n".join(parts), init_script=self._init_script,
            cfg=cfg, memtx_memory=self._memtx_memory, work_dir=work_dir,
            start_timeout=self._start_timeout, binary=self._binary, keep_files=True)
        self._members[i] = member
        member.start()

    def _wait(self, ready: Any, what: str, timeout: float | None = None) -> None:
        wait_until(ready, what, self.follow_timeout if timeout is None else timeout,
                   ReplicaSetError, (OSError, ReplicaSetError), 0.05, repr(self))


def wait_until(ready: Callable[[], Any], what: str, timeout: float, error: type[Exception],
               caught: tuple[type[BaseException], ...], interval: float, who: str) -> None:
    """Poll ``ready()`` every ``interval`` s until it is true; after ``timeout`` s raise
    ``error`` naming ``what`` and ``who``, with the last exception of ``caught`` it raised."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if ready():
                return
            last = None
        except caught as e:
            last = e
        if time.monotonic() >= deadline:
            raise error(f"timed out waiting for {what} ({who})" + (f": {last}" if last else ""))
        time.sleep(interval)


def _covers(vclock: Any, other: Mapping[Any, Any] | None) -> bool:
    """vclock has applied at least everything ``other`` has, component by component."""
    vclock = vclock or {}
    return all(int(vclock.get(k, 0)) >= int(v) for k, v in (other or {}).items()
               if int(k) != 0)


def console_eval(path: str, lua: str, timeout: float, error: type[Exception], who: str,
                 scrub: Callable[[str], str] = str) -> list[Any]:
    """Run a one-line Lua chunk over the admin console at ``path``; its return values.
    A failing chunk raises ``error`` with ``who`` and the Lua error's message (through
    ``scrub``, which may hide a secret in it)."""
    if "\n" in lua:
        raise ValueError("the console takes one line of Lua")
    # its values in one table, after pcall's status (an error as its message)
    chunk = (f"return (function(...) local t = {{pcall(function() {lua} end)}} "
             "if not t[1] then t[2] = tostring(t[2]) end return t end)()")
    reply = _console(path, chunk, timeout)
    values = reply[0] if reply else None
    if not isinstance(values, list) or not values:
        raise error(f"{who}: unexpected console reply {reply!r}")
    if values[0] is not True:
        raise error(f"{who}: {scrub(str(values[1] if len(values) > 1 else '?'))}")
    return values[1:]


def _console(path: str, chunk: str, timeout: float) -> Any:
    """Send one line to a Tarantool console on a unix socket; its reply, parsed (YAML)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        data = b""
        while data.count(b"\n") < 2:    # the greeting: two lines
            chunk_in = sock.recv(4096)
            if not chunk_in:
                raise ConnectionError("the console closed before its greeting")
            data += chunk_in
        sock.sendall(chunk.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n...\n"):
            chunk_in = sock.recv(65536)
            if not chunk_in:
                raise ConnectionError("the console closed before its reply")
            data += chunk_in
    return yaml.safe_load(data.decode("utf-8", "replace"))
