"""Driver adapters: one module per driver, each defining ``Adapter`` (see :mod:`.base`)."""
from __future__ import annotations

import importlib
import re

from loadtnt.drivers.base import Adapter

KNOWN = ("loadtnt", "loadtnt-c", "asynctnt", "aiotarantool")


def load(name: str) -> type[Adapter]:
    """The adapter class of driver ``name`` (module ``loadtnt.drivers.<name>``, a ``-`` in the
    name being a ``_`` in the module's: ``loadtnt-c`` is ``loadtnt_c``)."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise LookupError(f"bad driver name {name!r}")
    module_name = f"loadtnt.drivers.{name.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
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

    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_") and m.name != "base")
