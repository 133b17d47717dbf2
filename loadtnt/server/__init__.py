"""The server under load: the embedded Tarantool started from ``tarantool/`` for a run.

- :mod:`.embedded`: one Tarantool process with the benchmark schema and functions.
- :mod:`.replicaset`: N Tarantool processes replicating over loopback (switch, kill, restart).
- :mod:`.sharded`: a vshard + crud cluster, N replica sets × M instances + R routers
  (``ShardedCluster``; a Tarantool 3 config.yaml on 3.x, the classic ``vshard.*.cfg`` on 2.x).

``from loadtnt.server import ShardedCluster`` works; the names are loaded on first use, so that
importing one of the submodules (the worker's embedded server) does not load the others.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtnt.server.embedded import EmbeddedServer
    from loadtnt.server.replicaset import ReplicaSet
    from loadtnt.server.sharded import ShardedCluster

_WHERE = {
    "EmbeddedServer": ".embedded",
    "ReplicaSet": ".replicaset",
    "DEFAULT_SCHEMA": ".sharded",
    "MODULES_ENV": ".sharded",
    "ModulesNotFoundError": ".sharded",
    "ShardedCluster": ".sharded",
    "ShardedClusterError": ".sharded",
    "find_modules": ".sharded",
}
__all__ = [
    "DEFAULT_SCHEMA",
    "MODULES_ENV",
    "EmbeddedServer",
    "ModulesNotFoundError",
    "ReplicaSet",
    "ShardedCluster",
    "ShardedClusterError",
    "find_modules",
]


def __getattr__(name: str) -> Any:
    """``loadtnt.server.ReplicaSet``, ``ShardedCluster``, ... imported when first used."""
    module = _WHERE.get(name)
    if module is not None:
        return getattr(importlib.import_module(module, __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
