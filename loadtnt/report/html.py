"""The self-contained HTML report: charts embedded as data URIs, the seed-style tables, warnings and
the environment of every result file. One file, no network, opens anywhere.

A small script marks <body data-images-loaded="N" data-images-total="M"> once the page has loaded,
so a headless browser can check that every chart decoded (tests/report/test_html_chromium.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from loadtnt.report import tables
from loadtnt.report.context import context_lines
from loadtnt.report.load import Result, several_servers

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
.ctx { color: #444; font-size: .9rem; margin: .2rem 0; }
table { border-collapse: collapse; margin: .6rem 0 1.4rem; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .3rem .7rem; }
th { background: #f4f6f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: 700; background: #eef6ee; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; height: auto;
         border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
.warn { background: #fff4e5; border-left: 4px solid #e8801a; padding: .5rem 1rem; }
.env td:first-child { color: #555; white-space: nowrap; }
.tables { display: flex; flex-wrap: wrap; gap: 0 2.5rem; }
code { background: #f4f6f8; padding: 0 .25rem; }
"""

READY_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
    else { imgs[i].setAttribute('data-broken', '1'); }
  }
  document.body.setAttribute('data-images-total', String(imgs.length));
  document.body.setAttribute('data-images-loaded', String(ok));
});
"""

CAPTIONS = {
    "throughput": "Requests/s per request type; bar = median over trials, whisker = min–max.",
    "spectrum": "Latency by percentile (HdrHistogram style), trials merged. Lower is better; "
                "the far right is the slowest request.",
    "timeline": "Requests/s and p99 per second; the grey band is warm-up; red crosses mark "
                "seconds with errors.",
    "errors": "Errors by kind, summed over trials and operations.",
    "storages": "A sharded cluster: each router's and storage's requests/s as its box.stat "
                "counted them over the measured window, and its CPU; b = the storage's "
                "buckets.",
}


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _table_html(table: tables.Table) -> str:
    head = "".join(f"<th>{escape(c.title)}</th>" for c in table.columns)
    if table.ratios is not None:
        head += f"<th>{escape(table.ratio_title)}</th>"
    body = []
    for k, (op, values) in enumerate(table.rows):
        best = table.best(values)
        cells = "".join(
            f'<td class="num{" best" if i == best else ""}">'
            f"{escape(tables.fmt_value(table, v))}</td>" for i, v in enumerate(values))
        if table.ratios is not None:
            cells += f"<td class='num'>{escape(tables.fmt_ratio(table.ratios[k]))}</td>"
        body.append(f"<tr><th>{escape(op)}</th>{cells}</tr>")
    return (f"<h3>{escape(table.loop)} — {escape(table.what)}</h3>"
            f"<table><thead><tr><th>request</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _tables_row(ts: list[tables.Table]) -> str:
    """The per-loop tables side by side (they wrap on a narrow screen)."""
    return "<div class='tables'>" + "".join(f"<div>{_table_html(t)}</div>" for t in ts) + "</div>"


def _flatten(d: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, list) and not all(isinstance(x, (str, int, float)) for x in d):
        yield prefix, json.dumps(d)
    elif isinstance(d, list):
        yield prefix, ", ".join(map(str, d))
    else:
        yield prefix, "—" if d is None else str(d)


def _env_html(r: Result) -> str:
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                   for k, v in _flatten(r.environment))
    scen = {k: v for k, v in r.scenario.items() if k != "operations"}
    scen_rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                        for k, v in _flatten(scen))
    ops = "".join(f"<li><code>{escape(json.dumps(o))}</code></li>"
                  for o in r.scenario.get("operations") or [])
    return (f"<h3>{escape(r.label)} <small>({escape(str(r.path))})</small></h3>"
            f'<table class="env"><tbody>{rows or "<tr><td>no environment recorded</td></tr>"}'
            f"</tbody></table>"
            + (f'<table class="env"><tbody>{scen_rows}</tbody></table>' if scen_rows else "")
            + (f"<p>operations:</p><ul>{ops}</ul>" if ops else ""))


def _server_html(results: list[Result]) -> str:
    rows = []
    several = several_servers(results)
    for r in results:
        for s in r.server:
            delta = s.get("delta") or {}
            ops = s.get("ops")  # ops measured in this window (one at a time: just one)
            counted = sum(x.requests for x in r.runs if x.driver == s.get("driver")
                          and x.loop == s.get("loop") and x.trial == s.get("trial")
                          and x.server == s.get("server", x.server)
                          and (not ops or x.op in ops))
            server_total = delta.get("REQUESTS")
            where = f"<td>{escape(str(s.get('server', '')))}</td>" if several else ""
            rows.append(
                f"<tr><td>{escape(r.label)}</td>{where}<td>{escape(str(s.get('driver')))}</td>"
                f"<td>{escape(str(s.get('loop')))}</td><td class='num'>{s.get('trial')}</td>"
                f"<td>{escape(', '.join(ops) if ops else 'all')}</td>"
                f"<td class='num'>{counted:,}</td>"
                f"<td class='num'>{'—' if server_total is None else f'{server_total:,}'}</td>"
                f"<td>{escape(', '.join(f'{k} {v:,}' for k, v in delta.items() if v))}</td>"
                "</tr>")
    if not rows:
        return ""
    return ("<h2>Server side (box.stat deltas)</h2><table><thead><tr><th>file</th>"
            + ("<th>server</th>" if several else "") + "<th>driver</th><th>loop</th><th>trial</th><th>ops</th><th>harness requests</th>"
            "<th>server REQUESTS</th><th>by request type</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _errors_html(results: list[Result]) -> str:
    from loadtnt.report.errors import fmt_share, tally

    rows = tally(results)
    kinds = list(dict.fromkeys(k for _, c, _ in rows for k in c))
    head = "".join(f"<th>{escape(k)}</th>" for k in kinds)
    body = "".join(
        f"<tr><th>{escape(label)}</th>"
        + "".join(f"<td class='num'>{c.get(k, 0):,}</td>" for k in kinds)
        + f"<td class='num'>{sum(c.values()):,}</td>"
        + f"<td>{escape(fmt_share(sum(c.values()) / req) if req else '—')}</td></tr>"
        for label, c, req in rows)
    return (f"<table><thead><tr><th>driver · loop</th>{head}<th>total</th><th>share</th></tr>"
            f"</thead><tbody>{body}</tbody></table>")


def _warnings_html(results: list[Result]) -> str:
    items = []
    for r in results:
        if r.partial:
            items.append(f"{r.label}: partial result (the run was interrupted)")
        items += [f"{r.label}: {w}" for w in r.warnings]
        for run in r.runs:
            items += [f"{r.label}: {r.run_label(run)}: {w}"
                      for w in run.warnings]
    if not items:
        return ""
    lis = "".join(f"<li>{escape(i)}</li>" for i in dict.fromkeys(items))
    return f'<div class="warn"><strong>Warnings</strong><ul>{lis}</ul></div>'


def _figures(charts: list[tuple[str, str, Path]], kind: str) -> list[str]:
    return [f"<figure><img src='{data_uri(png)}' alt='{escape(title)}' "
            f"data-chart='{escape(png.stem)}'>"
            f"<figcaption>{escape(CAPTIONS.get(kind, title))}</figcaption></figure>"
            for k, title, png in charts if k == kind]


def render(results: list[Result], charts: list[tuple[str, str, Path]]) -> str:
    """charts: (kind, title, png path) in display order."""
    names = ", ".join(dict.fromkeys(str(r.scenario.get("name") or r.label) for r in results))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    files = ", ".join(escape(r.label) for r in results)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>loadtnt report — {escape(names)}</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<style>{CSS}</style><script>{READY_SCRIPT}</script></head><body>",
        f"<h1>loadtnt report: {escape(names)}</h1>",
        f"<p class='sub'>from {files}; generated {now}</p>",
        *(f"<p class='ctx'>{escape(context_lines(r).replace(chr(10), ' '))}</p>"
          for r in results),
        _warnings_html(results),
        "<h2>Throughput</h2>",
        _tables_row(tables.throughput_tables(results)),
    ]
    parts += _figures(charts, "throughput")
    parts += ["<h2>Latency</h2>", _tables_row(tables.p99_tables(results))]
    parts += _figures(charts, "spectrum")
    over_time = _figures(charts, "timeline")
    parts += ["<h2>Over time</h2>", *over_time] if over_time else []
    errors = _figures(charts, "errors")
    parts += ["<h2>Errors</h2>", _errors_html(results), *errors] if errors else []
    per_storage = _figures(charts, "storages")
    parts += ["<h2>Sharded cluster</h2>", *per_storage] if per_storage else []
    parts += [_server_html(results), "<h2>Environment</h2>", *(_env_html(r) for r in results),
              "</body></html>"]
    return "\n".join(p for p in parts if p)
