"""The parent's own connection to the server: box.stat() samples, server facts, ``before`` Lua.

It uses asynctnt when installed, else loadtnt.driver (same API).  Its own requests are EVALs,
taken out of the delta: the closing sample's EVAL is counted before it reads box.stat(), and the
network counter ``REQUESTS`` (box.stat.net) counts a request once it is done, so it holds both
samples' EVALs (measured on 2.6: two back-to-back samples differ by EVAL 1, REQUESTS 2).
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

    async def connect(self) -> Admin:
        mod = _module()
        s = self.server
        self._conn = mod.Connection(host=s.host, port=s.port, username=s.user,
                                    password=s.password, fetch_schema=False, auto_refetch_schema=False,
                                    reconnect_timeout=0, connect_timeout=10, request_timeout=60)
        await self._conn.connect()
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.disconnect()
            self._conn = None

    async def eval(self, lua: str, args: list[Any] | None = None) -> Any:
        res = await self._conn.eval(lua, args or [])
        return res[0] if len(res) else None

    async def box_stat(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in (await self.eval(_STAT_LUA)).items()}

    async def info(self, keys: Sequence[str] = ()) -> dict[str, Any]:
        """The server's version and effective box.cfg: the essentials and ``keys``."""
        return _plain(await self.eval(_INFO_LUA, [list(BOX_CFG_KEYS), list(keys)]))


def stat_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """``after - before`` per box.stat() key, less this client's own sampling EVALs."""
    delta = {k: after[k] - before.get(k, 0) for k in sorted(after)}
    for k, own in (("EVAL", 1), ("REQUESTS", 2)):
        if k in delta:
            delta[k] -= own
    return delta


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
