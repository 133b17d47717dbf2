"""``--prometheus [HOST:]PORT`` and ``--prometheus-push URL``: a run's metrics for Prometheus.

One dedicated :class:`prometheus_client.CollectorRegistry` (never the process-wide default), fed
by the same merged per-second ticks as the result's timeline (:class:`Exporter` is an observer):

* ``loadtnt_requests_total``, ``loadtnt_errors_total`` — counters per ``server``, ``driver``,
  ``loop``, ``op`` and ``phase`` (``warmup``/``measure``); ``requests`` counts errors too, as the
  result's ``requests`` does, so at the run's end the sum over ``phase="measure"`` is the sum of
  the result's ``runs[].requests``.
* ``loadtnt_errors_by_kind_total`` — the measured windows' errors by kind (``timeout``,
  ``disconnect``, a server error's name, …), added when each window ends (the workers send their
  kinds with their results, not in their ticks).
* ``loadtnt_latency_seconds`` — a histogram with fixed buckets (:data:`BUCKETS_US`) made from the
  HDR counts of each tick (successful requests): an HDR bucket is counted under the first fixed
  edge at or above its top value, so the counts are exact to HDR's 3 significant digits.
* ``loadtnt_phase`` (a state set: starting, warmup, measure, between, done), ``loadtnt_run_info``
  (scenario, server, driver, loop, trial, ops of the phase), ``loadtnt_cpu_cores{process}`` and
  ``loadtnt_server_box_stat_total{server,type}`` (the server's box.stat() totals, polled once a
  second while a phase runs).

The endpoint (``/metrics``) is served by aiohttp in the coordinator's loop, in the text or the
OpenMetrics format as the scraper asks. A push PUTs the text format to
``URL/metrics/job/loadtnt/scenario/<name>`` once a second (never two at a time), at each phase
change and, awaited, at the end.
"""
from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from prometheus_client import CollectorRegistry, Enum, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder, generate_latest
from prometheus_client.registry import Collector

from loadtnt.histogram.layout import highest_equivalent
from loadtnt.live.observer import GroupEnd, Observer, PhaseStart, RunEnd, Tick
from loadtnt.live.state import LiveState

# fixed bucket edges, µs: 50 µs .. 10 s (loopback requests are tens of µs to a few ms)
BUCKETS_US = (50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000,
              20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000,
              10_000_000)
LABELS = ("server", "driver", "loop", "op", "phase")
PHASES = ["starting", "warmup", "measure", "between", "done"]
PUSH_TIMEOUT_S = 10.0


class _Series:
    __slots__ = ("buckets", "errors", "requests", "sum_s")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.buckets = [0] * (len(BUCKETS_US) + 1)  # per bucket (not cumulative), +Inf last
        self.sum_s = 0.0


class RunCollector(Collector):
    """The counters and the latency histogram, emitted from what the ticks added up."""

    def __init__(self, state: LiveState | None = None) -> None:
        self.series: dict[tuple[str, ...], _Series] = {}
        self.kinds: dict[tuple[str, ...], int] = {}
        self.state = state
        self._slot: dict[int, int] = {}  # HDR index → fixed bucket

    def _bucket_of(self, index: int) -> tuple[int, int]:
        top = highest_equivalent(index)
        slot = self._slot.get(index)
        if slot is None:
            slot = self._slot[index] = bisect.bisect_left(BUCKETS_US, top)
        return slot, top

    def add(self, labels: tuple[str, ...], o: dict[str, Any]) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = _Series()
        s.requests += o["requests"]
        s.errors += o["errors"]
        for i, c in o["hist"]:
            slot, top = self._bucket_of(int(i))
            s.buckets[slot] += c
            s.sum_s += top * c / 1e6

    def add_kinds(self, labels: tuple[str, ...], kinds: dict[str, int]) -> None:
        for kind, n in kinds.items():
            key = (*labels, kind)
            self.kinds[key] = self.kinds.get(key, 0) + int(n)

    def collect(self) -> Iterator[Any]:
        req = CounterMetricFamily("loadtnt_requests", "Requests completed (errors included)",
                                  labels=LABELS)
        err = CounterMetricFamily("loadtnt_errors", "Requests that failed", labels=LABELS)
        lat = HistogramMetricFamily("loadtnt_latency_seconds",
                                    "Latency of successful requests (from the HDR histograms)",
                                    labels=LABELS, unit="")
        edges = [f"{us / 1e6:g}" for us in BUCKETS_US] + ["+Inf"]
        for labels, s in self.series.items():
            req.add_metric(labels, s.requests)
            err.add_metric(labels, s.errors)
            cum, acc = [], 0
            for edge, n in zip(edges, s.buckets, strict=True):
                acc += n
                cum.append((edge, acc))
            lat.add_metric(labels, cum, s.sum_s)
        yield req
        yield err
        yield lat
        kinds = CounterMetricFamily("loadtnt_errors_by_kind",
                                    "Errors of the measured windows by kind (added as each "
                                    "window ends)", labels=(*LABELS, "kind"))
        for key, n in self.kinds.items():
            kinds.add_metric(key, n)
        yield kinds
        if self.state is not None:
            cpu = GaugeMetricFamily("loadtnt_cpu_cores", "CPU used in the last second, cores",
                                    labels=("process",))
            for proc, v in self.state.cpu_now.items():
                if v is not None:
                    cpu.add_metric((proc,), v)
            yield cpu
            box = CounterMetricFamily("loadtnt_server_box_stat",
                                      "The server's box.stat() totals (polled once a second "
                                      "while a phase runs)", labels=("server", "type"))
            for k, v in self.state.box_totals.items():
                box.add_metric((self.state.box_server, k), v)
            yield box


