"""Shared look of the charts: one colour per driver (per server set-up when a single driver ran on
several), series labels, units and the context footer (machine, versions, scenario) that every
chart carries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from loadtnt.report.context import context_lines
from loadtnt.report.load import Result, Run, series_keys, several_servers

DRIVER_COLORS = {"loadtnt": "#1f6fb4", "asynctnt": "#e8801a", "aiotarantool": "#3a9e3a"}
OTHER_COLORS = ["#8c5bb5", "#c0392b", "#7f7f7f", "#17a2b8", "#b58900"]
FILE_HATCHES = ["", "//", "..", "xx"]
FILE_LINESTYLES = ["-", "--", ":", "-."]
DPI = 110


SERVER_COLORS = ["#1f6fb4", "#c0392b", "#3a9e3a", "#8c5bb5", "#e8801a", "#17a2b8", "#7f7f7f"]


@dataclass(frozen=True)
class Series:
    """What one bar colour / line stands for: a driver on a server set-up in a result file."""

    result: Result
    driver: str
    index: int  # the style's position: files (and servers, unless colours tell them apart)
    multi: bool  # more than one file: the label names the file too
    server: str = ""
    multi_server: bool = False  # more than one server set-up: the label names it
    server_color: int | None = None  # one driver on several servers: a colour per server

    @property
    def label(self) -> str:
        version = self.result.environment.get("drivers", {}).get(self.driver)
        name = f"{self.driver} {version}" if version else self.driver
        if self.multi_server:
            name += f" @ {self.server}"
        return f"{name} [{self.result.label}]" if self.multi else name

    @property
    def color(self) -> str:
        if self.server_color is not None:
            return SERVER_COLORS[self.server_color % len(SERVER_COLORS)]
        return driver_color(self.driver)

    def runs(self, *, loop: str | None = None, op: str | None = None) -> list[Run]:
        return self.result.select(driver=self.driver, server=self.server if self.multi_server
                                  else None, loop=loop, op=op)

    def rps_by_trial(self, loop: str, op: str) -> dict[int, float]:
        return {r.trial: r.rps for r in self.runs(loop=loop, op=op)}

    @property
    def hatch(self) -> str:
        return FILE_HATCHES[self.index % len(FILE_HATCHES)]

    @property
    def linestyle(self) -> str:
        return FILE_LINESTYLES[self.index % len(FILE_LINESTYLES)]


def driver_color(driver: str) -> str:
    if driver in DRIVER_COLORS:
        return DRIVER_COLORS[driver]
    return OTHER_COLORS[sum(map(ord, driver)) % len(OTHER_COLORS)]


def all_series(results: list[Result]) -> list[Series]:
    """Every (file, server, driver); the same driver's series sit side by side."""
    multi = len(results) > 1
    if not several_servers(results):
        drivers = list(dict.fromkeys(d for r in results for d in r.drivers()))
        return [Series(r, d, i, multi) for d in drivers for i, r in enumerate(results)
                if d in r.drivers()]
    keys = series_keys(results)
    servers = list(dict.fromkeys(srv for _, srv, _ in keys))
    by_server = len({d for _, _, d in keys}) == 1
    out = []
    for r, srv, d in keys:
        f, k = results.index(r), servers.index(srv)
        out.append(Series(r, d, f if by_server else f * len(servers) + k, multi, srv, True,
                          k if by_server else None))
    return out


def loops_of(results: list[Result]) -> list[str]:
    return list(dict.fromkeys(lp for r in results for lp in r.loops()))


def ops_of(results: list[Result]) -> list[str]:
    return list(dict.fromkeys(o for r in results for o in r.ops()))


def fmt_us(value: float, _pos: object = None) -> str:
    """Microseconds as a readable latency: 850 µs, 1.5 ms, 2 s."""
    if value >= 1e6:
        return f"{value / 1e6:g} s"
    if value >= 1e3:
        return f"{value / 1e3:g} ms"
    return f"{value:g} µs"


def fmt_count(value: float, _pos: object = None) -> str:
    """Requests/s on an axis: 0, 500, 20k, 1.5M."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


US_FORMATTER = FuncFormatter(fmt_us)
COUNT_FORMATTER = FuncFormatter(fmt_count)


def new_figure(width: float, height: float) -> Figure:
    # Never narrower than the context footer (wrapped at 150 characters) needs.
    return plt.figure(figsize=(max(width, 9.5), height), dpi=DPI, layout="constrained")


def finish(fig: Figure, title: str, results: list[Result], path: Path) -> Path:
    """Title on top, the context of every file in the footer, saved as PNG."""
    footer = "\n".join(context_lines(r) for r in results)
    fig.suptitle(title, fontsize=13, fontweight="bold")
    # supxlabel: constrained layout reserves its room, so the footer never overlaps an axis.
    fig.supxlabel(footer, x=0.005, ha="left", fontsize=7.5, color="#555555")
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.set(h_pad=0.06, w_pad=0.06)  # type: ignore[call-arg]
    fig.savefig(path, dpi=DPI, facecolor="white")
    plt.close(fig)
    return path
