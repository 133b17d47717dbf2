"""Before any load: does every server the run uses have what the scenario's ops name?

For each instance of each server set-up (a replica set's too), connected as the run's user
(guest when there is none), with ``loadtnt.driver`` and no schema of its own:

* every space a data op names, as that user sees it (``_vspace``); one it does not see is told
  apart as *missing* or *invisible to the user* (a grant) by Lua's ``box.space``, which holds
  every space (the harness needs eval anyway: box.stat() and ``before``; without it the message
  says it may be either);
* every index the op names (``_vindex``), every field name in update/upsert operations and in a
  tuple given as a mapping (the space's format);
* the privileges the op needs, by a request that cannot change data: a ``select`` with limit 0
  (read) and an ``insert`` of the empty tuple, which every space refuses after the access check
  (write); a read-only instance cannot tell (ER_READONLY) and is not held against the op;
* every function a ``call``/``call16`` names: ``_vfunc`` (``box.func``), else a global Lua
  function (found by eval: a user who may eval may call any);
* ``eval`` (an ``eval`` of ``return``) and ``execute`` (the query is prepared and unprepared);
* a ``crud.*`` op, on every router: the space by ``crud.schema(space)`` (what crud itself
  sees on the storages; it also tells that crud is set up on the router and the user may call
  it), the fields its operations, object and conditions name, the index of ``crud.min``/``max``.
  A router without ``crud.schema`` (crud before 1.4) is checked on the storages instead: the
  space in ``box.space`` of each.

A generator that can produce a key outside the space's range is not checked: that is load, not a
wrong name. Every miss is one line naming the file, line, op and what is missing
(:class:`PreflightError`, exit 2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from loadtnt.drivers.base import ServerAddress
from loadtnt.scenario.model import Operation, Scenario, ScenarioError

ER_ACCESS_DENIED = 42  # any other refusal of a probe (ER_READONLY on a replica, ...) is no miss

_VSPACE, _VINDEX, _VFUNC = 281, 289, 297
WRITE_OPS = ("insert", "replace", "update", "upsert", "delete")
SPACE_OPS = ("select", *WRITE_OPS)
CALL_OPS = ("call", "call16")

_LUA_FUNCTION = """
local name = ...
if box.func ~= nil and box.func[name] ~= nil then return 'box.func' end
local o = _G
for part in string.gmatch(name, '[^.:]+') do
    if type(o) ~= 'table' then return nil end
    o = o[part]
end
if type(o) == 'function' then return 'lua' end
local mt = type(o) == 'table' and getmetatable(o) or nil
if type(mt) == 'table' and mt.__call ~= nil then return 'lua' end
return nil
"""


class PreflightError(ScenarioError):
    """The scenario names what a server does not have: one line per miss."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

    def __str__(self) -> str:
        return "\n".join(self.lines)


@dataclass
class _Space:
    sid: int
    name: str
    fields: list[str]
    indexes: dict[Any, int] | None = None  # name and id -> id (fetched when an op needs them)


def _db_code(e: BaseException) -> int | None:
    code = getattr(e, "code", None)
    return int(code) if isinstance(code, int) else None


def _message(e: BaseException) -> str:
    return str(getattr(e, "message", None) or e)


def _ops(scenario: Scenario) -> list[Operation]:
    """Every op and every transaction step, in the file's order."""
    out: list[Operation] = []
    for op in scenario.operations:
        out.append(op)
        out.extend(op.steps)
    return out


