"""Charts, an HTML report and a Markdown summary from `loadtnt-result/1` files.

Importing this package is cheap: matplotlib is loaded only when a report is built, so
`loadtnt compare` and `loadtnt check` (which read results through loadtnt.report.load) stay light.
The subcommand itself lives in loadtnt.report.cli (add_parser, report_main).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def build_report(result_paths: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Write the charts (PNG), report.html and summary.md into out_dir; return their paths."""
    from loadtnt.report.build import build_report as _build

    return _build(result_paths, out_dir)


def report_main(argv: Sequence[str] | None = None) -> int:
    """`loadtnt report …` on its own; returns the exit code."""
    from loadtnt.report.cli import report_main as _main

    return _main(argv)


__all__ = ["build_report", "report_main"]
