"""summary.md: the seed-style tables, links to the charts next to it, warnings and the context —
short enough to paste into a pull request or a CI job summary."""

from __future__ import annotations

from pathlib import Path

from loadtnt.report import tables
from loadtnt.report.context import context_lines
from loadtnt.report.load import Result


def render(results: list[Result], charts: list[tuple[str, str, Path]]) -> str:
    names = ", ".join(dict.fromkeys(str(r.scenario.get("name") or r.label) for r in results))
    out = [f"# loadtnt: {names}", ""]
    for r in results:
        out.append("- " + context_lines(r).replace("\n", " "))
    out.append("")
    warnings = [f"{r.label}: {w}" for r in results for w in r.warnings]
    warnings += [f"{r.label}: {r.run_label(run)}: {w}"
                 for r in results for run in r.runs for w in run.warnings]
    warnings += [f"{r.label}: partial result (interrupted)" for r in results if r.partial]
    if warnings:
        out += ["**Warnings**", ""] + [f"- {w}" for w in dict.fromkeys(warnings)] + [""]
    for t in tables.throughput_tables(results):
        out += [f"## {t.loop}: {t.what}", "", tables.render_markdown(t), ""]
    for t in tables.p99_tables(results):
        out += [f"### {t.loop}: {t.what}", "", tables.render_markdown(t), ""]
    if charts:
        out += ["## Charts", ""]
        out += [f"![{title}]({png.name})" for _, title, png in charts]
        out.append("")
    return "\n".join(out)
