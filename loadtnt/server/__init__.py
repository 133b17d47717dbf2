"""The server under load: the embedded Tarantool started from ``tarantool/`` for a run.

- :mod:`.embedded`: one Tarantool process with the benchmark schema and functions.
- :mod:`.replicaset`: N Tarantool processes replicating over loopback (switch, kill, restart).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtnt.server.embedded import EmbeddedServer
    from loadtnt.server.replicaset import ReplicaSet

__all__ = ["EmbeddedServer", "ReplicaSet"]


def __getattr__(name: str) -> Any:
    """``loadtnt.server.ReplicaSet`` and ``EmbeddedServer``, imported when first used."""
    if name == "ReplicaSet":
        from loadtnt.server.replicaset import ReplicaSet

        return ReplicaSet
    if name == "EmbeddedServer":
        from loadtnt.server.embedded import EmbeddedServer

        return EmbeddedServer
    raise AttributeError(f"module 'loadtnt.server' has no attribute {name!r}")
