"""`loadtnt report --history DB`: a trend chart per row of the history (each run's mean with its
trials' min..max, the segments between change points and their means, change points marked,
outliers crossed, the newest run highlighted), as PNGs and a section of report.html.

Change points need the history extra; without it the charts are drawn without them and a line
says so.
"""

from __future__ import annotations

import itertools
import re
import statistics
from html import escape
from pathlib import Path

from loadtnt.history import detect
from loadtnt.history.store import LOWER_IS_BETTER, Row, open_db, rows

CAPTION = ("Each run's mean over its trials (dot) and their min..max (bar), in the order added; "
           "dashed lines: change points (Apache Otava), with the segments' means; crosses: "
           "outliers; the newest run in red.")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "x"


def draw(row: Row, metric: str, path: Path, analysis: detect.Analysis | None) -> Path:
    from loadtnt.report.style import DPI, plt

    x = [p.run.id for p in row.points]
    mean = [statistics.fmean(p.values) for p in row.points]
    lo = [m - p.low for m, p in zip(mean, row.points)]
    hi = [p.high - m for m, p in zip(mean, row.points)]
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.errorbar(x, mean, yerr=[lo, hi], fmt="o-", color="#1f6fb4", ms=4, lw=1, capsize=2,
                ecolor="#9bbcd9", label="run mean, trials min..max")
    if analysis is not None:
        bounds = [0, *(c.index for c in analysis.changes), len(x)]
        keep = [i for i in range(len(x)) if i not in analysis.outliers]
        for a, b in itertools.pairwise(bounds):
            seg = [mean[i] for i in keep if a <= i < b]
            if seg:
                ax.hlines(statistics.fmean(seg), x[a] - 0.4, x[b - 1] + 0.4, colors="#555",
                          lw=1.5, alpha=0.7)
        for c in analysis.changes:
            worse = c.regression(metric) > 0
            ax.axvline(x[c.index] - 0.5, color="#c0392b" if worse else "#3a9e3a", ls="--",
                       lw=1.2)
            ax.annotate(f"{c.rel:+.1%}", (x[c.index] - 0.5, max(mean)), fontsize=8,
                        color="#c0392b" if worse else "#3a9e3a", ha="right", va="bottom")
        for i in analysis.outliers:
            ax.plot([x[i]], [mean[i]], "x", color="#e8801a", ms=10, mew=2, label="outlier")
    ax.plot([x[-1]], [mean[-1]], "o", color="#c0392b", ms=9, label=f"newest, run #{x[-1]}")
    unit = "requests/s" if metric == "rps" else f"{metric} latency, µs"
    ax.set_ylabel(unit + (" (lower is better)" if metric in LOWER_IS_BETTER else ""))
    ax.set_xlabel("run #")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(row.name + (f" @ {row.machine}" if row.machine else ""), fontsize=10)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def charts(db_path: str | Path, out_dir: str | Path, metric: str = "rps", *,
           any_machine: bool = False, note=None) -> list[tuple[str, Path]]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = open_db(db_path, create=False)
    try:
        detect.require_otava()
        have_otava = True
    except detect.MissingExtra as e:
        have_otava = False
        if note:
            note(f"loadtnt report: trend charts without change points: {e}")
    made = []
    for row in rows(db, metric, any_machine=any_machine):
        analysis = detect.analyze(detect.values_of(row.points)) if have_otava and \
            len(row.points) >= 3 else None
        path = out / f"trend-{_slug(row.key)}-{_slug(row.name)}.png"
        made.append((row.name, draw(row, metric, path, analysis)))
    return made


def section(made: list[tuple[str, Path]], db_path: str | Path) -> str:
    from loadtnt.report.html import data_uri

    figs = "".join(f"<figure><img src='{data_uri(p)}' alt='{escape(t)}' "
                   f"data-chart='{escape(p.stem)}'><figcaption>{escape(CAPTION)}</figcaption>"
                   f"</figure>" for t, p in made)
    return (f"<h2 id='history'>History ({escape(str(db_path))})</h2>"
            + (figs or "<p>no runs in the history yet</p>"))


def add_to_report(report: Path, made: list[tuple[str, Path]], db_path: str | Path) -> None:
    """Put the history section into report.html, before the environment (or at the end)."""
    html = report.read_text(encoding="utf-8")
    part = section(made, db_path)
    marker = "<h2>Environment</h2>"
    html = html.replace(marker, part + "\n" + marker, 1) if marker in html else \
        html.replace("</body>", part + "\n</body>", 1)
    report.write_text(html, encoding="utf-8")


def standalone(report: Path, made: list[tuple[str, Path]], db_path: str | Path) -> None:
    """report.html of the history alone (`loadtnt report --history DB` without result files)."""
    from loadtnt.report.html import CSS, READY_SCRIPT

    report.write_text("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                      "<title>loadtnt history</title>"
                      f"<style>{CSS}</style><script>{READY_SCRIPT}</script></head><body>"
                      "<h1>loadtnt history</h1>" + section(made, db_path) + "</body></html>",
                      encoding="utf-8")
