"""``loadtnt capacity`` (issue 11) against a server made slower on purpose: a called function
that holds one of 4 slots (a fiber channel) for 20 ms, so the server takes at most 4 / 20 ms =
200 requests/s (a little less: each request also costs its own time) whatever the machine."""
from __future__ import annotations

from pathlib import Path

from tests.harness.conftest import read_json, run_loadtnt, write_scenario

GATED = """
    name: gated
    workers: 1
    concurrency: {concurrency}
    before: |
      local fiber = require('fiber')
      if rawget(_G, 'gate') == nil then
        gate = fiber.channel(4)
        for _ = 1, 4 do gate:put(true) end
      end
      function gated(ms)
        {get}
        fiber.sleep(ms / 1000)
        {put}
        return true
      end
    operations:
      - {{op: call, function: gated, args: [20]}}
"""
KNOWN = 4 / 0.020


def test_capacity_finds_a_known_capacity(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, GATED.format(concurrency=40, get="gate:get()",
                                                 put="gate:put(true)"))
    out = tmp_path / "cap.json"
    r = run_loadtnt("capacity", path, "--slo", "p99<150ms", "--start", "50", "--step", "1.5s",
                    "--step-warmup", "0.5s", "--out", out, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("capacity: ") and "req/s" in last, r.stdout
    res = read_json(out)
    cap = res["capacity"]
    assert cap["slo"] == "p99<150ms" and cap["stopped_by"] == "precision"
    assert 0.8 * KNOWN <= cap["rate"] <= 1.06 * KNOWN, cap
    held = [s["offered_rps"] for s in cap["steps"] if s["held"]]
    broke = [s["offered_rps"] for s in cap["steps"] if not s["held"]]
    assert cap["rate"] == max(held)
    assert (min(b for b in broke if b > cap["rate"]) - cap["rate"]) / cap["rate"] <= 0.05
    # geometric steps first (50, 100, 200, ...), then bisection
    assert [s["offered_rps"] for s in cap["steps"][:2]] == [50, 100]
    # the steps are runs of the result file, each with its step number and offered rate
    assert {e["step"] for e in res["runs"]} == {s["step"] for s in cap["steps"]}
    assert all(e["offered_rps"] == cap["steps"][e["step"] - 1]["offered_rps"]
               for e in res["runs"])
    for s in cap["steps"]:
        assert {"achieved_rps", "latency_us", "client_cpu", "error_share"} <= set(s)
    assert cap["knee"]["offered_rps"] == cap["rate"]
    assert Path(str(out).replace(".json", "-capacity.png")).stat().st_size > 10_000


def test_a_client_limit_is_reported_not_a_capacity(tmp_path: Path) -> None:
    # no gate on the server, but only 2 coroutines: 2 / 20 ms = 100 requests/s from the client
    path = write_scenario(tmp_path, GATED.format(concurrency=2, get="", put=""))
    out = tmp_path / "cl.json"
    r = run_loadtnt("capacity", path, "--slo", "p99<150ms", "--start", "60", "--step", "1.5s",
                    "--step-warmup", "0.5s", "--out", out, timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("capacity: not measured — the client is the limit"), last
    cap = read_json(out)["capacity"]
    assert cap["rate"] is None and cap["client_limited"]
    assert cap["steps"][-1]["client_limited"]


def test_bad_slo_is_exit_2(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, GATED.format(concurrency=2, get="", put=""))
    r = run_loadtnt("capacity", path, "--slo", "p99<2")
    assert r.returncode == 2 and "--slo" in r.stderr and "time unit" in r.stderr


def test_a_time_budget_ends_the_search(tmp_path: Path) -> None:
    # two drivers: one search is one curve, so the second is named as not measured
    path = write_scenario(tmp_path, "\n    drivers: [loadtnt, asynctnt]" + GATED.format(
        concurrency=40, get="gate:get()", put="gate:put(true)"))
    out = tmp_path / "b.json"
    r = run_loadtnt("capacity", path, "--slo", "p99<150ms", "--start", "20", "--step", "1s",
                    "--step-warmup", "0.2s", "--budget", "3s", "--out", out, timeout=120)
    res = read_json(out)
    cap = res["capacity"]
    assert cap["stopped_by"] == "budget", r.stdout
    assert {e["driver"] for e in res["runs"]} == {"loadtnt"}
    assert any("first driver only (loadtnt); asynctnt not measured" in w
               for w in res["warnings"]), res["warnings"]
    assert 1 <= len(cap["steps"]) <= 3
    # 20, 40, … all hold far below the known capacity: no upper bound found, so no capacity
    assert r.returncode == 3 and "every step held" in r.stdout.strip().splitlines()[-1]