class _Instance:
    """One instance, as the run's user sees it; lookups cached."""

    def __init__(self, conn: Any, user: str) -> None:
        self.conn = conn
        self.user = user
        self.spaces: dict[Any, _Space | None] = {}
        self.funcs: dict[str, str | None] = {}
        self.probed: dict[tuple[str, int], str | None] = {}
        self.can_eval: str | None | bool = False  # False: not probed yet
        self.crud_schemas: dict[Any, tuple[Any, str | None]] = {}
        self.storages: list[Any] = []  # connections to a sharded cluster's storages

    async def _select(self, space: Any, key: list[Any], **kw: Any) -> list[Any]:
        return list(await self.conn.select(space, key, **kw))

    async def space(self, name: Any) -> _Space | None:
        if name not in self.spaces:
            rows = await self._select(_VSPACE, [name], index=2 if isinstance(name, str) else 0)
            sp = None
            if rows:
                row = rows[0]
                fmt = row[6] if len(row) > 6 and isinstance(row[6], list) else []
                sp = _Space(int(row[0]), str(row[2]),
                            [str(f.get("name")) for f in fmt if isinstance(f, dict)])
            self.spaces[name] = sp
        return self.spaces[name]

    async def hidden_space(self, name: Any) -> bool | None:
        """Whether a space the user cannot see exists: True (it does: a grant is missing),
        False (it does not), None (this user cannot tell: it may not eval)."""
        if await self.eval_refusal() is not None:
            return None
        # Lua's box.space holds every space, whatever the user's privileges
        found = list(await self.conn.eval("return box.space[...] ~= nil", [name]))
        return bool(found and found[0])

    async def indexes(self, sp: _Space) -> dict[Any, int]:
        if sp.indexes is None:
            rows = await self._select(_VINDEX, [sp.sid])
            sp.indexes = {}
            for row in rows:
                sp.indexes[int(row[1])] = int(row[1])
                sp.indexes[str(row[2])] = int(row[1])
        return sp.indexes

    async def probe(self, sp: _Space, what: str) -> str | None:
        """``what`` ('read' or 'write') on ``sp``: None when allowed (or it cannot be told
        here), else the server's refusal."""
        from loadtnt.driver.exceptions import TarantoolDatabaseError

        key = (what, sp.sid)
        if key not in self.probed:
            refusal = None
            try:
                if what == "read":
                    await self._select(sp.sid, [], limit=0)
                else:  # refused after the access check by every space (no field 1): no write
                    await self.conn.insert(sp.sid, [])
            except TarantoolDatabaseError as e:
                if _db_code(e) == ER_ACCESS_DENIED:
                    refusal = _message(e)
            self.probed[key] = refusal
        return self.probed[key]

    async def eval_refusal(self) -> str | None:
        """None when the user may eval (execute on universe), else the server's refusal."""
        from loadtnt.driver.exceptions import TarantoolDatabaseError

        if self.can_eval is False:
            try:
                await self.conn.eval("return")
                self.can_eval = None
            except TarantoolDatabaseError as e:
                if _db_code(e) != ER_ACCESS_DENIED:
                    raise
                self.can_eval = _message(e)
        return self.can_eval if isinstance(self.can_eval, str) else None

    async def function(self, name: str) -> str | None:
        """What is wrong with calling ``name`` (None: nothing)."""
        if name not in self.funcs:
            why = None
            if not await self._select(_VFUNC, [name], index=2):
                refusal = await self.eval_refusal()
                if refusal is not None:  # nor may it call a global Lua function
                    why = (f"function {name!r} is not visible to user {self.user!r}: it is "
                           f"missing, or the user has no execute privilege on it "
                           f"(box.schema.user.grant({self.user!r}, 'execute', 'function', "
                           f"{name!r}))")
                else:
                    found = list(await self.conn.eval(_LUA_FUNCTION, [name]))
                    if not found or found[0] is None:
                        why = (f"function {name!r} does not exist (neither in box.func nor a "
                               "global Lua function)")
            self.funcs[name] = why
        return self.funcs[name]


def _field_names(value: Any) -> list[str]:
    """Field names in an update/upsert ``operations`` list (the first part of a path)."""
    out = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, list) and len(item) >= 2 and isinstance(item[1], str):
                head = re.split(r"[.\[]", item[1], maxsplit=1)[0]
                if head:
                    out.append(head)
    return out


ER_NO_SUCH_PROC = 33


