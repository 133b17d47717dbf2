"""Reports, compare and check on results with several server set-ups (synthetic, no server)."""
from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path
from typing import Any

from loadtnt.report import tables
from loadtnt.report.check import check
from loadtnt.report.compare import REGRESSED, UNCHANGED, compare, render
from loadtnt.report.load import parse_result
from tests.report.report_synth import make_result

SERVERS = {"tnt-2.6": 1.0, "tnt-3.8": 1.5}  # 3.8 is 1.5× as fast in these files


def with_servers(seed: int, speed: dict[str, float] | None = None,
                 names: tuple[str, ...] = tuple(SERVERS)) -> dict[str, Any]:
    """One driver, two ops, 5 trials (enough for Holm over 4 rows), on each server set-up; trials interleaved server by server
    (trial-major), as loadtnt run writes them."""
    speed = speed or SERVERS
    rng = random.Random(seed)
    base = make_result(lambda d, lp, op, t: 80_000.0, drivers=("loadtnt",), ops=("ping", "select"),
                       trials=5, seed=seed)
    runs, windows = [], []
    for trial in range(1, 6):
        for name in names:
            for run in base["runs"]:
                if run["trial"] != trial:
                    continue
                r = copy.deepcopy(run)
                r["server"] = name
                r["rps"] = run["rps"] * speed[name] * rng.uniform(0.97, 1.03)
                r["requests"] = int(r["rps"] * r["duration_s"])
                runs.append(r)
            windows += [dict(w, server=name) for w in base["server"] if w["trial"] == trial]
    base["runs"], base["server"] = runs, windows
    base["scenario"]["servers"] = [{"name": n, "binary": "tarantool", "cfg": {}} for n in names]
    base["environment"]["servers"] = {n: {"version": "2.6.0-0-g47aa4e01e" if "2.6" in n
                                          else "3.8.0-0-gdce7be8a79", "box_cfg": {}}
                                      for n in names}
    return base


def result(data: dict[str, Any], name: str):
    return parse_result(data, Path(f"{name}.json"))


def test_tables_have_a_column_per_driver_and_server() -> None:
    (t,) = tables.throughput_tables([result(with_servers(1), "s")])
    assert [c.title for c in t.columns] == ["loadtnt @ tnt-2.6", "loadtnt @ tnt-3.8"]
    for _op, (old, new) in t.rows:
        assert 1.4 < new / old < 1.6
    text = tables.render_text(t)
    assert "loadtnt @ tnt-3.8" in text


def test_files_without_server_names_read_as_one_set_up() -> None:
    data = with_servers(1, names=("tnt-2.6",))
    for r in data["runs"]:
        del r["server"]
    data["scenario"].pop("servers")
    res = result(data, "old")
    assert res.servers() == [""]
    (t,) = tables.throughput_tables([res])
    assert [c.title for c in t.columns] == ["loadtnt"]


def test_compare_matches_set_ups_by_name_and_finds_the_one_that_regressed() -> None:
    base = result(with_servers(1), "base")
    new = result(with_servers(2, {"tnt-2.6": 1.0, "tnt-3.8": 0.75}), "new")  # 3.8 halved
    c = compare(base, new, threshold=0.10)  # trial noise (±3%) is no change
    verdicts = {(r.server, r.op): r.verdict for r in c.rows}
    assert verdicts == {("tnt-2.6", "ping"): UNCHANGED, ("tnt-2.6", "select"): UNCHANGED,
                        ("tnt-3.8", "ping"): REGRESSED, ("tnt-3.8", "select"): REGRESSED}
    text = render(c)
    assert text.splitlines()[0].split()[0] == "server"

    out = io.StringIO()
    assert check(new, base, 0.10, out=out) == 1
    fail = out.getvalue().splitlines()[-1]
    assert "tnt-3.8/loadtnt/uvloop/ping" in fail and "tnt-2.6" not in fail


def test_one_set_up_on_each_side_compares_whatever_the_names() -> None:
    old = result(with_servers(1, names=("tnt-2.6",)), "old")
    new = result(with_servers(2, names=("tnt-3.8",)), "new")
    c = compare(old, new)
    assert {r.server for r in c.rows} == {"tnt-2.6 → tnt-3.8"}
    assert all(1.4 < r.ratio < 1.6 for r in c.rows)
    assert "tnt-2.6 → tnt-3.8" in render(c)
    # and a file that names no set-up at all still compares with one that does
    same = with_servers(3, names=("tnt-2.6",))
    for r in same["runs"]:
        del r["server"]
    assert compare(result(same, "older"), old).rows


def test_report_labels_series_and_versions_by_server(tmp_path: Path) -> None:
    from loadtnt.report import build_report

    path = tmp_path / "servers.json"
    path.write_text(json.dumps(with_servers(1)))
    paths = build_report([path], tmp_path / "rep")
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "loadtnt @ tnt-2.6" in html and "loadtnt @ tnt-3.8" in html  # the tables
    assert "Tarantool 2.6.0 (tnt-2.6), 3.8.0 (tnt-3.8)" in html  # the context line
    assert "<th>server</th>" in html  # the box.stat table
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "| request | loadtnt @ tnt-2.6 | loadtnt @ tnt-3.8 |" in md
    assert any(p.name == "throughput.png" for p in paths)
