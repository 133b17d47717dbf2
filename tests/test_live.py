"""Watching a run live: ``--dashboard`` in a real browser, ``--prometheus`` scraped by a real
Prometheus, ``--prometheus-push`` into a Pushgateway (Debian's ``prometheus`` and
``prometheus-pushgateway`` when installed — ``make test`` installs them — else a fake gateway
that records the pushes).

One run of ``loadtnt run`` with all three (module fixture ``live``, ~20 s) is watched by headless
Chromium over the DevTools protocol: the page's numbers are read twice while the run measures and
once at its end, and compared with the result file's timeline; ``/metrics`` is scraped directly
during the run and by Prometheus, whose HTTP API is queried at the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")
pytest.importorskip("plotly")

from prometheus_client.parser import text_string_to_metric_families

from loadtnt.live import browser
from loadtnt.live.observer import PhaseStart, Tick
from loadtnt.live.prometheus import BUCKETS_US, Exporter, push_url
from loadtnt.live.serve import parse_bind

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")
CHROMIUM = browser.find()
try:
    import matplotlib  # noqa: F401 - the report extra: the lingering page links an HTML report
    HAVE_REPORT = True
except ImportError:
    HAVE_REPORT = False

SCENARIO = """\
name: live-test
drivers: [loadtnt]
loops: [uvloop]
workers: 1
concurrency: 20
warmup: 1s
duration: 6s
operations:
  - op: ping
  - op: select
    space: tester
    key: {uniform: [1, 1000]}
  - op: call
    name: missing
    function: error
    args: ['a failing call: errors by kind']
    weight: 0.2
"""


def spawn(procs: list[subprocess.Popen[Any]], cmd: list[str], **kw: Any) -> subprocess.Popen[Any]:
    """Start ``cmd`` (quiet unless ``kw`` says otherwise); the fixture stops it."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    proc = subprocess.Popen(cmd, **kw)
    procs.append(proc)
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lines:
    """A process's stream, read by a thread (so the pipe never fills)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._t.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)


async def _wait_http(session: Any, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with session.get(url) as r:
                if r.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")
        await asyncio.sleep(0.2)


class Page:
    """One Chromium tab over the DevTools protocol."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.n = ws, 0

    async def call(self, method: str, **params: Any) -> Any:
        self.n += 1
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=30)
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    async def eval(self, expr: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expr}: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def dump_when(self, ok: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            d = await self.eval("window.loadtntDump ? window.loadtntDump() : null")
            if d and ok(d):
                return d
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never reached the state asked for: {d}")
            await asyncio.sleep(0.2)


def _fake_gateway(records: list[tuple[str, str, str]]) -> Any:
    async def push(request: Any) -> Any:
        records.append((request.method, request.path, await request.text()))
        return aiohttp.web.Response(status=200)

    app = aiohttp.web.Application()
    app.router.add_route("*", "/metrics/{tail:.*}", push)
    return app


def _measure_sum(text: str, name: str, **match: str) -> float:
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in match.items()):
                total += s.value
    return total


