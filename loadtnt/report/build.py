"""build_report(result_paths, out_dir): every chart as PNG, report.html (self-contained) and
summary.md, into out_dir."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from loadtnt.report import (
    errors,
    html,
    markdown,
    spectrum,
    storages,
    style,
    throughput,
    timeline,
)
from loadtnt.report.load import load_results


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "x"


def build_report(result_paths: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Returns the written paths: the PNGs, then report.html and summary.md."""
    if not result_paths:
        raise ValueError("build_report needs at least one result file")
    results = load_results(list(result_paths))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    charts: list[tuple[str, str, Path]] = []

    def add(kind: str, title: str, path: Path | None) -> None:
        if path is not None:
            charts.append((kind, title, path))

    add("throughput", "Throughput by request type",
        throughput.draw(results, out / "throughput.png"))
    for loop in style.loops_of(results):
        add("spectrum", f"Latency by percentile, {loop}",
            spectrum.draw(results, loop, out / f"latency-{_slug(loop)}.png"))
    for loop in style.loops_of(results):
        add("timeline", f"Requests/s and p99 over time, {loop}",
            timeline.draw(results, loop, out / f"timeline-{_slug(loop)}.png"))
    add("errors", "Errors by kind", errors.draw(results, out / "errors.png"))
    add("storages", "Load per router and storage",
        storages.draw(results, out / "storages.png"))

    report = out / "report.html"
    report.write_text(html.render(results, charts), encoding="utf-8")
    summary = out / "summary.md"
    summary.write_text(markdown.render(results, charts), encoding="utf-8")
    return [p for _, _, p in charts] + [report, summary]
