"""The parent's own connection to the server: box.stat() samples, server facts, ``before`` Lua.

It uses asynctnt when installed, else loadtnt.driver (same API), with no background ping (a
keep-alive ping would land in the delta).  Its own requests are EVALs, counted here and taken out
of the delta exactly: one sample's EVAL is counted in both EVAL and ``REQUESTS`` (box.stat.net)
of the next sample (measured on 2.6 and 3.8: two back-to-back samples differ by EVAL 1,
REQUESTS 1), and so is every other EVAL it sent in between.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from loadtnt.drivers.base import ServerAddress

_STAT_LUA = """
local out = {}
for k, v in pairs(box.stat()) do out[k] = v.total end
local ok, net = pcall(box.stat.net)
if ok and net.REQUESTS ~= nil then out.REQUESTS = net.REQUESTS.total end
return out
"""

# a sharded cluster's instance: box.stat() totals, its process's CPU seconds (os.clock(): the
# process's CPU time, every thread), its pid, and on a storage its active buckets and the rows
# of each user space
_NODE_LUA = """
local out = {}
for k, v in pairs(box.stat()) do out[k] = v.total end
local ok, net = pcall(box.stat.net)
if ok and net.REQUESTS ~= nil then out.REQUESTS = net.REQUESTS.total end
local r = {stat = out, cpu = os.clock(), pid = box.info.pid}
local b = box.space._bucket
if b ~= nil then
    local ok2, n = pcall(function() return b.index.status:count('active') end)
    r.buckets = ok2 and n or b:count()
    local rows = {}
    for _, t in box.space._space:pairs({512}, {iterator = 'GE'}) do
        local name = t[3]
        local sp = box.space[name]
        if sp ~= nil and string.sub(name, 1, 1) ~= '_' then
            local ok3, len = pcall(function() return sp:len() end)
            if ok3 then rows[name] = len end
        end
    end
    r.rows = rows
end
return r
"""

# a storage's active buckets (the bucket timeline of a window), nil elsewhere
BUCKETS_LUA = """
local b = box.space._bucket
if b == nil then return nil end
local ok, n = pcall(function() return b.index.status:count('active') end)
return ok and n or b:count()
"""

# box.cfg essentials every result records, and the options a set-up gave (the eval's args)
BOX_CFG_KEYS = ("wal_mode", "memtx_memory", "readahead", "net_msg_max", "worker_pool_threads",
                "memtx_use_mvcc_engine", "iproto_threads", "log_level")

_INFO_LUA = """
local cfg = {}
for _, keys in ipairs({...}) do
    for _, k in ipairs(keys) do cfg[k] = box.cfg[k] end
