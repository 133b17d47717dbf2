"""The server under load: the embedded Tarantool started from ``tarantool/`` for a run.

- :mod:`.embedded`: one Tarantool process with the benchmark schema and functions.
- :mod:`.replicaset`: N Tarantool processes replicating over loopback (switch, kill, restart).
"""
