"""The built-in scenarios: ``loadtnt run seed`` by name, ``loadtnt scenarios`` to list them.

Their source is ``scenarios/`` at the top of the repository; wheels and sdists carry a copy in
``loadtnt/scenario/builtin/`` (setup.py's build_py), which an installed loadtnt uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_DIRS = (_HERE / "builtin", _HERE.parents[1] / "scenarios")


def directory() -> Path | None:
    """Where the built-in scenarios are: the installed copy, else the checkout's ``scenarios/``."""
    for d in _DIRS:
        if d.is_dir() and any(d.glob("*.yaml")):
            return d
    return None


def names() -> list[str]:
    d = directory()
    return sorted(p.stem for p in d.glob("*.yaml")) if d else []


def path(name: str) -> Path | None:
    """The file of built-in scenario ``name`` (``seed`` or ``seed.yaml``), None if there is none."""
    d = directory()
    stem = name.removesuffix(".yaml")
    if d is None or not stem or os.sep in stem or (os.altsep and os.altsep in stem):
        return None
    candidate = d / f"{stem}.yaml"
    return candidate if candidate.is_file() else None


def resolve(arg: str) -> str:
    """``loadtnt run``'s argument as a file: an existing path as given, else a built-in's file.

    An argument that is neither stays as it is, so that loading it reports the missing file.
    """
    if os.path.exists(arg):
        return arg
    found = path(arg)
    return str(found) if found is not None else arg


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    path: Path


def listing() -> list[Entry]:
    """Every built-in scenario with its description (a scenario that does not load says so)."""
    from loadtnt.scenario import parse  # PyYAML only now
    from loadtnt.scenario.model import ScenarioError

    out = []
    for name in names():
        file = path(name)
        assert file is not None
        try:
            description = parse.load(file).description
        except ScenarioError as e:
            description = f"(does not load: {e})"
        out.append(Entry(name, description, file))
    return out
