"""The scenario operations' reference (docs/scenario-ops.md), made from the parser's own tables.

``python -m loadtnt.scenario.reference > docs/scenario-ops.md`` writes it; the test suite makes it
again and compares (tests/harness/test_scenario_reference.py), so the page cannot drift from
:mod:`loadtnt.scenario.opspec` (which fields each op takes, which it needs, which must be
constants) and from the parser's modes and isolation levels.
"""
from __future__ import annotations

import yaml

from loadtnt.scenario.generators import compile_value
from loadtnt.scenario.opspec import (
    CRUD_MODES,
    ISOLATIONS,
    MODES,
    OP_FIELDS,
    OP_REQUIRED,
    STATIC_FIELDS,
    STEP_OPS,
)

# what each op sends (the driver method it calls)
OPS: dict[str, str] = {
    "ping": "IPROTO_PING: the round trip alone",
    "select": "a select on an index",
    "insert": "an insert of a tuple (a duplicate key is an error, `db:3`)",
    "replace": "a replace of a tuple",
    "update": "an update of the tuple with `key` by `operations`",
    "upsert": "an upsert: `tuple` when its key is new, else `operations` on the existing one",
    "delete": "a delete of the tuple with `key`",
    "call": "a call of a function (IPROTO_CALL)",
    "call16": "a call of a function with the 1.6 reply format (IPROTO_CALL_16)",
    "eval": "an eval of a Lua expression",
    "execute": "an SQL statement (IPROTO_EXECUTE)",
    "transaction": "`steps` between begin and commit on a stream (Tarantool 2.10+), measured as "
                   "one request",
    "crud.insert": "crud.insert on a router (a sharded cluster; one IPROTO_CALL, loadtnt driver)",
    "crud.insert_object": "crud.insert_object: `object` by field names",
    "crud.insert_many": "crud.insert_many: a batch of `tuples`",
    "crud.insert_object_many": "crud.insert_object_many: a batch of `objects`",
    "crud.get": "crud.get of the row with `key`",
    "crud.replace": "crud.replace of a tuple",
    "crud.replace_object": "crud.replace_object",
    "crud.replace_many": "crud.replace_many",
    "crud.replace_object_many": "crud.replace_object_many",
    "crud.update": "crud.update of the row with `key` by `operations`",
    "crud.upsert": "crud.upsert: `tuple` when new, else `operations`",
    "crud.upsert_object": "crud.upsert_object",
    "crud.upsert_many": "crud.upsert_many: `tuples` are `[[tuple, operations], …]`",
    "crud.upsert_object_many": "crud.upsert_object_many: `objects` are `[[object, operations], "
                               "…]`",
    "crud.delete": "crud.delete of the row with `key`",
    "crud.select": "crud.select by `conditions` (on every storage unless they pin a bucket)",
    "crud.min": "crud.min: the first row of `index`",
    "crud.max": "crud.max: the last row of `index`",
    "crud.count": "crud.count of the rows matching `conditions`",
    "crud.len": "crud.len: the rows of the space",
}

# what each field is
FIELDS: dict[str, str] = {
    "space": "the space, by name or id",
    "key": "the key: a list of parts, or one value for a one-part index",
    "index": "the index, by name or id (default: the primary, 0)",
    "iterator": "the iterator: `EQ`, `REQ`, `ALL`, `LT`, `LE`, `GE`, `GT`, … or its number",
    "limit": "at most this many tuples",
    "offset": "skip this many tuples first",
    "tuple": "the tuple: a list, or a mapping of field names to values (the space's format)",
    "operations": "update operations, `[[op, field, value], …]`; a field by number or name",
    "function": "the function's name: in `box.func`, or a global Lua function",
    "expression": "the Lua code; its arguments are `...`",
    "query": "the SQL text; `?` and `:name` parameters take `args`",
    "args": "the arguments, a list",
    "isolation": "the transaction's isolation level: " + ", ".join(f"`{x}`" for x in ISOLATIONS),
    "steps": "the transaction's steps: data ops (" + ", ".join(STEP_OPS) + "), each with its "
             "own fields and `name`, no `weight` and no `mode`",
    "object": "crud: a row as a mapping of field names to values",
    "tuples": "crud: a list of tuples (`*_many`; for `upsert_many`, `[tuple, operations]` pairs)",
    "objects": "crud: a list of objects (`*_many`; for `upsert_object_many`, `[object, "
               "operations]` pairs)",
    "conditions": "crud: `[[operator, field or index, value], …]`, e.g. `[['>=', 'age', 18]]`",
    "timeout": "crud's option: seconds for its calls to the storages (also bounds the request)",
    "bucket_id": "crud's option: the bucket, instead of crud computing it from the key",
    "fields": "crud's option: the fields to return, a list of names",
    "noreturn": "crud's option: return nothing",
    "fetch_latest_metadata": "crud's option: refresh the space's metadata first",
    "skip_nullability_check_on_flatten": "crud's option (`*_object`)",
    "stop_on_error": "crud's option (`*_many`): stop at the first failed row",
    "rollback_on_error": "crud's option (`*_many`): roll back a storage's rows when one fails",
    "prefer_replica": "crud's option: read from a replica when there is one",
    "balance": "crud's option: spread reads over the replica set's instances",
    "first": "crud's option: at most this many rows (negative: backwards, with `after`)",
    "after": "crud's option: start after this tuple",
    "batch_size": "crud's option: rows per storage request",
    "fullscan": "crud's option: allow a scan of the whole space",
    "force_map_call": "crud's option: ask every storage, even when the key pins one",
    "yield_every": "crud's option: yield after this many scanned rows",
}

