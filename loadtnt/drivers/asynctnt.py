"""asynctnt 2.x, the reference asyncio driver."""
from __future__ import annotations

from typing import Any

from loadtnt.drivers._asynctnt_api import AsynctntApiAdapter


class Adapter(AsynctntApiAdapter):
    name = "asynctnt"

    @classmethod
    def _module(cls) -> Any:
        import asynctnt

        return asynctnt
