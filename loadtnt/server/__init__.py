"""The server under load: the embedded Tarantool started from ``tarantool/`` for a run.

- :mod:`.embedded`: one Tarantool process with the benchmark schema and functions.
- :mod:`.replicaset`: N Tarantool processes replicating over loopback (switch, kill, restart).
- :mod:`.sharded`: a vshard + crud cluster, N replica sets × M instances + R routers
  (``ShardedCluster``; a Tarantool 3 config.yaml on 3.x, the classic ``vshard.*.cfg`` on 2.x).
"""
from .sharded import (
    DEFAULT_SCHEMA,
    MODULES_ENV,
    ModulesNotFoundError,
    ShardedCluster,
    ShardedClusterError,
    find_modules,
)

__all__ = (
    "DEFAULT_SCHEMA",
    "MODULES_ENV",
    "ModulesNotFoundError",
    "ShardedCluster",
    "ShardedClusterError",
    "find_modules",
)
