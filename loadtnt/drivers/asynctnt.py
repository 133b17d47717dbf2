"""asynctnt 2.x, the reference asyncio driver."""
from __future__ import annotations

from typing import Any

from loadtnt.drivers._asynctnt_api import AsynctntApiAdapter
from loadtnt.drivers.base import ALL_OPS, CRUD


class Adapter(AsynctntApiAdapter):
    name = "asynctnt"
    ops = ALL_OPS - CRUD  # asynctnt has no crud API (base.NO_CRUD)

    @classmethod
    def missing(cls) -> str | None:
        import importlib.util

        if importlib.util.find_spec("asynctnt") is not None:
            return None
        return ("asynctnt is not installed (it is the `compare` extra): "
                "pip install 'loadtnt[compare]'")

    @classmethod
    def _module(cls) -> Any:
        import asynctnt

        return asynctnt
