"""The embedded benchmark server: Tarantool started from ``tarantool/bench.lua`` on a free port.

Used when a scenario says ``server: null``.  :class:`EmbeddedServer` is a context manager that
always stops the server (on errors and Ctrl-C too).
"""
from __future__ import annotations

import os
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
        self.instance.start()
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
        self.replica_set.start()
        return self

    def stop(self) -> None:
        self.replica_set.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
