"""`loadtnt history` (issue 24) on synthetic result files (tests/report/history_synth.py): the
store (schema, migration, duplicates, machines), change points and the CI gate with Apache Otava, the exports (the real
`otava` CLI on the CSV, the gbench JSON against perf/lua/benchmark.lua's field names), the
report's trend charts, `check --bisect` and the simulation. No Tarantool needed."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loadtnt.cli import main
from loadtnt.history import detect, simulate, store
from tests.report.history_synth import result, write

BEFORE, AFTER = 50_000.0, 40_000.0  # select's rps before and from run 13 on (20 % slower)


def make_runs(tmp: Path, n: int = 20, step_at: int = 13, **kw) -> list[Path]:
    return [write(tmp, f"r{k:02d}.json",
                  result(k, {"select": AFTER if k >= step_at else BEFORE, "ping": 90_000.0},
                         **kw)) for k in range(1, n + 1)]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "h.sqlite"


# --- the store --------------------------------------------------------------------------------

def test_add_list_show_and_duplicates_refused(tmp_path, db, capsys) -> None:
    files = make_runs(tmp_path, n=3)
    code, out, _ = run(capsys, "history", "add", *map(str, files), "--db", str(db))
    assert code == 0 and out.count("run #") == 3 and "2 rows" in out
    code, _, err = run(capsys, "history", "add", str(files[1]), "--db", str(db))
    assert code == 2 and "already in the history as run #2" in err
    # the same content under another name is the same run
    copy = tmp_path / "copy.json"
    shutil.copy(files[0], copy)
    code, _, err = run(capsys, "history", "add", str(copy), "--db", str(db))
    assert code == 2 and "run #1" in err
    code, out, _ = run(capsys, "history", "list", "--db", str(db))
    assert code == 0 and "synth: embedded/loadtnt/uvloop/select" in out and "1..3" in out
    code, out, _ = run(capsys, "history", "show", "select", "--db", str(db))
    assert code == 0 and "#3" in out and "c0003" in out and "±" in out
    code, out, _ = run(capsys, "history", "show", "1", "--db", str(db), "--format", "json")
    got = json.loads(out)
    assert [p["run"] for p in got["points"]] == [1, 2, 3] and len(got["points"][0]["trials"]) == 5
    code, _, err = run(capsys, "history", "show", "nothing-like-it", "--db", str(db))
    assert code == 2 and "no row matches" in err


def test_partial_result_refused(tmp_path, db, capsys) -> None:
    data = result(1, {"select": BEFORE, "ping": 1.0})
    data["partial"] = True
    code, _, err = run(capsys, "history", "add", str(write(tmp_path, "p.json", data)),
                       "--db", str(db))
    assert code == 2 and "partial" in err


def test_commit_and_label_override(tmp_path, db) -> None:
    f = make_runs(tmp_path, n=1)[0]
    main(["history", "add", str(f), "--db", str(db), "--commit", "abc1234", "--label", "nightly"])
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT commit_sha, label FROM runs").fetchone() == ("abc1234",
                                                                              "nightly")


def test_machines_are_kept_apart_unless_any_machine(tmp_path, db, capsys) -> None:
    a = [write(tmp_path, f"a{k}.json", result(k, {"select": BEFORE, "ping": 1e5}))
         for k in range(1, 4)]
    b = [write(tmp_path, f"b{k}.json", result(k, {"select": BEFORE / 2, "ping": 5e4},
                                               cpu="Intel Xeon", cores=8, seed=1))
         for k in range(1, 3)]
    main(["history", "add", *map(str, a + b), "--db", str(db)])
    capsys.readouterr()
    _, out, _ = run(capsys, "history", "list", "--db", str(db), "--format", "json")
    got = json.loads(out)
    assert sorted((r["name"].split("/")[-1], r["machine"], r["runs"]) for r in got) == [
        ("ping", "AMD EPYC 7B13 x2", 3), ("ping", "Intel Xeon x8", 2),
        ("select", "AMD EPYC 7B13 x2", 3), ("select", "Intel Xeon x8", 2)]
    code, out, _ = run(capsys, "history", "list", "--db", str(db), "--format", "json",
                       "--any-machine")
    assert sorted(r["runs"] for r in json.loads(out)) == [5, 5]
    # the CSV export is the newest run's machine's: 2 runs, 2 columns, no gaps
    csv_text = tmp_path / "m.csv"
    assert main(["history", "export", "--format", "otava-csv", "--db", str(db), "--out",
                 str(csv_text)]) == 0
    lines = csv_text.read_text().splitlines()
    assert len(lines) == 3 and all(",," not in x and not x.endswith(",") for x in lines)
    assert all("Intel Xeon x8" in x for x in lines[1:])
    # check judges the newest run's machine only: 2 runs there, too short
    code, out, _ = run(capsys, "history", "check", "--db", str(db))
    assert code == 3 and "Intel Xeon x8" in out and "too short" in out


def test_new_file_has_the_current_schema(db) -> None:
    conn = store.open_db(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 2
    assert {r[1] for r in conn.execute("PRAGMA table_info(runs)")} >= {"label", "open_loop"}


def test_schema_1_is_migrated_with_a_copy_and_a_line(tmp_path, db, capsys) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(store.SCHEMA_1)
    conn.execute("INSERT INTO meta VALUES ('app', ?)", (store.APP,))
    conn.execute("INSERT INTO runs (digest, added_at, scenario, machine, versions) VALUES "
                 "('d', '2026-01-01T00:00:00Z', 'old', 'm x1', '{}')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    code, _out, err = run(capsys, "history", "add", str(make_runs(tmp_path, n=1)[0]),
                         "--db", str(db))
    assert code == 0 and "migrated" in err and "from schema 1 to 2" in err
    backup = db.with_name("h.sqlite.v1.bak")
    assert backup.read_bytes() == before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2  # the old run kept


def test_newer_schema_and_foreign_files_are_refused_untouched(tmp_path, db, capsys) -> None:
    store.open_db(db).execute("PRAGMA user_version = 99")
    before = db.read_bytes()
    code, _, err = run(capsys, "history", "list", "--db", str(db))
    assert code == 2 and "schema 99 is newer" in err and db.read_bytes() == before
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    before = other.read_bytes()
    code, _, err = run(capsys, "history", "add", str(make_runs(tmp_path, n=1)[0]),
                       "--db", str(other))
    assert code == 2 and "not a loadtnt history" in err and other.read_bytes() == before
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not sqlite at all, " * 100)
    code, _, err = run(capsys, "history", "list", "--db", str(junk))
    assert code == 2 and "not an SQLite file" in err
    code, _, err = run(capsys, "history", "list", "--db", str(tmp_path / "none.sqlite"))
    assert code == 2 and "no such history" in err


# --- change points and the gate ----------------------------------------------------------------

def test_changes_finds_the_step_with_otava(tmp_path, db, capsys) -> None:
    main(["history", "add", *map(str, make_runs(tmp_path)), "--db", str(db)])
    capsys.readouterr()
    code, out, _ = run(capsys, "history", "changes", "--db", str(db))
    assert code == 0 and "#13" in out and "worse" in out
    code, out, _ = run(capsys, "history", "changes", "--db", str(db), "--format", "json")
    got = json.loads(out)
    (c,) = got["changes"]
    assert c["run"] == 13 and c["commit"] == "c0013" and c["regression"] is True
    assert c["mean_before"] == pytest.approx(BEFORE, rel=0.02)
    assert c["mean_after"] == pytest.approx(AFTER, rel=0.02)
    assert c["change"] == pytest.approx(-0.2, abs=0.02) and c["pvalue"] < 1e-6
    code, out, _ = run(capsys, "history", "changes", "--db", str(db), "--metric", "p99",
                       "--format", "json")
    (c,) = json.loads(out)["changes"]
    assert c["run"] == 13 and c["change"] > 0.2 and c["regression"] is True  # latency up


def test_check_exit_codes_run_by_run(tmp_path, db, capsys) -> None:
    codes = {}
    for k, f in enumerate(make_runs(tmp_path), 1):
        main(["history", "add", str(f), "--db", str(db)])
        codes[k] = main(["history", "check", "--db", str(db)])
    capsys.readouterr()
    assert all(codes[k] == 3 for k in range(1, 8))  # fewer than 8 runs
    assert all(codes[k] == 0 for k in range(8, 13))
    assert codes[13] == 3  # the slow run alone: a step or an outlier, the next run decides
    assert all(codes[k] == 1 for k in range(14, 21)), codes
    code, out, _ = run(capsys, "history", "check", "--db", str(db), "--format", "json")
    got = json.loads(out)
    assert got["exit"] == 1 and got["newest_run"] == 20
    by = {r["name"].split("/")[-1]: r for r in got["rows"]}
    assert by["select"]["status"] == "regressed" and by["select"]["change"]["run"] == 13
    assert by["ping"]["status"] == "ok"
    code, out, _ = run(capsys, "history", "check", "--db", str(db), "--max-regression", "25%")
    assert code == 0 and "OK" in out
    code, out, _ = run(capsys, "history", "check", "--db", str(db), "--min-runs", "30")
    assert code == 3 and "--min-runs" in out


def test_an_outlier_run_is_no_change_and_no_failure(tmp_path, db, capsys) -> None:
    codes = []
    for k in range(1, 21):
        rps = BEFORE * (0.7 if k == 10 else 1.0)
        main(["history", "add", str(write(tmp_path, f"o{k}.json",
                                          result(k, {"select": rps, "ping": 9e4}))),
              "--db", str(db)])
        codes.append(main(["history", "check", "--db", str(db)]))
    capsys.readouterr()
    assert codes[9] == 3 and 1 not in codes  # alone at run 10: cannot decide; never a failure
    _, out, _ = run(capsys, "history", "changes", "--db", str(db), "--format", "json")
    got = json.loads(out)
    assert got["changes"] == [] and [o["outlier_run"] for o in got["outliers"]] == [10]


def test_a_busy_newest_run_cannot_decide(tmp_path, db, capsys) -> None:
    files = make_runs(tmp_path, n=15)
    main(["history", "add", *map(str, files), "--db", str(db)])
    busy = write(tmp_path, "busy.json", result(16, {"select": AFTER, "ping": 9e4}, busy=0.9))
    main(["history", "add", str(busy), "--db", str(db)])
    capsys.readouterr()
    code, out, _ = run(capsys, "history", "check", "--db", str(db))
    assert code == 3 and "busy" in out and "read as regressed" not in out.split("CANNOT")[0]


def test_commands_that_need_the_extra_say_so_and_exit_2(tmp_path, db, capsys,
                                                          monkeypatch) -> None:
    main(["history", "add", *map(str, make_runs(tmp_path, n=3)), "--db", str(db)])
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "otava.analysis", None)  # import fails as if absent
    for cmd in ("changes", "check"):
        code, out, err = run(capsys, "history", cmd, "--db", str(db))
        assert code == 2 and out == ""
        assert err.strip().splitlines() == [("loadtnt history: needs Apache Otava, which is not "
                                             "installed: pip install 'loadtnt[history]'")]
    assert run(capsys, "history", "list", "--db", str(db))[0] == 0  # the store needs nothing


# --- exports ------------------------------------------------------------------------------------

# perf/lua/benchmark.lua (tarantool/tarantool): perf_context() and add_result()
BENCHMARK_LUA_CONTEXT = {"build_flags", "build_target", "date", "host_name", "load_avg",
                         "tarantool_version"}
BENCHMARK_LUA_RESULT = {"name", "real_time", "cpu_time", "iterations", "items_per_second"}


def test_gbench_export_has_benchmark_lua_fields(tmp_path, db, capsys) -> None:
    main(["history", "add", *map(str, make_runs(tmp_path, n=2)), "--db", str(db)])
    capsys.readouterr()
    code, out, _ = run(capsys, "history", "export", "--format", "gbench", "--db", str(db))
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"benchmarks", "context"}
    assert BENCHMARK_LUA_CONTEXT <= set(doc["context"])
    assert doc["context"]["tarantool_version"] == "2.6.0-0-g47aa4e01e"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", doc["context"]["date"])
    assert len(doc["benchmarks"]) == 10  # 2 rows x 5 trials of the newest run
    for b in doc["benchmarks"]:
        assert set(b) == BENCHMARK_LUA_RESULT
        assert isinstance(b["items_per_second"], int) and isinstance(b["iterations"], int)
        assert b["items_per_second"] == pytest.approx(b["iterations"] / b["real_time"], abs=1)
    assert doc["benchmarks"][0]["name"].startswith("synth/embedded/loadtnt/uvloop/")
    out_file = tmp_path / "g.json"
    assert main(["history", "export", "--format", "gbench", "--db", str(db), "--run", "1",
                 "--out", str(out_file)]) == 0
    assert json.loads(out_file.read_text())["context"]["loadtnt_run"] == 1


def test_influx_line_protocol(tmp_path, db, capsys) -> None:
    main(["history", "add", *map(str, make_runs(tmp_path, n=2)), "--db", str(db)])
    capsys.readouterr()
    code, out, _ = run(capsys, "history", "export", "--format", "influx", "--db", str(db))
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 4  # 2 rows x 2 runs
    line = re.compile(r"loadtnt,scenario=synth,server=embedded,driver=loadtnt,loop=uvloop,"
                      r"op=(select|ping),machine=AMD\\ EPYC\\ 7B13\\ x2 "
                      r"rps=[\d.e+]+,p50_us=[\d.e+]+,p99_us=[\d.e+]+,p999_us=[\d.e+]+,"
                      r"trials=5i,run=\di,commit=\"c000\d\" \d{19}")
    for x in lines:
        assert line.fullmatch(x), x


def test_otava_csv_runs_in_the_real_otava_cli(tmp_path, db, capsys) -> None:
    otava = Path(sys.executable).with_name("otava")
    if not otava.exists():
        pytest.skip("the otava CLI of the history extra is not in this venv")
    main(["history", "add", *map(str, make_runs(tmp_path)), "--db", str(db)])
    capsys.readouterr()
    csv_file, cfg = tmp_path / "history.csv", tmp_path / "otava.yaml"
    assert main(["history", "export", "--format", "otava-csv", "--db", str(db), "--out",
                 str(csv_file), "--otava-config", str(cfg), "--metrics", "rps,p99"]) == 0
    header = csv_file.read_text().splitlines()[0].split(",")
    assert header[:4] == ["time", "commit", "run", "machine"] and len(header) == 8
    proc = subprocess.run([str(otava), "analyze", "loadtnt", "--config-file", str(cfg)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    # otava prints the series with each change point's % between the runs it separates
    lines = proc.stdout.splitlines()
    i12 = next(k for k, x in enumerate(lines) if " c0012 " in x)
    i13 = next(k for k, x in enumerate(lines) if " c0013 " in x)
    marks = "\n".join(lines[i12 + 1:i13])
    assert re.search(r"-(19|20|21)\.\d%", marks), proc.stdout  # select's rps down ~20 %
    assert re.search(r"\+2\d\.\d%", marks), proc.stdout  # select's p99 up ~25 %
    assert sum("%" in x for x in lines) == sum("%" in x for x in lines[i12 + 1:i13])
    assert "row1_rps" in proc.stdout and "row1_p99" in proc.stdout


# --- the report, check --bisect, the simulation ------------------------------------------------

def test_report_history_trend_charts(tmp_path, db, capsys) -> None:
    files = make_runs(tmp_path)
    main(["history", "add", *map(str, files), "--db", str(db)])
    capsys.readouterr()
    out = tmp_path / "rep"
    assert main(["report", str(files[-1]), "--history", str(db), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "<h2 id='history'>" in html and html.index("id='history'") < html.index(
        "<h2>Environment</h2>")
    assert html.count("data-chart='trend-") == 2 and html.count("data-chart='throughput'") == 1
    assert main(["report", "--history", str(db), "--out", str(tmp_path / "only")]) == 0
    assert (tmp_path / "only" / "report.html").read_text().count("data-chart='trend-") == 2
    assert main(["report"]) == 2


def test_check_bisect_maps_exit_codes(write_result_dir) -> None:
    from loadtnt.report.check import BISECT_EXITS
    from tests.report.test_compare_check import synthetic

    def halved(d: str, o: str) -> float:
        return 0.5 if d == "loadtnt" else 1.0

    base = write_result_dir("base.json", synthetic(1))
    same = write_result_dir("same.json", synthetic(2))
    slow = write_result_dir("slow.json", synthetic(3, halved))
    few = write_result_dir("few.json", synthetic(4, trials=2))
    assert main(["check", str(same), "--baseline", str(base), "--bisect"]) == 0
    assert main(["check", str(slow), "--baseline", str(base), "--bisect"]) == 1
    assert main(["check", str(slow), "--baseline", str(base)]) == 1
    assert main(["check", str(few), "--baseline", str(base), "--bisect"]) == 125
    assert main(["check", str(few), "--baseline", str(base)]) == 3
    assert main(["check", str(base.with_name("missing.json")), "--baseline", str(base),
                 "--bisect"]) == 125
    assert BISECT_EXITS == {0: 0, 1: 1, 2: 125, 3: 125}


@pytest.fixture
def write_result_dir(tmp_path):
    def w(name, data):
        return write(tmp_path, name, data)
    return w


def test_simulation_meets_the_goals() -> None:
    """A 10 % step found within 3 runs in >= 95 % of histories, < 1 % false alarms per run,
    the outlier never a change (the README table has 1,000 histories a case)."""
    gate = simulate.history_gate(0.05)
    step = simulate.measure(simulate.CASES[1], gate, sims=100)
    assert step.detected / step.histories >= 0.95 and max(step.delays) <= 3
    flat = simulate.measure(simulate.CASES[0], gate, sims=60)
    assert flat.false_alarms / flat.checked < 0.01
    out = simulate.measure(simulate.CASES[3], gate, sims=60, changes_on_outlier=True)
    assert out.outlier_as_change == 0 and out.false_alarms / out.checked < 0.01
    pair = simulate.measure(simulate.CASES[1], simulate.pairwise_gate(0.05), sims=60)
    assert pair.detected / pair.histories < 0.6  # what the pairwise gate misses


def test_outlier_filter_and_detector_units() -> None:
    flat = [100.0, 101, 99, 100, 102, 98, 100, 101, 99, 100]
    assert detect.outliers(flat) == []
    spiky = flat[:5] + [70.0] + flat[5:]
    assert detect.outliers(spiky) == [5]
    step = flat + [90.0, 91, 89, 90]
    assert detect.outliers(step) == []
    a = detect.analyze(step)
    assert [c.index for c in a.changes] == [10] and a.changes[0].rel == pytest.approx(-0.1,
                                                                                        abs=0.01)
    a = detect.analyze(flat + [80.0])
    assert a.changes == [] and a.unconfirmed is not None and a.unconfirmed.index == 10


@pytest.mark.timeout(180)
def test_trend_charts_load_in_chromium(tmp_path, db, capsys) -> None:
    from tests.report.test_html_chromium import CHROMIUM, chromium

    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (make chromium)")
    files = make_runs(tmp_path)
    main(["history", "add", *map(str, files), "--db", str(db)])
    out = tmp_path / "rep"
    assert main(["report", str(files[-1]), "--history", str(db), "--out", str(out)]) == 0
    capsys.readouterr()
    report = out / "report.html"
    proc = chromium(tmp_path, "--dump-dom", report.as_uri())
    body = re.search(r"<body[^>]*>", proc.stdout)
    assert body, proc.stderr[-2000:]
    attrs = dict(re.findall(r'(data-images-[a-z]+)="(\d+)"', body.group(0)))
    expected = len(list(out.glob("*.png")))  # the result's charts and 2 trend charts
    assert expected >= 3 and len(list(out.glob("trend-*.png"))) == 2
    assert attrs.get("data-images-total") == attrs.get("data-images-loaded") == str(expected)


def test_report_history_without_the_extra_draws_without_change_points(tmp_path, db, capsys,
                                                                      monkeypatch) -> None:
    main(["history", "add", *map(str, make_runs(tmp_path, n=10)), "--db", str(db)])
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "otava.analysis", None)
    code, _, err = run(capsys, "report", "--history", str(db), "--out", str(tmp_path / "r"))
    assert code == 0 and "without change points" in err and "loadtnt[history]" in err
    assert len(list((tmp_path / "r").glob("trend-*.png"))) == 2