async def _watch(tmp: Path, procs: list[subprocess.Popen[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"scrapes": [], "pushes": []}
    dport, mport, gport, cport = free_port(), free_port(), free_port(), free_port()
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        gateway = f"http://127.0.0.1:{gport}"
        if PUSHGATEWAY:
            spawn(procs, [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{gport}"])
        else:
            runner = aiohttp.web.AppRunner(_fake_gateway(out["pushes"]))
            await runner.setup()
            await aiohttp.web.TCPSite(runner, "127.0.0.1", gport).start()
            stack.push_async_callback(runner.cleanup)
        pport = None
        if PROMETHEUS:
            pport = free_port()
            cfg = tmp / "prometheus.yml"
            cfg.write_text("global: {scrape_interval: 1s, scrape_timeout: 900ms}\n"
                           "scrape_configs:\n  - job_name: loadtnt\n    static_configs:\n"
                           f"      - targets: ['127.0.0.1:{mport}']\n")
            spawn(procs, [PROMETHEUS, f"--config.file={cfg}",
                          f"--storage.tsdb.path={tmp / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{pport}"])
        assert CHROMIUM is not None
        spawn(procs, browser.command(tmp / "profile", f"--remote-debugging-port={cport}",
                                     "--window-size=1280,1600", "about:blank"))
        scenario = tmp / "live.yaml"
        scenario.write_text(SCENARIO)
        result_path = tmp / "out.json"
        run = spawn(procs, [
            sys.executable, "-m", "loadtnt", "run", str(scenario), "--out", str(result_path),
            "--dashboard", f"127.0.0.1:{dport}", "--prometheus", f"127.0.0.1:{mport}",
            "--prometheus-push", gateway, "--linger", "60"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = Lines(run.stdout), Lines(run.stderr)
        out["stderr"] = stderr
        dash, metrics = f"http://127.0.0.1:{dport}/", f"http://127.0.0.1:{mport}/metrics"
        await _wait_http(session, dash)
        await _wait_http(session, f"http://127.0.0.1:{cport}/json/version")
        async with session.get(f"http://127.0.0.1:{cport}/json/list") as r:
            target = next(t for t in await r.json() if t.get("type") == "page")
        ws = await stack.enter_async_context(
            session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0))
        page = Page(ws)
        await page.call("Page.navigate", url=dash)

        def measuring(at: int) -> Any:
            return lambda d: (d["status"] == "measure" and d["current"]
                              and d["current"]["t"] >= at)

        out["page"] = [await page.dump_when(measuring(2), 60)]
        async with session.get(metrics) as r:
            out["scrapes"].append(await r.text())
        out["page"].append(await page.dump_when(measuring(4), 30))
        # a starved Chromium may show t=2 and t=4 within one second of the run (it catches up
        # on its events): the second scrape is the first one the next tick has moved
        first = _measure_sum(out["scrapes"][0], "loadtnt_requests_total", phase="measure")
        deadline = time.monotonic() + 10
        while True:
            async with session.get(metrics) as r:
                text = await r.text()
            if _measure_sum(text, "loadtnt_requests_total", phase="measure") > first \
                    or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        out["scrapes"].append(text)
        out["final"] = await page.dump_when(
            lambda d: d["status"] == "done" and (d["links"] or {}).get("result"), 60)
        async with session.get(metrics, headers={"Accept": "text/plain"}) as r:
            out["final_scrape"] = await r.text()
        async with session.get(dash + "result.json") as r:
            out["served_result"] = await r.json(content_type=None)
        out["result"] = json.loads(result_path.read_text())
        expected = sum(e["requests"] for e in out["result"]["runs"])
        if pport is not None:  # a scrape after the end: the final counter, the phase "done"
            query = f"http://127.0.0.1:{pport}/api/v1/query"

            async def latest(promql: str) -> list[dict[str, Any]]:
                async with session.get(query, params={"query": promql}) as r:
                    return (await r.json())["data"]["result"]

            # the scrape that first sees the final count may come between the phases' end
            # and "done" (seen once in CI): both are waited for, each a scrape (1 s) apart
            deadline = time.monotonic() + 20
            while True:
                vals = await latest('sum(loadtnt_requests_total{phase="measure"})')
                out["prometheus"] = float(vals[0]["value"][1]) if vals else None
                out["prometheus_phase"] = await latest('loadtnt_phase{loadtnt_phase="done"}')
                done = out["prometheus_phase"] and out["prometheus_phase"][0]["value"][1] == "1"
                if (out["prometheus"] == expected and done) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        if PUSHGATEWAY:  # the pusher's final PUT may still be on its way
            deadline = time.monotonic() + 10
            while True:
                async with session.get(gateway + "/metrics") as r:
                    out["gateway"] = await r.text()
                final = _measure_sum(out["gateway"], "loadtnt_requests_total", phase="measure")
                if final == expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        if HAVE_REPORT:  # built while the page lingers, then linked
            done = await page.dump_when(lambda d: (d["links"] or {}).get("report"), 60)
            async with session.get(dash.rstrip("/") + done["links"]["report"]) as r:
                out["report"] = (r.status, await r.text())
        run.send_signal(signal.SIGINT)  # ends the linger
        out["code"] = await asyncio.to_thread(run.wait, 30)
        await asyncio.sleep(0.1)
        out["stdout"] = stdout.text()
    return out


@pytest.fixture(scope="module")
def live() -> Iterator[dict[str, Any]]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (apt-get install -y chromium, "
                    "or `make chromium`)")
    procs: list[subprocess.Popen[Any]] = []
    with tempfile.TemporaryDirectory(prefix="loadtnt-live-") as tmp:
        try:
            yield asyncio.run(asyncio.wait_for(_watch(Path(tmp), procs), 150))
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()


def _points(dump: dict[str, Any], chart: str) -> dict[tuple[str, int, str], float | None]:
    out = {}
    for trace in dump["charts"][chart]:
        for cd, y in zip(trace["customdata"] or [], trace["y"], strict=True):
            if cd is not None:
                out[(cd[0], cd[1], cd[2])] = y
    return out


@pytest.mark.timeout(180)
def test_the_page_changes_while_the_run_measures(live: dict[str, Any]) -> None:
    first, second = live["page"]
    assert first["status"] == second["status"] == "measure"
    assert second["current"]["t"] > first["current"]["t"]
    a, b = _points(first, "chart-rps"), _points(second, "chart-rps")
    assert len(b) > len(a) >= 2
    # the "now" table: requests so far in the window grew
    sofar = [{r[0]: int(r[6].replace(",", "")) for r in d["now"]} for d in (first, second)]
    assert set(sofar[0]) == {"ping", "select", "missing"}
    assert all(sofar[1][op] > sofar[0][op] > 0 for op in sofar[0])


@pytest.mark.timeout(180)
def test_the_final_page_is_the_result_files_timeline(live: dict[str, Any]) -> None:
    assert live["code"] == 0, live["stderr"].text()
    result, final = live["result"], live["final"]
    assert live["served_result"] == result
    assert final["links"]["result"] == "/result.json"
    if HAVE_REPORT:
        status, html = live["report"]
        assert status == 200 and "<img" in html
    charts = {c: _points(final, c) for c in ("chart-rps", "chart-p50", "chart-p99", "chart-p999")}
    want: dict[str, dict[tuple[str, int, str], float | None]] = {c: {} for c in charts}
    for e in result["runs"]:
        key = f"{e['server']}|{e['driver']}|{e['loop']}|{e['trial']}|ping,select,missing"
        assert any(p["t_s"] < 0 for p in e["timeline"]) and any(p["t_s"] >= 0
                                                               for p in e["timeline"])
        for p in e["timeline"]:
            k = (key, p["t_s"], e["op"])
            want["chart-rps"][k] = p["requests"] / (p.get("len_s") or 1)
            for c, f in (("chart-p50", "p50_us"), ("chart-p99", "p99_us"),
                         ("chart-p999", "p999_us")):
                want[c][k] = None if p[f] is None else p[f] / 1000
    for c, got in charts.items():
        assert got.keys() == want[c].keys(), c
        for k, v in want[c].items():
            assert got[k] == (None if v is None else pytest.approx(v, rel=1e-12)), (c, k)
    # the measured windows' table: requests and errors by kind as the file has them
    windows = {r["op"]: r for r in final["windows"]}
    assert set(windows) == {"ping", "select", "missing"}
    for e in result["runs"]:
        assert int(windows[e["op"]]["requests"].replace(",", "")) == e["requests"]
        kinds = ", ".join(f"{k} {n:,}" for k, n in e["errors_by_kind"].items()) or "–"
        assert windows[e["op"]]["kinds"] == kinds
    assert result["runs"][2]["op"] == "missing" and result["runs"][2]["errors_by_kind"]
    cpu = {t["name"]: t["y"] for t in final["charts"]["chart-cpu"]}
    assert any(v and v > 0 for v in cpu["workers"]), cpu
    box = {t["name"]: t["y"] for t in final["charts"]["chart-box"]}
    assert max(v for v in box["REQUESTS"] if v is not None) > 0, box


@pytest.mark.timeout(180)
def test_metrics_scraped_during_the_run_and_at_its_end(live: dict[str, Any]) -> None:
    runs = live["result"]["runs"]
    counts = [_measure_sum(t, "loadtnt_requests_total", phase="measure")
              for t in live["scrapes"]]
    assert 0 < counts[0] < counts[1], counts
    final = live["final_scrape"]
    assert _measure_sum(final, "loadtnt_requests_total", phase="measure") == sum(
        e["requests"] for e in runs)
    for e in runs:
        labels = {"op": e["op"], "driver": e["driver"], "phase": "measure"}
        assert _measure_sum(final, "loadtnt_requests_total", **labels) == e["requests"]
        assert _measure_sum(final, "loadtnt_latency_seconds_count", **labels) == e["ok"]
        assert _measure_sum(final, "loadtnt_latency_seconds_bucket", le="+Inf",
                            **labels) == e["ok"]
    assert 'loadtnt_phase{loadtnt_phase="done"} 1.0' in final
    assert _measure_sum(final, "loadtnt_server_box_stat_total", type="REQUESTS") > 0
    [missing] = [e for e in runs if e["op"] == "missing"]
    for kind, n in missing["errors_by_kind"].items():
        assert _measure_sum(final, "loadtnt_errors_by_kind_total", op="missing",
                            kind=kind) == n
    assert _measure_sum(final, "loadtnt_errors_total", op="missing",
                        phase="measure") == missing["errors"] > 0


@pytest.mark.timeout(180)
@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary (apt-get install "
                    "prometheus, or `make prometheus`)")
def test_a_real_prometheus_scraped_the_final_count(live: dict[str, Any]) -> None:
    assert live["prometheus"] == sum(e["requests"] for e in live["result"]["runs"])
    assert live["prometheus_phase"] and live["prometheus_phase"][0]["value"][1] == "1"


@pytest.mark.timeout(180)
def test_the_pushgateway_holds_the_final_state(live: dict[str, Any]) -> None:
    expected = sum(e["requests"] for e in live["result"]["runs"])
    if PUSHGATEWAY:
        text = live["gateway"]
    else:
        assert live["pushes"], "nothing pushed"
        methods = {m for m, _, _ in live["pushes"]}
        assert methods == {"PUT"}
        assert all(p == "/metrics/job/loadtnt/scenario@base64/bGl2ZS10ZXN0"
                   for _, p, _ in live["pushes"])
        text = live["pushes"][-1][2]
    assert _measure_sum(text, "loadtnt_requests_total", phase="measure") == expected


# --- no server ------------------------------------------------------------------------------


def test_bind_addresses() -> None:
    assert parse_bind("8080") == ("127.0.0.1", 8080)
    assert parse_bind(":8080") == ("127.0.0.1", 8080)
    assert parse_bind("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_bind("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError):
        parse_bind("localhost")
    assert push_url("127.0.0.1:9091/", "s") == \
        "http://127.0.0.1:9091/metrics/job/loadtnt/scenario@base64/cw"


def test_latency_buckets_are_cumulative_hdr_counts() -> None:
    from loadtnt.histogram.layout import index_for

    ex = Exporter(scenario="s")
    ex.phase(PhaseStart(phase="measure", server="srv", driver="d", loop="l", trial=1,
                        ops=("op",), label="x", start_at=0.0, seconds=1.0))
    hist = [(index_for(40), 3), (index_for(100), 2), (index_for(2_999), 1),
            (index_for(20_000_000), 1)]
    ex.tick(Tick("measure", 1, 1.0, {"op": {"requests": 8, "errors": 1, "hist": hist}}))
    text = ex.exposition()[0].decode()
    got = {s.labels["le"]: s.value for fam in text_string_to_metric_families(text)
           for s in fam.samples if s.name == "loadtnt_latency_seconds_bucket"}
    assert got["5e-05"] == 3 and got["0.0001"] == 5 and got["0.002"] == 5
    assert got["0.003"] == 6 and got["10"] == 6 and got["+Inf"] == 7
    assert len(got) == len(BUCKETS_US) + 1
    assert _measure_sum(text, "loadtnt_requests_total") == 8
    assert _measure_sum(text, "loadtnt_errors_total") == 1


def test_pushes_are_puts_of_the_text_format(tmp_path: Path) -> None:
    from loadtnt.live.prometheus import Pusher

    records: list[tuple[str, str, str]] = []
    warnings: list[str] = []

    async def go() -> int:
        runner = aiohttp.web.AppRunner(_fake_gateway(records))
        await runner.setup()
        port = free_port()
        await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            ex = Exporter(scenario="a/b")
            pusher = Pusher(ex, f"http://127.0.0.1:{port}", warnings.append)
            await pusher.start()
            ex.phase(PhaseStart(phase="measure", server="s", driver="d", loop="l", trial=1,
                                ops=("op",), label="x", start_at=0.0, seconds=1.0))
            ex.tick(Tick("measure", 1, 1.0, {"op": {"requests": 5, "errors": 0,
                                                    "hist": [(100, 5)]}}))
            await pusher.close()
            return pusher.pushes
        finally:
            await runner.cleanup()

    pushes = asyncio.run(go())
    assert not warnings and pushes == len(records) >= 2
    assert {(m, p) for m, p, _ in records} == {("PUT", "/metrics/job/loadtnt/scenario@base64/YS9i")}
    assert _measure_sum(records[-1][2], "loadtnt_requests_total") == 5
    assert 'loadtnt_phase{loadtnt_phase="measure"} 1.0' in records[-1][2]


def test_missing_extra_is_a_clear_error() -> None:
    code = ("import sys; sys.modules['aiohttp'] = None; from loadtnt.cli import main; "
            "sys.exit(main(['run', 'seed', '--dashboard', '0', '--out', '/nonexistent/x']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)
    assert proc.returncode == 2, proc.stderr
    assert "--dashboard needs aiohttp" in proc.stderr
    assert "pip install 'loadtnt[live]'" in proc.stderr


def test_an_address_in_use_is_a_bad_flag(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = tmp_path / "never.json"
        proc = subprocess.run([sys.executable, "-m", "loadtnt", "run", "seed", "--dashboard",
                               str(port), "--out", str(out)], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "cannot listen" in proc.stderr
    assert not out.exists()


def test_an_observer_that_raises_is_dropped_with_a_warning() -> None:
    from loadtnt.live.observer import Observer, Observers

    seen: list[int] = []
    warned: list[str] = []

    class Broken(Observer):
        def tick(self, ev: Tick) -> None:
            raise ValueError("boom")

    class Counting(Observer):
        def tick(self, ev: Tick) -> None:
            seen.append(ev.t)

    obs = Observers([Broken(), Counting()], warn=warned.append)
    for t in (1, 2):
        obs.tick(Tick("measure", t, 1.0, {}))
    assert seen == [1, 2] and len(obs.items) == 1
    assert warned == ["Broken stopped: ValueError: boom"]
