"""The embedded benchmark server: Tarantool started from ``tarantool/bench.lua`` on a free port.

Used when a scenario says ``server: null``.  :class:`EmbeddedServer` is a context manager that
always stops the server (on errors and Ctrl-C too).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtnt.instance import TarantoolInstance

if TYPE_CHECKING:
    from typing import Self

# The Lua's source is tarantool/ at the top of the repository; wheels and sdists carry a copy in
# loadtnt/server/lua/ (setup.py's build_py), which an installed loadtnt uses.
_CANDIDATES = (
    Path(__file__).resolve().parent / "lua" / "bench.lua",
    Path(__file__).resolve().parents[2] / "tarantool" / "bench.lua",
)

# box.cfg options of the benchmark server, under a set-up's own (each result's environment
# records the effective ones); feedback off: it would report to the internet
BOX_CFG = {
    "readahead": 1 << 20,
    "net_msg_max": 4096,
    "feedback_enabled": False,
}
MEMTX_MEMORY = 512 << 20


def bench_lua() -> Path:
    for path in _CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError("the benchmark server's Lua is missing: looked for "
                            + " and ".join(str(p) for p in _CANDIDATES)
                            + " (an installed loadtnt carries it; reinstall it from a wheel "
                            "or sdist built by setup.py)")


OWNER_FILE = "loadtnt-owner"  # in an embedded server's temp dir: "<pid> <start time>" of its owner
TEMP_PREFIXES = ("loadtnt-tnt-", "loadtnt-rs-")
UNOWNED_GRACE_S = 600.0  # a temp dir without an owner file is swept only when this old


def _start_time(pid: int) -> str | None:
    """Process ``pid``'s start time (clock ticks since boot; /proc/PID/stat field 22), None when
    there is no such process: with the pid it names one process, never a later one."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":  # a zombie is gone for our purpose
        return None
    return fields[19]


def mark_owner(directory: str, pid: int | None = None) -> None:
    """Record in ``directory`` which process owns it (default: this one)."""
    pid = os.getpid() if pid is None else pid
    with open(os.path.join(directory, OWNER_FILE), "w", encoding="ascii") as f:
        f.write(f"{pid} {_start_time(pid) or ''}\n")


def _cwds_under(directory: str) -> bool:
    """Whether a live process works in ``directory`` (a Tarantool runs in its work dir)."""
    real = os.path.realpath(directory)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == real or cwd.startswith(real + os.sep):
            return True
    return False


def sweep_orphans(tmp: str | None = None) -> list[str]:
    """Remove the temporary directories of embedded servers whose owner is gone.

    A coordinator killed with SIGKILL cannot clean up: its server removes its own directory
    when it notices (``watch_parent`` in bench.lua), and whatever is still left (the server was
    killed too) goes here, at the next run: a ``loadtnt-tnt-*`` or ``loadtnt-rs-*`` directory
    whose owner process (:data:`OWNER_FILE`) is gone, or that has no owner file and is older
    than :data:`UNOWNED_GRACE_S`, and in which no process works. Returns what was removed."""
    tmp = tmp or tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = os.listdir(tmp)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(TEMP_PREFIXES):
            continue
        path = os.path.join(tmp, name)
        try:
            if not os.path.isdir(path) or os.path.islink(path):
                continue
            with open(os.path.join(path, OWNER_FILE), encoding="ascii") as f:
                pid_text, _, started = f.read().strip().partition(" ")
            owner_alive = _start_time(int(pid_text)) == (started or None) if started else \
                _start_time(int(pid_text)) is not None
        except FileNotFoundError:
            try:
                owner_alive = time.time() - os.stat(path).st_mtime < UNOWNED_GRACE_S
            except OSError:
                continue
        except (OSError, ValueError):
            continue
        if owner_alive or _cwds_under(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(path)
    return removed


class EmbeddedServer:
    """``with EmbeddedServer() as srv: srv.host, srv.port``.

    ``cfg``: box.cfg options over :data:`BOX_CFG` and the launcher's defaults (``wal_mode='none'``,
    ...), e.g. a set-up's ``{'wal_mode': 'write'}``.
    """

    def __init__(self, *, binary: str = "tarantool", memtx_memory: int = MEMTX_MEMORY,
                 cfg: Mapping[str, Any] | None = None, host: str = "127.0.0.1") -> None:
        # the server exits by itself if this process dies without stopping it (SIGKILL);
        # ``host``: where it listens (a cluster's workers reach it from other machines)
        self.instance = TarantoolInstance(init_script=bench_lua(), cfg={**BOX_CFG, **(cfg or {})},
                                          host=host,
                                          lua=f"watch_parent({os.getpid()})",
                                          memtx_memory=memtx_memory, binary=binary)

    @property
    def host(self) -> str:
        return self.instance.host

    @property
    def port(self) -> int:
        port = self.instance.port
        assert isinstance(port, int)
        return port

    @property
    def pid(self) -> int | None:
        return self.instance.pid

    def start(self) -> Self:
        sweep_orphans()
        self.instance.start()
        if self.instance.work_dir is not None:
            mark_owner(self.instance.work_dir)
        return self

    def stop(self) -> None:
        self.instance.cleanup()  # stops it (SIGTERM, then SIGKILL) and removes its work dir

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()



class EmbeddedReplicaSet:
    """``replicas: N``: the benchmark server as a real replica set on loopback, member 0 its
    master (see :class:`loadtnt.server.replicaset.ReplicaSet`); the workers load it through
    the pool. ``host``/``port``/``pid`` are the master's, ``endpoints`` every member's."""

    def __init__(self, size: int, *, binary: str = "tarantool",
                 memtx_memory: int = MEMTX_MEMORY, cfg: Mapping[str, Any] | None = None) -> None:
        from loadtnt.server.replicaset import ReplicaSet

        self.replica_set = ReplicaSet(size, init_script=bench_lua(),
                                      cfg={**BOX_CFG, **(cfg or {})},
                                      lua=f"watch_parent({os.getpid()})",
                                      memtx_memory=memtx_memory, binary=binary)

    @property
    def endpoints(self) -> list[str]:
        return self.replica_set.endpoints

    @property
    def host(self) -> str:
        return self.replica_set.host

    @property
    def port(self) -> int:
        return self.replica_set.ports[0]

    @property
    def pid(self) -> int | None:
        member = self.replica_set.members[0]
        return member.pid if member is not None else None

    def start(self) -> Self:
        sweep_orphans()
        self.replica_set.start()
        if self.replica_set.root is not None:
            mark_owner(self.replica_set.root)
        return self

    def stop(self) -> None:
        self.replica_set.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
