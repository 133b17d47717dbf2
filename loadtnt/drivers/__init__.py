"""Driver adapters: one module per driver, each defining ``Adapter`` (see :mod:`.base`)."""
from __future__ import annotations

import importlib
import re

from loadtnt.drivers.base import Adapter

KNOWN = ("loadtnt", "asynctnt", "aiotarantool")


def load(name: str) -> type[Adapter]:
    """The adapter class of driver ``name`` (module ``loadtnt.drivers.<name>``)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise LookupError(f"bad driver name {name!r}")
    try:
        module = importlib.import_module(f"loadtnt.drivers.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"loadtnt.drivers.{name}":
            raise LookupError(f"unknown driver {name!r} (known: {', '.join(KNOWN)})") from None
        raise
    adapter = getattr(module, "Adapter", None)
    if not (isinstance(adapter, type) and issubclass(adapter, Adapter)):
        raise TypeError(f"loadtnt.drivers.{name} defines no Adapter class")
    return adapter


def available() -> list[str]:
    """Driver names with an adapter module here (found without importing them)."""
    import pkgutil

    import loadtnt.drivers as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_") and m.name != "base")
