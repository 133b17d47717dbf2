"""Fixtures of the harness tests: the embedded benchmark server and a ``loadtnt`` runner."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtnt.server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_server() -> Iterator[EmbeddedServer]:
    """A Tarantool with tarantool/bench.lua (the harness's own schema and functions)."""
    with EmbeddedServer(memtx_memory=128 << 20) as srv:
        yield srv


def write_scenario(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def loadtnt_cmd(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "loadtnt", *map(str, args)]


def run_loadtnt(*args: str | os.PathLike[str], timeout: float = 90,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``loadtnt ARGS`` from the checkout; ``env``: variables over this process's."""
    return subprocess.run(loadtnt_cmd(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False,
                          env={**os.environ, **env} if env is not None else None)


def read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


async def unread_keys(pool: Any, keys: list[Any], space: str = "customers") -> int:
    """How many of ``keys`` crud.get does not find, read from the masters (mode='write') 500
    at a time: the acknowledged writes a fault lost."""
    import asyncio

    missing = 0
    for i in range(0, len(keys), 500):
        got = await asyncio.gather(*(pool.crud.get(space, [k], mode="write")
                                     for k in keys[i:i + 500]))
        missing += sum(len(r) != 1 for r in got)
    return missing