class Exporter(Observer):
    def __init__(self, *, scenario: str, state: LiveState | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.collector = RunCollector(state)
        self.registry.register(self.collector)
        self.phase_enum = Enum("loadtnt_phase", "The run's phase", states=PHASES,
                               registry=self.registry)
        self.info = Info("loadtnt_run", "What the run is measuring now", registry=self.registry)
        self.info.info({"scenario": scenario})
        self.scenario = scenario
        self._labels: tuple[str, ...] = ()
        self._phase = ""
        self.on_change: list[Callable[[], None]] = []  # e.g. a push

    def phase(self, ev: PhaseStart) -> None:
        self._labels = (ev.server, ev.driver, ev.loop)
        self._phase = ev.phase
        self.phase_enum.state(ev.phase)
        self.info.info({"scenario": self.scenario, "server": ev.server, "driver": ev.driver,
                        "loop": ev.loop, "trial": str(ev.trial), "ops": ",".join(ev.ops),
                        "phase": ev.phase})
        self._changed()

    def tick(self, ev: Tick) -> None:
        if not self._labels or ev.phase != self._phase:
            return
        for name, o in ev.ops.items():
            self.collector.add((*self._labels, name, ev.phase), o)
        self._changed()

    def group_end(self, ev: GroupEnd) -> None:
        for e in ev.entries:
            self.collector.add_kinds((e["server"], e["driver"], e["loop"], e["op"], "measure"),
                                     e.get("errors_by_kind", {}))
        self.phase_enum.state("between")
        self._changed()

    def run_end(self, ev: RunEnd) -> None:
        self.phase_enum.state("done")
        self._changed()

    def _changed(self) -> None:
        for f in self.on_change:
            f()

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class MetricsServer:
    """``/metrics`` on HOST:PORT (aiohttp, in the coordinator's loop)."""

    def __init__(self, exporter: Exporter, host: str, port: int) -> None:
        self.exporter, self.host, self.port = exporter, host, port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/metrics", self._metrics), web.get("/", self._metrics)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            server = getattr(site, "_server", None)
            if server is not None and server.sockets:
                self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.exporter.exposition(request.headers.get("Accept"))
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = content_type
        return resp


def push_url(gateway: str, scenario: str) -> str:
    """The Pushgateway URL of this run's group: ``job=loadtnt``, ``scenario=<name>`` (a URL
    that already names a group, ``…/metrics/job/…``, is taken as it is)."""
    base = gateway.rstrip("/")
    if not base.startswith(("http://", "https://")):
        base = "http://" + base
    if "/metrics/job/" in base:
        return base
    value = base64.urlsafe_b64encode(scenario.encode()).decode().rstrip("=") or "="
    return f"{base}/metrics/job/loadtnt/scenario@base64/{value}"


class Pusher:
    """PUTs the registry to a Pushgateway: at most one push in flight, the latest state wins."""

    def __init__(self, exporter: Exporter, url: str, warn: Callable[[str], None]) -> None:
        self.exporter = exporter
        self.url = push_url(url, exporter.scenario)
        self._warn = warn
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._warned = False
        self.pushes = 0
        exporter.on_change.append(self.soon)

    async def start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=PUSH_TIMEOUT_S))

    def soon(self) -> None:
        if self._session is None:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._push_loop())

    async def _push_loop(self) -> None:
        while True:
            self._again = False
            await self._push_once()
            if not self._again:
                return

    async def _push_once(self) -> None:
        assert self._session is not None
        body = generate_latest(self.exporter.registry)
        try:
            async with self._session.put(self.url, data=body,
                                         headers={"Content-Type": CONTENT_TYPE_LATEST}) as r:
                if r.status >= 300:
                    raise RuntimeError(f"HTTP {r.status}: {(await r.text())[:200]}")
            self.pushes += 1
        except Exception as e:  # noqa: BLE001 - a gateway that is down never stops the run
            if not self._warned:
                self._warned = True
                self._warn(f"--prometheus-push {self.url}: {type(e).__name__}: {e}")

    async def close(self) -> None:
        """The final push (the run's end state), then the client session."""
        if self._session is None:
            return
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        await self._push_once()
        await self._session.close()
        self._session = None
