"""``loadtnt-c``: the harness's load loop in C over loadtnt.driver's protocol.

The worker's requests are sent and completed from C (:mod:`loadtnt.worker._cloop`): no asyncio
Task or Future per request. It sends the data ops (:data:`C_OPS`) to one server; transactions
and crud's ops stay on the coroutine path (``drivers: [loadtnt]``), and a scenario that asks
``loadtnt-c`` for them, or for a replica set or sharded cluster, is refused at validation.
"""
from __future__ import annotations

from typing import Any

from loadtnt.drivers.base import RequestFn
from loadtnt.drivers.loadtnt import Adapter as LoadtntAdapter
from loadtnt.scenario.opspec import OP_FIELDS, STEP_OPS, OpSpec

#: what the C load loop sends: ping and the data ops (a transaction's step ops)
C_OPS = frozenset(("ping", *STEP_OPS))
#: why it sends nothing else (the scenario's error says it)
NOT_IN_C = ("loadtnt-c sends the data ops ({}) from C; transactions and crud's ops stay on the "
            "coroutine path: measure them with `drivers: [loadtnt]`").format(
                ", ".join(sorted(C_OPS)))
#: fields that vary per request when a generator stands in them; the others must be constants
VARYING = frozenset(("key", "tuple", "operations", "args"))


class Adapter(LoadtntAdapter):
    name = "loadtnt-c"
    ops = C_OPS
    pool = False
    #: the worker's phase runs this adapter's ops in C (see loadtnt.worker.load.Phase)
    c_loop = True

    @classmethod
    def missing(cls) -> str | None:
        try:
            import loadtnt.worker._cloop  # noqa: F401
        except ImportError as e:
            return (f"the C load loop is not built here ({e}): build the package's extensions "
                    "(`make build`, or reinstall loadtnt)")
        return None

    def request(self, spec: OpSpec) -> RequestFn:
        """The op as a :class:`~loadtnt.worker._cloop.COp` (the phase's C loop sends it; it is
        not a coroutine function)."""
        from loadtnt.worker._cloop import COp

        if spec.op not in C_OPS:
            raise ValueError(f"{spec.name}: {NOT_IN_C}")
        consts: dict[str, Any] = {}
        gens: dict[str, Any] = {}
        for name in OP_FIELDS[spec.op]:  # the op's own fields (others are the harness's)
            if not spec.has(name):
                continue
            if name in VARYING and not spec.fields[name].is_constant:
                gens[name] = spec.gen(name)
            else:
                consts[name] = spec.static(name)
        op: Any = COp(self._conn, spec.op, consts, gens)
        return op  # type: ignore[no-any-return]
