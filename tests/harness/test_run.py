"""``loadtnt run`` against a real Tarantool (tarantool/bench.lua): counts, latency, open loop."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import asynctnt
import pytest

from loadtnt.histogram import decode
from loadtnt.server.embedded import EmbeddedServer
from tests.harness.conftest import read_json, run_loadtnt, write_scenario


def _eval(srv: EmbeddedServer, lua: str) -> Any:
    async def go() -> Any:
        async with asynctnt.Connection(host=srv.host, port=srv.port) as c:
            return (await c.eval(lua))[0]
    return asyncio.run(go())


def _run(tmp_path: Path, srv: EmbeddedServer, text: str, *extra: str,
         code: int = 0) -> dict[str, Any]:
    path = write_scenario(tmp_path, text)
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--server", f"{srv.host}:{srv.port}", "--out", out, *extra)
    assert proc.returncode == code, proc.stderr
    data = read_json(out)
    data["_proc"] = proc
    return data


def test_request_count_equals_server_count(tmp_path: Path, bench_server: EmbeddedServer) -> None:
    _eval(bench_server, "return counted_reset()")
    result = _run(tmp_path, bench_server, """
        drivers: [asynctnt]
        loops: [asyncio]
        workers: 2
        connections: 2
        concurrency: 20
        warmup: 0
        requests: 3001
        before: counted_reset()
        operations:
          - op: call
            function: counted
    """)
    [run] = result["runs"]
    assert run["requests"] == 3001 and run["errors"] == 0
    assert _eval(bench_server, "return counted_total()") == 3001
    [server] = result["server"]
    assert server["delta"]["CALL"] == 3001 and server["delta"]["EVAL"] == 0
    assert decode(run["histogram"]).get_total_count() == 3001


def test_server_sleep_10ms_reads_as_p50_10ms(tmp_path: Path, bench_server: EmbeddedServer
                                            ) -> None:
    result = _run(tmp_path, bench_server, """
        drivers: [asynctnt]
        loops: [uvloop]
        concurrency: 10
        warmup: 0
        duration: 1s
        operations:
          - op: call
            name: sleep10
            function: sleep
            args: [10]
    """)
    [run] = result["runs"]
    assert run["op"] == "sleep10" and run["errors"] == 0
    # 10 coroutines of 10 ms each: ~1000 req/s; p50 within loose bounds (a shared machine)
    assert 9_500 <= run["latency_us"]["p50"] <= 30_000, run["latency_us"]
    assert run["requests"] > 100


def test_open_loop_shows_a_server_stall_in_corrected_latency_only(
        tmp_path: Path, bench_server: EmbeddedServer) -> None:
    # one coroutine at 500 req/s; the server blocks its tx thread for 300 ms, 1 s into the window
    result = _run(tmp_path, bench_server, """
        drivers: [asynctnt]
        loops: [uvloop]
        concurrency: 1
        warmup: 0
        duration: 3s
        rate: 500
        before: stall_after(1000, 300)
        operations:
          - op: ping
    """)
    [run] = result["runs"]
    corrected, service = run["latency_us"], run["service_latency_us"]
    assert run["target_rps"] == 500
    # ~150 of ~1500 sends were due during the stall: they all waited, the p99 shows it
    assert corrected["p99"] >= 150_000, (corrected, service)
    assert corrected["max"] >= 250_000, (corrected, service)
    # only the one request in flight saw the stall as service time
    assert service["p99"] < 100_000, (corrected, service)
    assert service["max"] >= 250_000
    assert decode(run["service_histogram"]).get_total_count() == run["requests"] - run["errors"]


def test_mixed_ops_each_get_a_histogram(tmp_path: Path, bench_server: EmbeddedServer) -> None:
    result = _run(tmp_path, bench_server, """
        drivers: [asynctnt]
        loops: [asyncio]
        workers: 2
        concurrency: 20
        warmup: 0
        requests: 2000
        before: prepare(1000)
        operations:
          - op: select
            space: tester
            key: {zipf: [1, 1000, 0.99]}
            weight: 3
          - op: update
            name: rename
            space: tester
            key: {uniform: [1, 1000]}
            operations: [['=', 'name', {string: 8}]]
          - op: insert
            name: dup
            space: tester
            tuple: [1, 'x']
            weight: 0.5
    """, code=4)  # dup: every insert fails (exit 4)
    runs = {r["op"]: r for r in result["runs"]}
    assert set(runs) == {"select", "rename", "dup"}
    assert sum(r["requests"] for r in runs.values()) == 2000
    assert runs["select"]["requests"] > runs["rename"]["requests"] > runs["dup"]["requests"]
    assert runs["dup"]["errors"] == runs["dup"]["requests"]
    assert set(runs["dup"]["errors_by_kind"]) == {"db:3"}  # ER_TUPLE_FOUND
    delta = result["server"][0]["delta"]
    assert delta["SELECT"] == runs["select"]["requests"]
    assert delta["UPDATE"] == runs["rename"]["requests"]
    env = result["environment"]
    assert env["drivers"]["asynctnt"] == asynctnt.__version__
    assert env["tarantool"]["version"] and env["tarantool"]["box_cfg"]["wal_mode"] == "none"
    assert env["cpu"]["count"] >= 1 and env["started_at"].endswith("Z")


def test_password_never_written(tmp_path: Path) -> None:
    secret = "s3cret-Pa55"
    lua = (f"box.schema.user.create('bench', {{password = '{secret}', if_not_exists = true}}) "
           "box.schema.user.grant('bench', 'read,write,execute', 'universe', nil, "
           "{if_not_exists = true})")
    from loadtnt.instance import TarantoolInstance
    with TarantoolInstance(lua=lua) as tnt:
        path = write_scenario(tmp_path, """
            drivers: [asynctnt]
            loops: [asyncio]
            concurrency: 5
            warmup: 0
            requests: 100
            operations:
              - op: ping
        """)
        out = tmp_path / "out.json"
        ok = run_loadtnt("run", path, "--server", f"{tnt.host}:{tnt.port}", "--user", "bench",
                         "--password", secret, "--out", out, "-v")
        assert ok.returncode == 0, ok.stderr
        assert read_json(out)["runs"][0]["requests"] == 100
        assert secret not in out.read_text() and secret not in ok.stdout + ok.stderr
        bad = run_loadtnt("run", path, "--server", f"{tnt.host}:{tnt.port}", "--user", "bench",
                          "--password", secret + "x", "--out", tmp_path / "bad.json", "-v")
        assert bad.returncode != 0
        assert secret not in bad.stdout + bad.stderr


@pytest.mark.timeout(180)
def test_seed_suite_smoke(tmp_path: Path) -> None:
    out = tmp_path / "seed.json"
    proc = run_loadtnt("run", "scenarios/seed.yaml", "--drivers", "asynctnt", "--loops",
                       "asyncio", "--duration", "0.3s", "--warmup", "0", "--concurrency", "20",
                       "--trials", "1", "--out", out, timeout=170)
    assert proc.returncode == 0, proc.stderr
    ops = ["ping", "call", "eval", "select", "insert", "update"]
    result = read_json(out)
    assert [r["op"] for r in result["runs"]] == ops
    assert all(r["errors"] == 0 and r["requests"] > 0 for r in result["runs"]), result["runs"]
    table = proc.stdout.splitlines()
    assert table[0].split() == ["asyncio", "asynctnt"]
    assert [line.split()[0] for line in table[1:7]] == ops


@pytest.mark.parametrize("driver", ["asynctnt", "loadtnt"])
def test_errors_counted_by_kind(tmp_path: Path, bench_server: EmbeddedServer, driver: str
                                ) -> None:
    result = _run(tmp_path, bench_server, f"""
        drivers: [{driver}]
        loops: [asyncio]
        concurrency: 5
        warmup: 0
        requests: 20
        timeout: 500ms
        before: prepare(10)
        operations:
          - op: call
            name: slow
            function: sleep
            args: [3000]
          - op: insert
            name: dup
            space: tester
            tuple: [{{uniform: [1, 10]}}, x]
    """, code=4)  # every request of an op failed: exit 4
    runs = {r["op"]: r for r in result["runs"]}
    assert runs["slow"]["errors_by_kind"] == {"timeout": runs["slow"]["requests"]}
    assert runs["dup"]["errors_by_kind"] == {"db:3": runs["dup"]["requests"]}
    assert runs["slow"]["requests"] + runs["dup"]["requests"] == 20
    # each kind keeps its first message, in the result and in the summary
    assert runs["slow"]["error_messages"]["timeout"].startswith("TimeoutError")
    assert "Duplicate key exists" in runs["dup"]["error_messages"]["db:3"]
    proc = result["_proc"]
    assert re.search(r"errors: \S+/asyncio dup: [\d,]+ of [\d,]+ requests \(100.0%\)\n"
                     r"  db:3 [\d,]+: \S*DatabaseError: Duplicate key exists", proc.stdout)
    stderr = proc.stderr
    assert "loadtnt: error: every request of op 'dup' failed" in stderr
    assert "loadtnt: error: every request of op 'slow' failed" in stderr and "timeout" in stderr


def test_open_loop_flags_a_rate_it_cannot_hold(tmp_path: Path, bench_server: EmbeddedServer
                                              ) -> None:
    # one coroutine, 10 ms per request: at most ~100 req/s of the 1000 asked
    result = _run(tmp_path, bench_server, """
        drivers: [asynctnt]
        loops: [asyncio]
        concurrency: 1
        warmup: 0
        duration: 1s
        rate: 1000
        operations:
          - op: call
            function: sleep
            args: [10]
    """)
    [run] = result["runs"]
    assert run["rps"] < 200
    assert any(w.startswith("could not hold target rate") for w in run["warnings"]), run


def test_open_loop_corrected_latency_is_never_below_service_time(
        tmp_path: Path, bench_server: EmbeddedServer) -> None:
    # uvloop rounds timers to milliseconds, so scheduled sends often go out before their
    # intended time; measured from that later intended time, they used to read as 0 µs
    result = _run(tmp_path, bench_server, """
        drivers: [loadtnt]
        loops: [uvloop]
        concurrency: 20
        warmup: 0
        duration: 2s
        rate: 2000
        operations:
          - op: ping
    """)
    [run] = result["runs"]
    corrected, service = decode(run["histogram"]), decode(run["service_histogram"])
    assert corrected.get_total_count() == service.get_total_count() == run["requests"] > 1000
    for p in (1, 5, 10, 25, 40, 50, 75, 90, 99, 99.9, 100):
        c, s = corrected.get_value_at_percentile(p), service.get_value_at_percentile(p)
        # every request's corrected latency >= its service time, so at every percentile too
        # (the same bucket, at worst: both histograms have the same precision)
        assert c >= s or corrected.values_are_equivalent(c, s), (p, c, s)
    assert corrected.get_value_at_percentile(1) > 0


def test_timeline_covers_the_warmup_and_the_whole_window(
        tmp_path: Path, bench_server: EmbeddedServer) -> None:
    result = _run(tmp_path, bench_server, """
        drivers: [loadtnt]
        loops: [asyncio]
        workers: 2
        concurrency: 5
        warmup: 1s
        duration: 2.5s
        before: prepare(100)
        operations:
          - op: ping
            weight: 3
          - op: select
            space: tester
            key: {uniform: [1, 100]}
    """)
    runs = {r["op"]: r for r in result["runs"]}
    assert set(runs) == {"ping", "select"}
    [server] = result["server"]
    for run in runs.values():
        timeline = run["timeline"]
        # one warm-up second (t_s < 0), then every second of the window, the last one partial
        assert [p["t_s"] for p in timeline] == [-1, 0, 1, 2], timeline
        warm, measured = timeline[0], timeline[1:]
        assert warm["requests"] > 0 and abs(warm.get("len_s", 1.0) - 1.0) < 0.25
        assert [("len_s" in p) for p in measured[:-1]] == [False, False]
        # ~0.5 s; the timer that ends the window may fire late on a loaded machine
        assert 0.45 <= measured[-1]["len_s"] <= 0.95, measured[-1]
        assert sum(p["requests"] for p in measured) == run["requests"]
        assert sum(p["errors"] for p in measured) == run["errors"] == 0
        assert all(p["p99_us"] > 0 for p in timeline)
        # rps over the real window, which the timeline spans
        assert 2.5 <= run["duration_s"] < 3.0
        assert run["rps"] == pytest.approx(run["requests"] / run["duration_s"])
        assert 2 + measured[-1]["len_s"] == pytest.approx(run["duration_s"], abs=0.05)
        assert run["duration_s"] == pytest.approx(server["duration_s"])
    assert server["delta"]["SELECT"] == runs["select"]["requests"]
