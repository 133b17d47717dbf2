"""``loadtnt capacity``: the highest open-loop rate at which the server holds an SLO.

One server and one set of workers for the whole search (the scenario's first server set-up,
driver and loop); every step is a measured group of :class:`~loadtnt.runner.session.Session`
at one rate — its own warm-up at that rate, then a short measured window — so a step is exactly
a ``loadtnt run`` at that ``--rate``, and its entries go into the result file as runs (``trial``
= the step's number, with ``step`` and ``offered_rps``).

The search: geometric steps from ``start`` (× ``factor``) until one breaks the SLO (down from
``start`` when the first already breaks it), then bisection between the highest rate that held
and the lowest that broke, until they are within ``precision`` of each other or the time budget
is spent.  A step *holds* when every SLO threshold holds over its window (latency from the
corrected histogram: from the intended send times) and it achieved at least 95 % of its rate.

The client must not be the limit: a step that breaks while a worker's CPU was saturated, or
that fell short of its rate while the server was mostly idle, ends the search with that
finding instead of a capacity.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

from loadtnt import histogram
from loadtnt.results.entries import RATE_TOLERANCE, SATURATED_CPU
from loadtnt.results.thresholds import Threshold
from loadtnt.runner import machine
from loadtnt.runner.session import EXIT_INTERRUPTED, EXIT_OK, Session
from loadtnt.scenario.model import Scenario

EXIT_UNDECIDED = 3  # the client was the limit, or no step held / every step held
IDLE_SERVER_CORES = 0.5  # a server below this while the rate was not reached: the client's fault


@dataclasses.dataclass(frozen=True)
class Search:
    slo: tuple[Threshold, ...]
    slo_text: str
    start: float = 1000.0
    factor: float = 2.0
    precision: float = 0.05
    budget_s: float | None = None
    step_s: float = 3.0
    warmup_s: float = 1.0
    max_rate: float | None = None
    min_rate: float = 1.0


class CapacitySession(Session):
    def __init__(self, scenario: Scenario, search: Search, **kw: Any) -> None:
        base = dataclasses.replace(scenario, mix=True, thresholds=(), stages=(),
                                   drivers=scenario.drivers[:1], loops=scenario.loops[:1],
                                   servers=scenario.setups[:1] if scenario.server is None
                                   else (), trials=1)
        base = base.override(rate=search.start, warmup=search.warmup_s, duration=search.step_s)
        super().__init__(base, **kw)
        self.base = base
        for what, names in (("driver", scenario.drivers), ("loop", scenario.loops),
                            ("server set-up", [x.name for x in scenario.setups])):
            if len(names) > 1:  # one search is one curve: say which, rather than mix them
                self._warn(f"capacity searches with the first {what} only ({names[0]}); "
                           f"{', '.join(map(str, names[1:]))} not measured: give one per run")
        self.search = search
        self.steps: list[dict[str, Any]] = []
        self.capacity: float | None = None
        self.finding = ""  # the last line
        self.client_limited: str | None = None
        self.stopped_by = ""

    async def run(self) -> int:
        s = self.base
        driver, loop_name = s.drivers[0], s.loops[0]

        async def body(procs: list[Any], events: Any) -> None:
            await self._search(procs, events, driver, loop_name)

        # Session.run drives set-up checks, the server and the file; one "trial" with our body
        self._body = body
        code = await super().run()
        self._conclude()
        if code == EXIT_INTERRUPTED:
            self.stopped_by = "interrupted"
            self.finding = f"capacity: not measured — interrupted after {len(self.steps)} steps"
            self.capacity = None
        if self.result.runs:
            self.result.data["scenario"].update(rate=None, capacity_search={
                "slo": self.search.slo_text, "start": self.search.start,
                "factor": self.search.factor, "step_s": self.search.step_s,
                "warmup_s": self.search.warmup_s})
            self.result.data["capacity"] = {
                "rate": self.capacity, "slo": self.search.slo_text,
                "precision": self.search.precision, "stopped_by": self.stopped_by,
                "client_limited": self.client_limited, "steps": self.steps,
                "knee": self._knee()}
            self.result.write(self.out)
        if code == EXIT_INTERRUPTED:
            return code
        if self.failed:
            return 1
        # a capacity needs both bounds: a rate that held and one above it that broke
        found = self.capacity is not None and getattr(self, "_hi", None) is not None
        return EXIT_OK if found and not self.client_limited else EXIT_UNDECIDED

    def _label(self, driver: str, loop_name: str, trial: int) -> str:
        return f"{driver}/{loop_name} step {trial}"

    async def run_driver(self, driver: str, loop_name: str, trial: int, address: Any,
                         body: Any = None) -> None:
        await super().run_driver(driver, loop_name, trial, address, body=self._body)

    # --- the search ---------------------------------------------------------------------

    async def _search(self, procs: list[Any], events: Any, driver: str, loop_name: str) -> None:
        se = self.search
        t0 = time.monotonic()
        lo: float | None = None  # the highest rate that held
        hi: float | None = None  # the lowest that broke
        rate = se.start
        while not self.interrupted:
            if se.budget_s is not None and self.steps and \
                    time.monotonic() - t0 + se.step_s + se.warmup_s > se.budget_s:
                self.stopped_by = "budget"
                break
            step = await self._step(rate, procs, events, driver, loop_name)
            if step is None:
                break
            if step["client_limited"]:
                self.client_limited = step["client_limited"]
                self.stopped_by = "client"
                break
            if step["held"]:
                lo = rate if lo is None else max(lo, rate)
            else:
                hi = rate if hi is None else min(hi, rate)
            if hi is None:  # still stepping up
                nxt = rate * se.factor
                if se.max_rate is not None and rate >= se.max_rate:
                    self.stopped_by = "max-rate"
                    break
                rate = min(nxt, se.max_rate) if se.max_rate is not None else nxt
            elif lo is None:  # the first steps broke: step down
                rate = rate / se.factor
                if rate < se.min_rate:
                    self.stopped_by = "min-rate"
                    break
            else:
                if (hi - lo) / lo <= se.precision:
                    self.stopped_by = "precision"
                    break
                rate = (lo + hi) / 2
        self._lo, self._hi = lo, hi

    async def _step(self, rate: float, procs: list[Any], events: Any, driver: str,
                    loop_name: str) -> dict[str, Any] | None:
        number = len(self.steps) + 1
        self.scenario = self.base.override(rate=round(rate, 3))
        group = self.scenario.operations
        # a sharded cluster has no one pid: its CPU is its instances' (the window's nodes)
        pid = getattr(self.server, "pid", None) if self.server is not None else self.server_pid
        cpu0, w0 = (machine.cpu_seconds(pid) if pid else None), time.monotonic()
        before = len(self.result.runs)
        await self.run_group(group, procs, events, driver, loop_name, number)
        cpu1, w1 = (machine.cpu_seconds(pid) if pid else None), time.monotonic()
        entries = self.result.runs[before:]
        for e in entries:
            e["step"] = number
            e["offered_rps"] = round(rate, 3)
        mix = [e for e in entries if e.get("step_of") is None]
        if not mix:
            return None
        h = histogram.merge(e["histogram"] for e in mix)
        lat = histogram.percentiles(h)
        achieved = sum(e["rps"] for e in mix)
        requests = sum(e["requests"] for e in mix)
        errors = sum(e["errors"] for e in mix)
        client = max(max((e.get("client_cpu") or 0.0 for e in mix), default=0.0), 0.0)
        if not math.isfinite(client):
            client = 0.0
        # the server's CPU over the step (warm-up included: the same rate), cores
        server_cpu = (round((cpu1 - cpu0) / (w1 - w0), 3)
                      if cpu0 is not None and cpu1 is not None and w1 > w0 else None)
        window = self.result.data["server"][-1] if self.result.data["server"] else {}
        if server_cpu is None and window.get("storages") is not None and \
                window.get("duration_s"):  # the measured window only, every instance summed
            nodes = [*window["routers"].values(), *window["storages"].values()]
            server_cpu = round(sum(float(n.get("cpu_s") or 0) for n in nodes)
                               / float(window["duration_s"]), 3)
        verdicts = {th.text: th.holds(th.value(mix)) for th in self.search.slo}
        reached = achieved >= RATE_TOLERANCE * rate
        held = all(verdicts.values()) and reached
        sh = histogram.merge(e["service_histogram"] for e in mix if e.get("service_histogram"))
        service = histogram.percentiles(sh)
        # the server answered as fast as at the lowest rates (its service time did not grow:
        # nothing queued in it) and within the SLO: the time was lost before the send, on the
        # client's side (no free coroutine, a late scheduler)
        base = min([x["service_latency_us"].get("p99") or math.inf for x in self.steps]
                   + [service.get("p99") or math.inf])
        quick = sh.get_total_count() > 0 and (service.get("p99") or 0) <= max(
            2 * base, base + 1000) and all(
            th.holds(float(sh.get_value_at_percentile(th.percentile)))
            for th in self.search.slo if th.percentile is not None)
        limited = None
        if not held:
            if client > SATURATED_CPU:
                limited = (f"a worker used {client:.0%} of a CPU at {rate:,.0f} req/s offered "
                           f"({achieved:,.0f} achieved)")
            elif quick and (server_cpu is None or server_cpu < IDLE_SERVER_CORES):
                limited = (f"{achieved:,.0f} of {rate:,.0f} req/s achieved, the server's "
                           f"service time within the SLO (p99 {_us(service.get('p99'))})"
                           + (f" and the server using {server_cpu:.2f} cores"
                              if server_cpu is not None else "")
                           + ": " + _client_side(mix, reached))
        step = {"step": number, "offered_rps": round(rate, 3), "achieved_rps": round(achieved, 3),
                "requests": requests, "errors": errors,
                "error_share": round(errors / requests, 6) if requests else 0.0,
                "latency_us": lat, "service_latency_us": service, "client_cpu": round(client, 3), "server_cpu": server_cpu,
                "slo": verdicts, "reached_rate": reached, "held": held,
                "client_limited": limited}
        self.steps.append(step)
        verdict = "held" if held else ("client-limited" if limited else "broke")
        self.progress.note(f"step {number}: {rate:,.0f} req/s offered, {achieved:,.0f} achieved, "
                           f"p99 {_us(lat['p99'])}: {verdict}")
        return step

    def _conclude(self) -> None:
        lo, hi = getattr(self, "_lo", None), getattr(self, "_hi", None)
        slo = self.search.slo_text
        if self.client_limited:
            self.capacity = None
            self.finding = (f"capacity: not measured — the client is the limit: "
                            f"{self.client_limited}; add workers or use a faster client machine"
                            + (f" (the server held {slo} up to {lo:,.0f} req/s)" if lo else ""))
        elif lo is None:
            self.capacity = None
            self.finding = (f"capacity: below {self.search.min_rate:g} req/s — no step held "
                            f"{slo}" if hi is not None else "capacity: not measured (no step ran)")
        elif hi is None:
            self.capacity = lo
            self.finding = (f"capacity: ≥ {lo:,.0f} req/s — every step held {slo} "
                            f"(stopped by {self.stopped_by or 'the end'}; raise --max-rate)")
        else:
            self.capacity = lo
            spread = (hi - lo) / lo
            self.finding = (f"capacity: {lo:,.0f} req/s at {slo} (held at {lo:,.0f}, broke at "
                            f"{hi:,.0f}: within {spread:.1%}; {len(self.steps)} steps"
                            + (", time budget spent" if self.stopped_by == "budget" else "")
                            + ")")

    def _knee(self) -> dict[str, Any] | None:
        held = [s for s in self.steps if s["held"]]
        if not held or self.capacity is None:
            return None
        best = max(held, key=lambda s: s["offered_rps"])
        return {"step": best["step"], "offered_rps": best["offered_rps"],
                "achieved_rps": best["achieved_rps"], "latency_us": best["latency_us"]}


def _client_side(mix: list[dict[str, Any]], reached: bool) -> str:
    """Where a step's time went before the send, from its entries' schedule figures."""
    dropped = sum(int(e.get("dropped") or 0) for e in mix)
    if dropped or not reached:
        return "the requests waited in the client for a free coroutine"
    late = [e["lateness_histogram"] for e in mix if e.get("lateness_histogram")]
    p99 = histogram.percentiles(histogram.merge(late)).get("p99") if late else None
    other = max((float(e.get("other_cpu_cores") or 0.0) for e in mix), default=0.0)
    busy = (f" while other processes used {other:.2f} cores"
            if other > machine.BUSY_CORES else "")
    # every slot was sent, with coroutines to spare: the client's process was late to send
    return (f"with coroutines to spare, the sends went out late (p99 {_us(p99)} after their "
            f"time){busy}: the client machine could not keep the schedule")


def _us(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v / 1000:.3g} ms" if v >= 1000 else f"{v:.0f} µs"


def render_table(steps: list[dict[str, Any]]) -> str:
    from loadtnt.report.texttable import format_table

    rows = []
    for s in sorted(steps, key=lambda x: x["offered_rps"]):
        lat = s["latency_us"]
        rows.append([str(s["step"]), f"{s['offered_rps']:,.0f}", f"{s['achieved_rps']:,.0f}",
                     _us(lat.get("p50")), _us(lat.get("p99")), _us(lat.get("p999")),
                     f"{s['error_share']:.2%}", f"{s['client_cpu']:.0%}",
                     "—" if s["server_cpu"] is None else f"{s['server_cpu']:.2f}",
                     "held" if s["held"] else ("client" if s["client_limited"] else "broke")])
    return format_table(["step", "offered/s", "achieved/s", "p50", "p99", "p99.9", "errors",
                         "client CPU", "server cores", "SLO"], rows,
                        right=[True] * 9 + [False])


def chart_path(out: Path) -> Path:
    return out.with_name(out.stem + "-capacity.png")


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
