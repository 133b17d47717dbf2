"""Lint and types as part of the checks (as asyncpg's tests/test__sourcecode.py does)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the [test] extra)")
    return found


def test_ruff():
    proc = subprocess.run([_tool("ruff"), "check", "loadtnt", "tests", "bench"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy():
    # Third-party packages without stubs (asynctnt, aiotarantool, hdrhistogram, ...) are
    # not ours to type; the project's own modules must check clean.
    proc = subprocess.run([_tool("mypy"), "--ignore-missing-imports", "loadtnt"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
