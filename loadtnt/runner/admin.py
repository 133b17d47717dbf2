"""The parent's own connection to the server: box.stat() samples, server facts, ``before`` Lua.

It uses asynctnt when installed, else loadtnt.driver (same API), with no background ping (a
keep-alive ping would land in the delta).  Its own requests are EVALs, counted here and taken out
of the delta exactly: one sample's EVAL is counted in both EVAL and ``REQUESTS`` (box.stat.net)
of the next sample (measured on 2.6 and 3.8: two back-to-back samples differ by EVAL 1,
REQUESTS 1), and so is every other EVAL it sent in between.
"""
from __future__ import annotations

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
    def __init__(self, server: ServerAddress) -> None:
        self.server = server
        self._conn: Any = None
        self.sent = 0  # requests this client sent (all EVALs)

    async def connect(self) -> Admin:
        mod = _module()
        s = self.server
        self._conn = mod.Connection(host=s.host, port=s.port, username=s.user,
                                    password=s.password, fetch_schema=False, auto_refetch_schema=False,
                                    reconnect_timeout=0, connect_timeout=10, request_timeout=60,
                                    ping_timeout=0)
        await self._conn.connect()
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.disconnect()
            self._conn = None

    async def eval(self, lua: str, args: list[Any] | None = None) -> Any:
        self.sent += 1
        res = await self._conn.eval(lua, args or [])
        return res[0] if len(res) else None

    async def box_stat(self) -> dict[str, int]:
        """box.stat() totals, and under ``OWN`` the count of this client's requests before it."""
        own = self.sent
        out = {str(k): int(v) for k, v in (await self.eval(_STAT_LUA)).items()}
        out[OWN] = own
        return out

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


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
