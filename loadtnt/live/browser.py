"""Headless Chromium (Debian's ``chromium`` package; ``make chromium`` installs it): the flags the
report test uses, for the dashboard's screenshot and the tests that open the dashboard."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


def find() -> str | None:
    return next((p for p in map(shutil.which, NAMES) if p), None)


def command(profile: Path, *args: str, binary: str | None = None) -> list[str]:
    """A headless Chromium command line with a fresh profile directory ``profile``."""
    exe = binary or find()
    if exe is None:
        raise FileNotFoundError("headless Chromium not installed (apt-get install -y chromium, "
                                "or `make chromium`)")
    return [exe, *FLAGS, f"--user-data-dir={profile}", *args]


def screenshot(url: str, out: Path, *, size: str = "1400,1500", budget_ms: int = 5000,
               timeout: float = 90) -> Path:
    """A PNG of ``url`` after ``budget_ms`` of virtual time; raises when none was written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loadtnt-chromium-") as profile:
        proc = subprocess.run(
            command(Path(profile), f"--screenshot={out}", f"--window-size={size}",
                    "--hide-scrollbars", f"--virtual-time-budget={budget_ms}", url),
            capture_output=True, text=True, timeout=timeout, check=False)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}")
    return out