async def _crud_schema(inst: _Instance, space: Any) -> tuple[Any, str | None]:
    """crud.schema(space) on the router: (its schema or None, why not)."""
    from loadtnt.driver.exceptions import TarantoolDatabaseError

    if space not in inst.crud_schemas:
        try:
            resp = list(await inst.conn.call("crud.schema", [space, {}]))
        except TarantoolDatabaseError as e:
            if _db_code(e) == ER_NO_SUCH_PROC:
                result: tuple[Any, str | None] = await _space_on_storages(inst, space)
            elif _db_code(e) == ER_ACCESS_DENIED:
                result = (None, (f"user {inst.user!r} may not call crud on the router: "
                                f"{_message(e)}"))
            else:
                result = (None, f"crud.schema failed on the router: {_message(e)}")
        else:
            err = resp[1] if len(resp) > 1 else None
            if err is not None:
                text = err.get("err") if isinstance(err, dict) else err
                result = (None, (f"space {space!r} is not in crud's schema: {text} (crud sees "
                                "the storages' spaces)"))
            else:
                result = (resp[0] if resp else None, None)
        inst.crud_schemas[space] = result
    return inst.crud_schemas[space]


async def _space_on_storages(inst: _Instance, space: Any) -> tuple[Any, str | None]:
    if not inst.storages:
        return None, ("crud is not set up on the router (no crud.schema: crud.init_router() / "
                      "roles.crud-router)")
    for conn in inst.storages:
        found = list(await conn.eval("return box.space[...] ~= nil", [space]))
        if not (found and found[0]):
            return None, f"space {space!r} does not exist on the storages"
    return {}, None


def _crud_names(op: Operation) -> list[str]:
    """Field names a crud op's fields name: update operations, an object's keys, condition
    fields (or index names)."""
    f = op.fields
    named = _field_names(f.get("operations"))
    if isinstance(f.get("object"), dict):
        named += [str(k) for k in f["object"]]
    for cond in f.get("conditions") or []:
        if isinstance(cond, list) and len(cond) >= 2 and isinstance(cond[1], str):
            named.append(cond[1])
    return list(dict.fromkeys(named))


async def _check_crud(inst: _Instance, op: Operation) -> list[str]:
    f = op.fields
    space = f.get("space")
    schema, why = await _crud_schema(inst, space)
    if why is not None:
        return [why]
    if not isinstance(schema, dict) or not schema:
        return []
    fields = [str(x.get("name")) for x in schema.get("format") or [] if isinstance(x, dict)]
    indexes = schema.get("indexes") or {}
    index_names = [str(x.get("name")) for x in
                   (indexes.values() if isinstance(indexes, dict) else indexes)
                   if isinstance(x, dict)]
    misses = []
    conditions = {c[1] for c in f.get("conditions") or []
                  if isinstance(c, list) and len(c) >= 2}
    for name in _crud_names(op):
        if name in fields or (name in conditions and name in index_names):
            continue
        misses.append(f"space {space!r} has no field {name!r} (crud's schema: fields "
                      f"{', '.join(fields) or 'none'}; indexes {', '.join(index_names)})")
    idx = f.get("index")
    if op.op in ("crud.min", "crud.max") and idx is not None and idx not in index_names \
            and idx not in (indexes if isinstance(indexes, dict) else ()):
        misses.append(f"space {space!r} has no index {idx!r} (its indexes: "
                      f"{', '.join(index_names) or 'none'})")
    return misses


