"""``op: transaction``: steps between begin and commit on a stream, against real Tarantools.

Validation needs no server; the run needs Tarantool 3.8 (streams are 2.10+: from ../shared, or
$LOADTNT_TEST_TARANTOOL_38); the refusal needs one without streams (Debian's 2.6 on PATH).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from loadtnt.instance import version
from loadtnt.scenario import parse
from loadtnt.scenario.model import ScenarioError
from tests.harness.conftest import ROOT, read_json, run_loadtnt, write_scenario

T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(ROOT.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"))
HAS_38 = os.access(T38, os.X_OK)
DEFAULT_VERSION = version("tarantool").split("-")[0]
OLD_DEFAULT = tuple(int(x) for x in DEFAULT_VERSION.split(".")[:2]) < (2, 10)

TXN = """
operations:
  - op: transaction
    name: transfer
    isolation: read_committed
    steps:
      - {op: insert, space: tester, tuple: [{sequential: 1000000}, 'a']}
      - {op: update, space: tester, key: {uniform: [1, 500]}, operations: [['=', 2, 'b']]}
"""

SHORT = """
drivers: [loadtnt]
loops: [asyncio]
concurrency: 10
warmup: 0.3s
before: prepare(500)
"""

CASES = [
    # (yaml, line, field, words in the message)
    ("operations:\n  - op: transaction\n", 2, "operations[0].steps", "missing"),
    ("operations:\n  - op: transaction\n    steps: []\n", 3, "operations[0].steps", "non-empty"),
    ("operations:\n  - op: transaction\n    steps:\n      - op: ping\n", 4,
     "operations[0].steps[0].op", "cannot be a step"),
    ("operations:\n  - op: transaction\n    steps:\n      - op: transaction\n", 4,
     "operations[0].steps[0].op", "cannot be a step"),
    ("operations:\n  - op: transaction\n    steps:\n      - op: selct\n", 4,
     "operations[0].steps[0].op", "unknown op"),
    ("operations:\n  - op: transaction\n    steps:\n      - op: insert\n        space: tester\n",
     4, "operations[0].steps[0].tuple", "missing"),
    (("operations:\n  - op: transaction\n    steps:\n      - op: select\n        space: t\n"
     "        weight: 2\n"), 6, "operations[0].steps[0].weight", "has no weight"),
    (("operations:\n  - op: transaction\n    steps:\n      - {op: select, space: t}\n"
     "      - {op: select, space: t}\n"), 5, "operations[0].steps[1].name", "duplicate step"),
    (("operations:\n  - op: transaction\n    isolation: serializable\n    steps:\n"
     "      - {op: select, space: t}\n"), 3, "operations[0].isolation", "unknown isolation"),
    ("operations:\n  - op: transaction\n    space: t\n    steps:\n      - {op: select, space: t}\n",
     3, "operations[0].space", "unknown key"),
    ("operations:\n  - op: transaction\n    steps:\n      - op: select\n        space: {string: 3}\n",
     5, "operations[0].steps[0].space", "constant"),
    (("operations:\n  - op: transaction\n    name: t\n    steps:\n      - {op: select, space: s}\n"
     "  - op: ping\n    name: t.select\n"), 2, "operations[0].name", "takes the name"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), CASES)
def test_bad_transactions_name_file_line_field(tmp_path: Path, text: str, line: int, field: str,
                                               words: str) -> None:
    path = write_scenario(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        parse.load(path)
    err = info.value
    assert (err.line, err.field) == (line, field), str(err)
    assert words in str(err)
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_a_bad_transaction_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, CASES[2][0])
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:4: operations[0].steps[0].op" in proc.stderr
    assert not out.exists()


def test_steps_normalize_without_weight_and_isolation_defaults() -> None:
    s = parse.loads(TXN.replace("    isolation: read_committed\n", ""), path="t.yaml")
    (op,) = s.normalized()["operations"]
    assert op["isolation"] == "default" and op["weight"] == 1.0
    assert [st["name"] for st in op["steps"]] == ["insert", "update"]
    assert all("weight" not in st for st in op["steps"])
    assert s.operations[0].step_names == ["transfer.insert", "transfer.update"]


@pytest.mark.skipif(not HAS_38, reason=f"needs Tarantool 3.8 (streams: 2.10+) at {T38}")
def test_a_run_on_3_8_counts_what_the_server_counted(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SHORT + "requests: 600\n" + TXN + """
  - op: select
    space: tester
    key: {uniform: [1, 500]}
