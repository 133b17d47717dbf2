"""Fixtures of the report/compare/check tests: the stored result files and a factory for small
synthetic results (tests/report/report_synth.py). No Tarantool needed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def seed_result_path() -> Path:
    return FIXTURES / "seed-suite.json"


@pytest.fixture(scope="session")
def open_loop_result_path() -> Path:
    return FIXTURES / "open-loop.json"


@pytest.fixture
def write_result(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    def write(name: str, data: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return write
