"""loadtnt.driver, this project's Cython driver (asynctnt 2.x API)."""
from __future__ import annotations

from typing import Any

from loadtnt.drivers._asynctnt_api import AsynctntApiAdapter


class Adapter(AsynctntApiAdapter):
    name = "loadtnt"

    @classmethod
    def _module(cls) -> Any:
        from loadtnt import driver

        return driver

    @classmethod
    def version(cls) -> str:
        import loadtnt

        return str(getattr(cls._module(), "__version__", loadtnt.__version__))