""")
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out, "--tarantool", T38)
    assert proc.returncode == 0, proc.stderr
    data = read_json(out)
    runs = {r["op"]: r for r in data["runs"]}
    assert set(runs) == {"transfer", "transfer.insert", "transfer.update", "select"}
    txn, ins, upd, sel = (runs[k] for k in ("transfer", "transfer.insert", "transfer.update",
                                           "select"))
    # the budget counts transactions and selects, never steps: the mix never picks a step
    assert txn["requests"] + sel["requests"] == 600
    assert ins["step_of"] == upd["step_of"] == "transfer" and "step_of" not in txn
    assert ins["requests"] == txn["requests"] and ins["errors"] == 0
    # an update step may conflict only at commit (db:97); the step itself succeeds
    assert upd["requests"] == txn["requests"]
    assert set(txn["errors_by_kind"]) <= {"db:97"}
    for r in (ins, upd):
        assert r["histogram"] and r["latency_us"]["p50"] > 0
        assert r["latency_us"]["p50"] <= txn["latency_us"]["max"]
    (delta,) = [x["delta"] for x in data["server"]]
    assert delta["BEGIN"] == txn["requests"]
    assert delta["COMMIT"] == txn["ok"]
    assert delta["COMMIT"] + delta.get("ROLLBACK", 0) == txn["requests"]
    assert delta["INSERT"] == ins["requests"]
    assert delta["UPDATE"] == upd["requests"]
    assert delta["SELECT"] == sel["requests"]
    assert delta["REQUESTS"] == 2 * txn["requests"] + ins["requests"] + upd["requests"] \
        + sel["requests"]
    assert not any("disagree" in w for r in data["runs"] for w in r.get("warnings", []))
    # the harness turned MVCC on for the transaction (memtx aborts one that spans requests)
    (info,) = data["environment"]["servers"].values()
    assert info["box_cfg"]["memtx_use_mvcc_engine"] is True
    assert "transfer.insert" in proc.stdout  # the summary table has the steps


@pytest.mark.skipif(not HAS_38, reason=f"needs Tarantool 3.8 (streams: 2.10+) at {T38}")
def test_a_failing_step_rolls_back_and_counts_on_both(tmp_path: Path) -> None:
    # the insert's key exists (prepare(500)): every transaction fails at it, is rolled back
    path = write_scenario(tmp_path, SHORT + "requests: 50\n" + """
operations:
  - op: transaction
    name: dup
    steps:
      - {op: select, space: tester, key: 1}
      - {op: insert, space: tester, tuple: [{uniform: [1, 500]}, 'x']}
      - {op: delete, space: tester, key: 1}
""")
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out, "--tarantool", T38)
    assert proc.returncode == 4, proc.stderr  # every transaction failed
    assert "every request of op 'dup' failed" in proc.stderr
    data = read_json(out)
    runs = {r["op"]: r for r in data["runs"]}
    assert runs["dup"]["errors_by_kind"] == {"db:3": 50}  # ER_TUPLE_FOUND, the step's error
    assert runs["dup.insert"]["errors_by_kind"] == {"db:3": 50}
    assert runs["dup.select"]["ok"] == 50
    assert runs["dup.delete"]["requests"] == 0  # never reached
    (delta,) = [x["delta"] for x in data["server"]]
    assert delta["BEGIN"] == 50 and delta.get("ROLLBACK") == 50 and delta.get("COMMIT", 0) == 0
    assert delta.get("DELETE", 0) == 0
    assert delta["REQUESTS"] == 50 * 4  # begin, select, insert, rollback
    assert not any("disagree" in w for r in data["runs"] for w in r.get("warnings", []))


@pytest.mark.skipif(not OLD_DEFAULT, reason="needs a Tarantool without streams (< 2.10) on "
                    f"PATH; it is {DEFAULT_VERSION}")
def test_a_server_without_streams_refuses_before_load(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, SHORT + "requests: 100\n" + TXN)
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out, "-v")
    assert proc.returncode == 2, proc.stderr
    msg = proc.stderr.strip().splitlines()[-1]
    assert msg.startswith(f"loadtnt: error: {path}:9: operations[0]: op 'transaction' "
                          "('transfer') needs streams, Tarantool 2.10 or newer"), msg
    assert f"Tarantool {DEFAULT_VERSION}" in msg
    assert "embedded Tarantool at" not in proc.stderr  # no server started, no load ran
    assert not out.exists()


def test_aiotarantool_is_skipped_with_a_warning(tmp_path: Path) -> None:
    drivers = "[loadtnt, aiotarantool]" if HAS_38 else "[aiotarantool]"
    text = (SHORT.replace("[loadtnt]", drivers) + "requests: 100\n" + TXN)
    path = write_scenario(tmp_path, text)
    out = tmp_path / "out.json"
    args = ["--tarantool", T38] if HAS_38 else []
    proc = run_loadtnt("run", path, "--out", out, *args)
    assert ("aiotarantool: skipped: aiotarantool cannot send 'transaction' (operations[0] "
            "'transfer')") in proc.stderr
    if HAS_38:
        assert proc.returncode == 0, proc.stderr
        data = read_json(out)
        assert {r["driver"] for r in data["runs"]} == {"loadtnt"}
        assert any("aiotarantool: skipped" in w for w in data["warnings"])
    else:  # on 2.6 the refusal for streams comes first; either way nothing is measured
        assert proc.returncode in (1, 2) and not out.exists()


@pytest.mark.skipif(not OLD_DEFAULT, reason="needs a Tarantool without streams (< 2.10) on "
                    f"PATH; it is {DEFAULT_VERSION}")
def test_a_running_server_without_streams_refuses_before_load(tmp_path: Path,
                                                              bench_server: Any) -> None:
    path = write_scenario(tmp_path, SHORT + "requests: 100\n" + TXN)
    out = tmp_path / "out.json"
    proc = run_loadtnt("run", path, "--out", out, "--server",
                       f"{bench_server.host}:{bench_server.port}")
    assert proc.returncode == 2, proc.stderr
    assert (f"{path}:9: operations[0]: op 'transaction' ('transfer') needs streams"
            in proc.stderr), proc.stderr
    assert "server 'external' is Tarantool" in proc.stderr
    assert not out.exists()
