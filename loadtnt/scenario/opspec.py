"""One operation of a scenario as a worker sees it: the op, its label and its field generators.

This module is pure Python and imports nothing but :mod:`loadtnt.scenario.generators`, so a worker running
under another interpreter (e.g. the aiotarantool venv) can use it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtnt.scenario.generators import Context, Generator, compile_value, constant

# op -> the fields it accepts (besides `op`, `name`, `weight`)
OP_FIELDS: dict[str, tuple[str, ...]] = {
    "ping": (),
    "select": ("space", "key", "index", "iterator", "limit", "offset"),
    "insert": ("space", "tuple"),
    "replace": ("space", "tuple"),
    "update": ("space", "key", "operations", "index"),
    "upsert": ("space", "tuple", "operations"),
    "delete": ("space", "key", "index"),
    "call": ("function", "args"),
    "call16": ("function", "args"),
    "eval": ("expression", "args"),
    "execute": ("query", "args"),
    "transaction": ("isolation", "steps"),
}

# crud (on a vshard router): op -> (its arguments, by crud's names, in crud's order; crud's
# options it takes, as keyword arguments). An ``*_many`` upsert's ``tuples``/``objects`` are
# ``[[tuple_or_object, operations], ...]``; ``min``/``max``'s ``index`` is crud's index_name.
_CRUD_WRITE = ("timeout", "bucket_id", "fields", "noreturn", "fetch_latest_metadata")
_CRUD_FLAT = ("skip_nullability_check_on_flatten",)
_CRUD_MANY = ("timeout", "fields", "noreturn", "stop_on_error", "rollback_on_error",
              "fetch_latest_metadata", "skip_nullability_check_on_flatten")
_CRUD_READ = ("mode", "prefer_replica", "balance")
CRUD_OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crud.insert": (("space", "tuple"), _CRUD_WRITE + _CRUD_FLAT),
    "crud.insert_object": (("space", "object"), _CRUD_WRITE + _CRUD_FLAT),
    "crud.insert_many": (("space", "tuples"), _CRUD_MANY),
    "crud.insert_object_many": (("space", "objects"), _CRUD_MANY),
    "crud.get": (("space", "key"), ("timeout", "bucket_id", "fields", *_CRUD_READ,
                                    "fetch_latest_metadata")),
    "crud.replace": (("space", "tuple"), _CRUD_WRITE + _CRUD_FLAT),
    "crud.replace_object": (("space", "object"), _CRUD_WRITE + _CRUD_FLAT),
    "crud.replace_many": (("space", "tuples"), _CRUD_MANY),
    "crud.replace_object_many": (("space", "objects"), _CRUD_MANY),
    "crud.update": (("space", "key", "operations"), _CRUD_WRITE),
    "crud.upsert": (("space", "tuple", "operations"), _CRUD_WRITE + _CRUD_FLAT),
    "crud.upsert_object": (("space", "object", "operations"), _CRUD_WRITE + _CRUD_FLAT),
    "crud.upsert_many": (("space", "tuples"), _CRUD_MANY),
    "crud.upsert_object_many": (("space", "objects"), _CRUD_MANY),
    "crud.delete": (("space", "key"), _CRUD_WRITE),
    "crud.select": (("space", "conditions"), ("timeout", "bucket_id", "fields", "first",
                                              "after", "batch_size", *_CRUD_READ, "fullscan",
                                              "force_map_call", "yield_every",
                                              "fetch_latest_metadata")),
    "crud.min": (("space", "index"), ("timeout", "fields", "mode", "fetch_latest_metadata")),
    "crud.max": (("space", "index"), ("timeout", "fields", "mode", "fetch_latest_metadata")),
    "crud.count": (("space", "conditions"), ("timeout", "bucket_id", *_CRUD_READ, "fullscan",
                                             "force_map_call", "yield_every")),
    "crud.len": (("space",), ("timeout", *_CRUD_READ)),
}
# crud's arguments that crud itself needs (the others may be left out: nil)
_CRUD_OPTIONAL_ARGS = frozenset({"conditions", "index"})
# crud's ``mode`` option: which instance of a replica set a storage request reads
CRUD_MODES: tuple[str, ...] = ("read", "write")
for _op, (_args, _opts) in CRUD_OPS.items():
    OP_FIELDS[_op] = _args + _opts

# the pool's modes (loadtnt.driver.Mode's names, lower case): which instance of a replica set
# an op goes to; every op but a transaction may carry one (a transaction goes to the master)
MODES: tuple[str, ...] = ("any", "rw", "ro", "prefer_ro", "prefer_rw")

# ops that may be a transaction's steps: the data ops (not ping, not a transaction)
STEP_OPS: tuple[str, ...] = ("select", "insert", "replace", "update", "upsert", "delete", "call",
                             "call16", "eval", "execute")

# a transaction's isolation levels: loadtnt.driver.Isolation's (and asynctnt's) names, lower case
ISOLATIONS: tuple[str, ...] = ("default", "read_committed", "read_confirmed", "best_effort")

# fields that an op cannot do without
OP_REQUIRED: dict[str, tuple[str, ...]] = {
    "ping": (),
    "select": ("space",),
    "insert": ("space", "tuple"),
    "replace": ("space", "tuple"),
    "update": ("space", "key", "operations"),
    "upsert": ("space", "tuple", "operations"),
    "delete": ("space", "key"),
    "call": ("function",),
    "call16": ("function",),
    "eval": ("expression",),
    "execute": ("query",),
    "transaction": ("steps",),
}

for _op, (_args, _opts) in CRUD_OPS.items():
    OP_REQUIRED[_op] = tuple(a for a in _args if a not in _CRUD_OPTIONAL_ARGS)

# fields that name things and must be constants (a generator there is a scenario error)
STATIC_FIELDS = frozenset(
    {"space", "index", "iterator", "limit", "offset", "function", "expression", "query",
     "isolation", "mode", "fields"}
)


@dataclass(frozen=True)
class OpSpec:
    """An operation ready to run: ``op`` (``'select'``…), ``name`` (its label) and field values.

    ``fields`` maps a field name to a :class:`~loadtnt.scenario.generators.Generator`: call it for a
    fresh value per request.  Adapters use :meth:`gen` and :meth:`static` to read them.
    """

    op: str
    name: str
    weight: float = 1.0
    fields: Mapping[str, Generator] = field(default_factory=dict)
    #: a transaction's steps, each named ``<transaction>.<step>`` (its entry in the results)
    steps: tuple[OpSpec, ...] = ()

    def has(self, name: str) -> bool:
        return name in self.fields

    def gen(self, name: str, default: Any = None) -> Callable[[], Any]:
        """A zero-argument callable giving this field's value for one request."""
        g = self.fields.get(name)
        return g.fn if g is not None else constant(default).fn

    def static(self, name: str, default: Any = None) -> Any:
        """The field's constant value (names, iterator, limit…), or ``default`` when absent."""
        g = self.fields.get(name)
        if g is None:
            return default
        if not g.is_constant:
            raise ValueError(f"operation {self.name!r}: field {name!r} must be a constant")
        return g()


def build_specs(ops: list[dict[str, Any]], ctx: Context, prefix: str = "") -> list[OpSpec]:
    """Specs from a normalised scenario's ``operations``, generators compiled for one worker.

    A scalar ``key`` (``key: 5``, ``key: {uniform: …}``) becomes a one-part key (``[5]``). A
    transaction's ``steps`` become its specs' :attr:`OpSpec.steps`, named ``<name>.<step>``.
    """
    out = []
    for op in ops:
        fields = {}
        for k, v in op.items():
            if k in ("op", "name", "weight", "steps"):
                continue
            if k == "key" and not isinstance(v, list):
                v = [v]
            fields[k] = compile_value(v, ctx)
        name = prefix + op["name"]
        steps = tuple(build_specs(op.get("steps") or [], ctx, prefix=name + "."))
        out.append(OpSpec(op=op["op"], name=name, weight=float(op.get("weight", 1)),
                          fields=fields, steps=steps))
    return out