end
return {version = box.info.version, box_cfg = cfg}
"""


def _module() -> Any:
    try:
        import asynctnt

        return asynctnt
    except ImportError:
        from loadtnt import driver

        return driver


class Admin:
    """One connection per instance (a replica set has several): ``eval`` goes to the writable
    one, ``box_stats`` samples every instance."""

    def __init__(self, server: ServerAddress) -> None:
        self.server = server
        self.uris = server.uris
        self._conns: list[Any] = []
        self.sent = [0] * len(self.uris)  # requests this client sent to each (all EVALs)

    def _new_conn(self, uri: str) -> Any:
        s = self.server.instance(uri)
        return _module().Connection(host=s.host, port=s.port, username=s.user,
                                    password=s.password, fetch_schema=False,
                                    auto_refetch_schema=False, reconnect_timeout=0,
                                    connect_timeout=10, request_timeout=60, ping_timeout=0)

    async def connect(self) -> Admin:
        try:
            for uri in self.uris:
                conn = self._new_conn(uri)
                await conn.connect()
                self._conns.append(conn)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        conns, self._conns = self._conns, []
        for conn in conns:
            await conn.disconnect()

    async def _eval_on(self, i: int, lua: str, args: list[Any] | None = None) -> Any:
        self.sent[i] += 1
        res = await self._conns[i].eval(lua, args or [])
        return res[0] if len(res) else None

    async def eval(self, lua: str, args: list[Any] | None = None) -> Any:
        """``lua`` on the instance that takes writes (the only one, or a replica set's master:
        ``before`` Lua fills spaces)."""
        return await self._eval_on(await self._writable(), lua, args)

    async def _writable(self) -> int:
        if len(self._conns) == 1:
            return 0
        for i in range(len(self._conns)):
            if not await self._eval_on(i, "return box.info.ro"):
                return i
        raise RuntimeError("no instance of " + ", ".join(self.uris) + " is writable "
                           "(box.info.ro is true on every one)")

    async def box_stats(self) -> list[dict[str, int]]:
        """Per instance: box.stat() totals, and under ``OWN`` this client's requests to it
        before the sample."""
        out = []
        for i in range(len(self._conns)):
            own = self.sent[i]
            stat = {str(k): int(v) for k, v in (await self._eval_on(i, _STAT_LUA)).items()}
            stat[OWN] = own
            out.append(stat)
        return out

    async def node_samples(self) -> list[dict[str, Any]]:
        """Per instance of a sharded cluster: ``stat`` (box.stat() totals with :data:`OWN`,
        as :meth:`box_stats`), ``cpu_s``, ``pid``, and on a storage ``buckets`` (active) and
        ``rows`` (per user space)."""
        out = []
        for i in range(len(self._conns)):
            try:
                r = _plain(await self._eval_on(i, _NODE_LUA)) or {}
            except Exception:  # noqa: BLE001 - an instance killed or restarted: connect again
                try:
                    r = await self._reconnected_sample(i)
                except Exception:  # noqa: BLE001 - down: no sample of it
                    out.append({"down": True})
                    continue
            own = self.sent[i] - 1  # this sample's own EVAL is not in it
            stat = {str(k): int(v) for k, v in (r.get("stat") or {}).items()}
            stat[OWN] = own
            sample: dict[str, Any] = {"stat": stat, "cpu_s": float(r.get("cpu") or 0.0),
                                      "pid": r.get("pid")}
            if r.get("reconnected"):
                sample["reconnected"] = True
            if r.get("buckets") is not None:
                sample["buckets"] = int(r["buckets"])
                rows = r.get("rows") or {}
                sample["rows"] = {str(k): int(v) for k, v in
                                  (rows.items() if isinstance(rows, dict) else ())}
            out.append(sample)
        return out

    async def eval_each(self, lua: str) -> list[Any]:
        """``lua`` on every instance (counted as this client's EVALs); None where it failed."""
        out: list[Any] = []
        for i in range(len(self._conns)):
            try:
                out.append(await self._eval_on(i, lua))
            except Exception:  # noqa: BLE001 - down or restarting: nothing from it now
                out.append(None)
        return out

    async def _reconnected_sample(self, i: int) -> dict[str, Any]:
        """A new connection to instance ``i`` (its old one broke: it was killed or restarted)
        and its sample, which says ``reconnected``."""
        old = self._conns[i]
        try:
            await old.disconnect()
        except Exception:  # noqa: BLE001, S110 - it is broken already
            pass
        conn = self._new_conn(self.uris[i])
        await asyncio.wait_for(conn.connect(), 10)
        self._conns[i] = conn
        self.sent[i] = 0  # a new process (or connection): its EVALs counted afresh
        r = _plain(await self._eval_on(i, _NODE_LUA)) or {}
        r["reconnected"] = True
        return r

    async def box_stat(self) -> dict[str, int]:
        """box.stat() totals of the only instance (see :meth:`box_stats` for several)."""
        return (await self.box_stats())[0]

    async def info(self, keys: Sequence[str] = ()) -> dict[str, Any]:
        """The server's version and effective box.cfg: the essentials and ``keys``."""
        return _plain(await self.eval(_INFO_LUA, [list(BOX_CFG_KEYS), list(keys)]))


OWN = "_admin_requests"


def stat_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """``after - before`` per box.stat() key, less this client's own EVALs in between (the
    first sample's and any other it sent before the second)."""
    own = after.get(OWN, 1) - before.get(OWN, 0)
    delta = {k: after[k] - before.get(k, 0) for k in sorted(after) if k != OWN}
    for k in ("EVAL", "REQUESTS"):
        if k in delta:
            delta[k] -= own
    return delta


def stat_deltas(before: list[dict[str, int]], after: list[dict[str, int]],
                evals: list[int] | None = None) -> tuple[dict[str, int], list[dict[str, int]]]:
    """The summed delta of a replica set's instances and each one's.

    Every instance's ``REQUESTS`` (box.stat.net) counts only the requests clients sent it, so
    their sum is the harness's count. The request types of a replica also count the rows it
    applied from the master (an INSERT replicated is an INSERT there too, on 2.6 and 3.8), so
    summed they can only exceed the client's: the cross-check's "no fewer" rule still holds."""
    each = [stat_delta(b, a) for b, a in zip(before, after, strict=True)]
    for d, n in zip(each, evals or [], strict=False):  # ``evals``: EVALs not of the load
        for k in ("EVAL", "REQUESTS"):
            if n and k in d:
                d[k] -= n
    total: dict[str, int] = {}
    for d in each:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total, each


def node_deltas(names: list[str], before: list[dict[str, Any]], after: list[dict[str, Any]],
                evals: list[int] | None = None) -> dict[str, dict[str, Any]]:
    """Each instance's window by name: ``delta`` (box.stat, less this client's and the
    drivers' own EVALs, as :func:`stat_deltas`), ``cpu_s`` (CPU seconds the process used), and
    for a storage ``buckets`` and ``rows`` (after the window; ``buckets_before`` and
    ``rows_before`` too) and ``spaces`` (the rows of each user space after it)."""
    out: dict[str, dict[str, Any]] = {}
    for i, (name, b, a) in enumerate(zip(names, before, after, strict=True)):
        if b.get("down") or a.get("down"):  # not reachable at a sample: nothing to say
            out[name] = {"down": True}
            continue
        own = [evals[i]] if evals else None
        if a.get("pid") != b.get("pid"):
            # restarted in the window: its counters (and CPU) start again from zero, and what
            # its old process served is lost with it
            (d,), cpu = stat_deltas([{OWN: 0}], [a["stat"]], own)[1], a["cpu_s"]
            node: dict[str, Any] = {"delta": d, "cpu_s": round(cpu, 6), "restarted": True}
        else:
            (d,) = stat_deltas([b["stat"]], [a["stat"]], own)[1]
            node = {"delta": d, "cpu_s": round(a["cpu_s"] - b["cpu_s"], 6)}
        if "buckets" in a:
            node["buckets"] = a["buckets"]
            node["buckets_before"] = b.get("buckets")
            node["rows"] = sum(a.get("rows", {}).values())
            node["rows_before"] = sum(b.get("rows", {}).values())
            node["spaces"] = a.get("rows", {})
        out[name] = node
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