# the keys every operation may have besides its fields
COMMON: dict[str, str] = {
    "op": "which request (the table below)",
    "name": "its label in results and charts (default: the op); unique in the scenario",
    "weight": "its share of the mix (default 1); not for a transaction's steps",
    "mode": "with a replica set (`server: {replicas: N}` or several uris): which instance, one of "
            + ", ".join(f"`{m}`" for m in MODES) + " (not for a transaction or its steps). "
            "For a `crud.*` op, crud's own option (" + ", ".join(f"`{m}`" for m in CRUD_MODES)
            + "): the routers are taken in turn",
}

# generator: (what it gives, an example)
GENERATORS: dict[str, tuple[str, str]] = {
    "{uniform: [lo, hi]}": ("an integer drawn uniformly from lo..hi", "{uniform: [1, 100000]}"),
    "{zipf: [lo, hi, s]}": ("an integer from lo..hi, Zipf-distributed with exponent s",
                            "{zipf: [1, 100000, 0.99]}"),
    "{sequential: start}": ("start, start + 1, … (the workers interleave)",
                            "{sequential: 100001}"),
    "{string: length}": ("a random string of that length", "{string: 16}"),
}


def _fields(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{f}`" for f in names) or "—"


def render() -> str:
    """The page, in Markdown."""
    for _, example in GENERATORS.values():  # every example shown compiles
        compile_value(yaml.safe_load(example))
    lines = [
        "# Scenario operations",
        "",
        "<!-- generated by `python -m loadtnt.scenario.reference > docs/scenario-ops.md` from",
        ("     the parser's tables (loadtnt/scenario/opspec.py); tests/harness/"
        "test_scenario_reference.py"),
        "     fails when this file differs from what they give. Edit the tables or",
        "     loadtnt/scenario/reference.py, then regenerate. -->",
        "",
        ("Each entry of a scenario's `operations:` is one op with its fields. Any other key is an "
        "error (file, line and the keys the op knows), and so is a missing required field."),
        "",
        "| op | sends | fields (**required**) |",
        "| --- | --- | --- |",
    ]
    for op, fields in OP_FIELDS.items():
        required = OP_REQUIRED[op]
        shown = ", ".join(f"**`{f}`**" if f in required else f"`{f}`" for f in fields) or "—"
        lines.append(f"| `{op}` | {OPS[op]} | {shown} |")
    lines += [
        "",
        "Every op may also have:",
        "",
        "| key | what |",
        "| --- | --- |",
    ]
    lines += [f"| `{k}` | {v} |" for k, v in COMMON.items()]
    every = sorted({f for fields in OP_FIELDS.values() for f in fields} - set(COMMON))
    lines += [
        "",
        "## Fields",
        "",
        "| field | what | value |",
        "| --- | --- | --- |",
    ]
    for f in every:
        kind = ("a list of ops" if f == "steps" else "a constant" if f in STATIC_FIELDS
                else "a value or a generator, also inside")
        lines.append(f"| `{f}` | {FIELDS[f]} | {kind} |")
    lines += [
        "",
        "## Generators",
        "",
        "A generator stands wherever a value does (not in the fields that must be constants: "
        + _fields(tuple(sorted(STATIC_FIELDS & set(every)))) + "), inside tuples, keys, "
        "operations and args too, and gives a fresh value for every request:",
        "",
        "| generator | gives | e.g. |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{g}` | {v} | `{e}` |" for g, (v, e) in GENERATORS.items()]
    lines += [
        "",
        "```yaml",
        "operations:",
        "  - {op: select, space: tester, key: {uniform: [1, 100000]}, weight: 9}",
        "  - op: update",
        "    space: tester",
        "    key: {zipf: [1, 100000, 0.99]}",
        "    operations: [['=', 'name', {string: 16}]]",
        "  - op: transaction",
        "    name: transfer",
        "    isolation: read_committed",
        "    steps:",
        "      - {op: insert, space: tester, tuple: [{sequential: 1000000}, 'a']}",
        "      - {op: delete, space: tester, key: {uniform: [1, 1000]}}",
        "```",
        "",
        ("Before any load, `loadtnt run` checks every space, index, field and function these "
        "name, and the privileges they need, on every server the run uses (as the run's user); "
        "a miss exits 2 naming the file, line and op."),
        "",
        "## crud (sharded clusters)",
        "",
        ("The `crud.*` ops load a sharded cluster (`server: {sharded: {...}}`, or `server: "
         "{config: FILE.yaml, routers: {...}}`) through its routers, taken in turn by the "
         "loadtnt driver's pool: each is one IPROTO_CALL of crud's function, with crud's "
         "arguments (`space`, `key`, `tuple`, `object`, `tuples`, `objects`, `conditions`, "
         "`operations`) and crud's options by their names; generators stand anywhere in them. "
         "asynctnt and aiotarantool have no crud API: a run skips them with a warning. The "
         "pre-flight check asks each router's `crud.schema` for the space, and checks the "
         "field and index names the op gives. crud's own errors count as `crud:<class>` "
         "(e.g. `crud:InsertError`)."),
        "",
        "```yaml",
        "server:",
        "  sharded: {shards: 2, replicas: 2, routers: 2, bucket_count: 3000}",
        "operations:",
        "  - {op: crud.get, space: customers, key: {zipf: [1, 100000, 0.99]}, weight: 95}",
        ("  - {op: crud.select, space: customers, conditions: [['>=', 'age', {uniform: [18, 90]}]],"
        " first: 10}"),
        "  - op: crud.insert_object",
        "    space: customers",
        "    object: {id: {sequential: 1000000}, name: x, age: 30}",
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
