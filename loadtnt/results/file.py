"""The result file (``format: loadtnt-result/1``, see loadtnt/report/RESULT_FORMAT.md).

:class:`ResultFile` accumulates a run's entries and writes them atomically; :func:`read` loads
one back, refusing other formats.
"""
from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

FORMAT = "loadtnt-result/1"


class ResultError(ValueError):
    pass


class ResultFile:
    def __init__(self, scenario: dict[str, Any], environment: dict[str, Any]) -> None:
        self.data: dict[str, Any] = {
            "format": FORMAT, "scenario": scenario, "environment": environment,
            "runs": [], "server": [], "warnings": [], "partial": False,
        }

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.data["runs"]

    def warn(self, message: str) -> None:
        self.data["warnings"].append(message)

    def write(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
        return path


def default_path(scenario_name: str, directory: str = "results") -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario_name).strip("-") or "run"
    return Path(directory) / f"{safe}-{stamp}.json"


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ResultError(f"{path}: cannot read a result: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultError(f"{path}: not a {FORMAT} file")
    return data
