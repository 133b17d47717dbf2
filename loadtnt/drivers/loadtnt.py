"""loadtnt.driver, this project's Cython driver (asynctnt 2.x API)."""
from __future__ import annotations

import functools
from typing import Any

from loadtnt.drivers._asynctnt_api import AsynctntApiAdapter, bind
from loadtnt.drivers.base import RequestFn
from loadtnt.scenario.opspec import OpSpec

POLL_S = 0.1  # box.info.ro polls on servers without watchers (2.6): a master switch is seen


class _ModeView:
    """The pool's request methods with one mode bound: what an op with ``mode:`` sends on."""

    def __init__(self, pool: Any, mode: str) -> None:
        self._pool, self._mode = pool, mode

    def __getattr__(self, name: str) -> Any:
        # once per method: the request functions look it up per request (``c.select``)
        fn = functools.partial(getattr(self._pool, name), mode=self._mode)
        setattr(self, name, fn)
        return fn


class Adapter(AsynctntApiAdapter):
    name = "loadtnt"
    pool = True

    async def connect(self) -> None:
        s = self.server
        if len(s.uris) == 1 and not s.sharded:
            await super().connect()
            return
        mod = self._module()
        self._exceptions = mod.exceptions
        # the instances of a replica set: one Connection each, roles followed (box.status
        # watched, or box.info.ro polled before 2.10: those EVALs are own_requests()); an
        # instance that goes away is reconnected, so it serves again once it is back.
        # A sharded cluster's routers alike: requests (crud's too) take turns among them.
        options = {"fetch_schema": True, "auto_refetch_schema": True, "reconnect_timeout": 0.2,
                   "ping_timeout": 0, "connect_timeout": 10, "role_poll_interval": POLL_S,
                   "request_timeout": self.request_timeout if self.request_timeout else -1.0}
        if s.config is not None:  # an existing 3.x cluster: its routers by the filters
            self._pool = mod.Pool.from_config(s.config, **s.filters, username=s.user,
                                              password=s.password, **options)
        else:
            self._pool = mod.Pool(list(s.uris), username=s.user, password=s.password,
                                  **options)
        self._conn = self._pool
        await self._pool.connect()

    def classify(self, exc: BaseException) -> str:
        if isinstance(exc, self._module().CrudError):
            return f"crud:{getattr(exc, 'class_name', None) or 'Error'}"
        return super().classify(exc)

    def request(self, spec: OpSpec) -> RequestFn:
        mode = spec.static("mode")
        if mode is not None and getattr(self, "_pool", None) is not None \
                and spec.op != "transaction" and not spec.op.startswith("crud."):
            return bind(_ModeView(self._pool, mode), spec)
        return super().request(spec)

    async def quiesce(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            await pool.pause_role_polls()

    def resume(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.resume_role_polls()

    def own_requests(self) -> dict[str, int]:
        pool = getattr(self, "_pool", None)
        if pool is None:
            return {}
        return {i.endpoint: i.role_polls for i in pool.instances}

    @classmethod
    def _module(cls) -> Any:
        from loadtnt import driver

        return driver

    @classmethod
    def version(cls) -> str:
        import loadtnt

        return str(getattr(cls._module(), "__version__", loadtnt.__version__))
