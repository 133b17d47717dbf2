"""What a result records about where it ran: versions, commit, CPU, OS, start time."""
from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import loadtnt


def git_commit(root: Path | None = None) -> str | None:
    """The short commit of the project's checkout, ``+dirty`` when it has changes; None for an
    installed copy (its parent directory is site-packages, perhaps inside some other repository)."""
    root = root or Path(loadtnt.__file__).resolve().parent.parent
    if not ((root / ".git").exists() and (root / "pyproject.toml").is_file()):
        return None
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                             capture_output=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, timeout=5,
                               check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "") if rev else None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect() -> dict[str, Any]:
    """The machine's part; the run adds ``drivers``, ``loops`` and ``tarantool``."""
    return {
        "loadtnt_version": loadtnt.__version__,
        "commit": git_commit(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "drivers": {},
        "loops": {},
        "tarantool": {},
        "cpu": {"model": cpu_model(), "count": os.cpu_count()},
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