async def _check_op(inst: _Instance, op: Operation) -> list[str]:
    """What ``op`` needs and the instance does not give (each a phrase)."""
    from loadtnt.driver.exceptions import TarantoolDatabaseError

    f = op.fields
    misses: list[str] = []
    if op.op.startswith("crud."):
        return await _check_crud(inst, op)
    if op.op in SPACE_OPS and "space" in f:
        name = f["space"]
        sp = await inst.space(name)
        if sp is None:
            hidden = await inst.hidden_space(name)
            if hidden is False:
                misses.append(f"space {name!r} does not exist")
            elif hidden:
                grant = "read" if op.op == "select" else "read,write"
                misses.append(f"space {name!r} exists but is invisible to user {inst.user!r}: "
                              f"the user has no privilege on it (box.schema.user.grant("
                              f"{inst.user!r}, {grant!r}, 'space', {name!r}))")
            else:
                misses.append(f"space {name!r} is not visible to user {inst.user!r}: it is "
                              "missing, or the user has no privilege on it (this user "
                              "cannot tell which)")
            return misses
        if "index" in f:
            idx = f["index"]
            known = await inst.indexes(sp)
            if idx not in known:
                names = [k for k in known if isinstance(k, str)]
                misses.append(f"space {sp.name!r} has no index {idx!r} (its indexes: "
                              f"{', '.join(names) or 'none'})")
        named = _field_names(f.get("operations"))
        if isinstance(f.get("tuple"), dict):
            named += [str(k) for k in f["tuple"]]
        for field in dict.fromkeys(named):
            if field not in sp.fields:
                has = ", ".join(sp.fields) if sp.fields else "none: the space has no format"
                misses.append(f"space {sp.name!r} has no field {field!r} (its fields: {has})")
        need = "read" if op.op == "select" else "write"
        refusal = await inst.probe(sp, need)
        if refusal is not None:
            misses.append(f"user {inst.user!r} may not {need} space {sp.name!r}: {refusal}")
    elif op.op in CALL_OPS and isinstance(f.get("function"), str):
        why = await inst.function(f["function"])
        if why:
            misses.append(why)
    elif op.op == "eval":
        refusal = await inst.eval_refusal()
        if refusal is not None:
            misses.append(f"user {inst.user!r} may not eval: {refusal}")
    elif op.op == "execute" and isinstance(f.get("query"), str):
        stmt = inst.conn.prepare(f["query"])
        try:
            await stmt.prepare()
        except TarantoolDatabaseError as e:
            misses.append(f"the SQL query does not prepare: {_message(e)}")
        else:
            await stmt.unprepare()
    return misses


def _connect(address: ServerAddress, uri: str) -> Any:
    from loadtnt import driver

    s = address.instance(uri)
    return driver.Connection(host=s.host, port=s.port, username=s.user, password=s.password,
                             fetch_schema=False, auto_refetch_schema=False,
                             reconnect_timeout=0, connect_timeout=10, request_timeout=10,
                             ping_timeout=0)


async def check(scenario: Scenario, address: ServerAddress, server_name: str,
                storages: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every miss of ``scenario`` on every instance of ``address`` (a server set-up named
    ``server_name``; a sharded cluster's routers, ``storages`` its storages' ``host:port``),
    each one line: ``file:line: operations[i] (op 'name'): what``."""
    user = address.user or "guest"
    out: list[str] = []
    several = len(address.uris) > 1
    storage_conns: list[Any] = []
    if storages and any(op.op.startswith("crud.") for op in _ops(scenario)):
        for uri in storages:
            c = _connect(address, uri)
            await c.connect()
            storage_conns.append(c)
    try:
        for uri in address.uris:
            out += await _check_instance(scenario, address, server_name, uri, user, several,
                                         storage_conns)
    finally:
        for c in storage_conns:
            await c.disconnect()
    return out


async def _check_instance(scenario: Scenario, address: ServerAddress, server_name: str,
                          uri: str, user: str, several: bool, storages: list[Any]) -> list[str]:
    out: list[str] = []
    conn = _connect(address, uri)
    await conn.connect()
    try:
        inst = _Instance(conn, user)
        inst.storages = storages
        for op in _ops(scenario):
            for miss in await _check_op(inst, op):
                where = scenario.path or "<scenario>"
                if op.line is not None:
                    where += f":{op.line}"
                server = f"server {server_name!r}" + (f" instance {uri}" if several
                                                     else f" ({uri})")
                label = op.op if op.name == op.op else f"{op.op} {op.name!r}"
                out.append(f"{where}: {op.where or 'operations'} ({label}): {miss}, "
                           f"on {server}")
    finally:
        await conn.disconnect()
    return out
