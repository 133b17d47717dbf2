"""The C load loop (loadtnt/worker/_cloop.pyx, ``drivers: [loadtnt-c]``) on a real server.

Each op in closed and open loop, through the harness's Phase as a worker runs it: its counts
against the server's own (box.stat(), read on another connection), its effects on the data,
and its latencies against the coroutine path's on a function with a known delay. Then what
goes wrong: a database error (kind and message), timeouts (and their late replies), a server
that goes away, a request that cannot be encoded; and the mix's weights.
"""
from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

import pytest

from loadtnt import histogram
from loadtnt.drivers.loadtnt_c import C_OPS
from loadtnt.instance import TarantoolInstance
from loadtnt.worker.load import Phase
from tests import _testbase as tb

_cloop = pytest.importorskip("loadtnt.worker._cloop", reason="the C load loop is not built")
COp, CLoop = _cloop.COp, _cloop.CLoop

ROWS = 200  # tester rows the data ops find


def classify(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, tb.exceptions.TarantoolNetworkError):
        return "disconnect"
    code = getattr(exc, "code", None)
    return f"db:{code}" if isinstance(code, int) else f"other:{type(exc).__name__}"


async def stat(conn: Any) -> dict[str, int]:
    """The server's request counters by type, and REQUESTS (every request it read)."""
    [out] = (await conn.eval(
        "local s = box.stat() local out = {} "
        "for k, v in pairs(s) do out[k] = v.total end "
        "out.REQUESTS = box.stat.net().REQUESTS.total return out")).body
    return {k: int(v) for k, v in out.items()}


def phase(ops: list[Any], *, coroutines: int = 20, requests: int | None = None,
          seconds: float | None = None, rate: float | None = None,
          weights: list[float] | None = None, timeout: float | None = None) -> Phase:
    return Phase(fns=[ops], names=[f"op{k}" for k in range(len(ops))],
                 weights=weights or [1.0] * len(ops), coroutines=coroutines,
                 classify=classify, seconds=seconds, requests=requests, rate=rate,
                 timeout=timeout)


async def fill(conn: Any) -> None:
    for i in range(1, ROWS + 1):
        await conn.insert("tester", [i, f"row{i}"])


def seq(start: int) -> Any:
    c = itertools.count(start)
    return lambda: [next(c), "new"]


# op -> (consts, gens, the box.stat() counter, rows in tester after N requests on ROWS rows)
def cases(n: int) -> dict[str, tuple[dict[str, Any], dict[str, Any], str, int]]:
    def key() -> list[int]:
        return [random.randint(1, ROWS)]

    deleted = itertools.count(1)
    return {
        "ping": ({}, {}, "REQUESTS", ROWS),
        "select": ({"space": "tester"}, {"key": key}, "SELECT", ROWS),
        "insert": ({"space": "tester"}, {"tuple": seq(1000)}, "INSERT", ROWS + n),
        "replace": ({"space": "tester"}, {"tuple": seq(ROWS - 9)}, "REPLACE", ROWS + n - 10),
        "update": ({"space": "tester", "operations": [["=", 1, "upd"]]}, {"key": key},
                   "UPDATE", ROWS),
        "upsert": ({"space": "tester", "operations": [["=", 1, "ups"]]},
                   {"tuple": seq(ROWS + 1)}, "UPSERT", ROWS + n),
        "delete": ({"space": "tester"}, {"key": lambda: [next(deleted)]}, "DELETE", max(ROWS - n, 0)),
        "call": ({"function": "func_param", "args": [1, "a"]}, {}, "CALL", ROWS),
        "call16": ({"function": "func_param"}, {"args": key}, "CALL", ROWS),
        "eval": ({"expression": "return ..."}, {"args": key}, "EVAL", ROWS),
        "execute": ({"query": "VALUES (?)"}, {"args": key}, "EXECUTE", ROWS),
    }


def test_every_op_has_a_case() -> None:
    assert set(cases(1)) == set(C_OPS)


@pytest.mark.parametrize("op", sorted(C_OPS))
async def test_closed_loop_counts_match_the_server(tnt, conn, op):
    n = 150
    consts, gens, counter, rows = cases(n)[op]
    await fill(conn)
    cop = COp(conn, op, consts, gens)
    before = await stat(conn)
    ph = phase([cop], requests=n, coroutines=30)
    await asyncio.wait_for(ph.run(), 30)
    after = await stat(conn)
    [st] = ph.ops
    assert (st.ok, st.nerrors, st.errors) == (n, 0, {})
    delta = after[counter] - before[counter]
    # REQUESTS and EVAL also count the eval that read the first box.stat()
    assert delta == n + (counter in ("REQUESTS", "EVAL")), (op, delta)
    assert after["REQUESTS"] - before["REQUESTS"] == n + 1
    assert (await conn.eval("return box.space.tester:len()")).body[0] == rows
    assert histogram.decode(ph.result()["ops"]["op0"]["histogram"]).get_total_count() == n
    if op == "update":
        got = await conn.select("tester", [], limit=ROWS)
        assert {t[1] for t in got} <= {"upd"} | {f"row{i}" for i in range(ROWS + 1)}
        assert any(t[1] == "upd" for t in got)


@pytest.mark.parametrize("op", sorted(C_OPS))
async def test_open_loop_counts_match_the_server(tnt, conn, op):
    rate, seconds = 2000.0, 0.4
    n = round(rate * seconds)
    consts, gens, counter, rows = cases(n)[op]
    await fill(conn)
    before = await stat(conn)
    ph = phase([COp(conn, op, consts, gens)], rate=rate, seconds=seconds, coroutines=20)
    await asyncio.wait_for(ph.run(), 30)
    after = await stat(conn)
    res = ph.result()["ops"]["op0"]
    assert res["scheduled"] == res["sent"] == res["ok"] == n, res
    assert res["dropped"] == 0 and res["errors"] == 0
    delta = after[counter] - before[counter]
    assert delta == n + (counter in ("REQUESTS", "EVAL"))
    service = histogram.decode(res["service_histogram"])
    corrected = histogram.decode(res["histogram"])
    assert service.get_total_count() == corrected.get_total_count() == n
    assert histogram.decode(res["lateness_histogram"]).get_total_count() == n
    assert (await conn.eval("return box.space.tester:len()")).body[0] == rows
    # measured from the intended time when late: never below the service time
    assert corrected.get_value_at_percentile(99) >= service.get_value_at_percentile(50)


async def _coroutine_latencies(conn: Any, n: int, slots: int, delay: float) -> Any:
    rec = histogram.Recorder()
    left = [n]

    async def one() -> None:
        while left[0] > 0:
            left[0] -= 1
            t0 = time.perf_counter_ns()
            await conn.call("func_long", [delay])
            rec.record_ns(time.perf_counter_ns() - t0)
    await asyncio.gather(*(one() for _ in range(slots)))
    return rec


def p50_ms(rec: Any) -> float:
    return float(histogram.decode(histogram.encode(rec)).get_value_at_percentile(50)) / 1000


async def test_latency_matches_the_coroutine_path_on_a_known_delay(tnt, conn):
    delay, n, slots = 0.02, 200, 20
    c_cop = COp(conn, "call", {"function": "func_long", "args": [delay]}, {})
    ph = phase([c_cop], requests=n, coroutines=slots)
    await asyncio.wait_for(ph.run(), 30)
    c_rec = ph.ops[0].rec
    co_rec = await _coroutine_latencies(conn, n, slots, delay)
    assert c_rec.total == co_rec.total == n
    c50, co50 = p50_ms(c_rec), p50_ms(co_rec)
    print(f"median: loadtnt-c {c50:.2f} ms, coroutines {co50:.2f} ms (sleep {delay * 1e3} ms)")
    assert delay * 1e3 <= c50 < delay * 1e3 + 15
    assert abs(c50 - co50) < 5


async def test_open_loop_latency_from_the_intended_time_on_a_backlog(tnt, conn):
    # 2 slots of a 20 ms function serve 100/s; 400/s are due: the backlog grows, the
    # corrected latency with it, while the service time stays at the delay; the slots still
    # waiting when the phase cuts a client that fell behind (1.5 x the window + 1 s, as on
    # the coroutine path) are dropped
    cop = COp(conn, "call", {"function": "func_long", "args": [0.02]}, {})
    ph = phase([cop], rate=400, seconds=0.5, coroutines=2)
    await asyncio.wait_for(ph.run(), 30)
    res = ph.result()["ops"]["op0"]
    assert res["scheduled"] == 200
    assert res["sent"] + res["dropped"] == 200 and 10 < res["dropped"] < 100, res
    service = histogram.decode(res["service_histogram"])
    corrected = histogram.decode(res["histogram"])
    assert 20_000 <= service.get_value_at_percentile(50) < 40_000
    assert corrected.get_value_at_percentile(90) > 150_000  # µs: waited in the backlog
    assert res["late_sends"] > 0


async def test_mix_follows_the_weights(tnt, conn):
    await fill(conn)
    ops = [COp(conn, "ping", {}, {}),
           COp(conn, "select", {"space": "tester", "key": [1]}, {})]
    ph = phase(ops, requests=20_000, weights=[3, 1], coroutines=50)
    await asyncio.wait_for(ph.run(), 30)
    ping, sel = ph.ops
    assert ping.ok + sel.ok == 20_000
    assert 0.70 < ping.ok / 20_000 < 0.80, (ping.ok, sel.ok)


async def test_database_errors_by_kind_with_their_message(tnt, conn):
    await fill(conn)
    cop = COp(conn, "insert", {"space": "tester", "tuple": [1, "dup"]}, {})
    ph = phase([cop], requests=50, coroutines=5)
    await asyncio.wait_for(ph.run(), 30)
    [st] = ph.ops
    assert st.ok == 0 and st.errors == {"db:3": 50}
    assert "Duplicate key" in st.messages["db:3"]
    assert st.messages["db:3"].startswith("TarantoolDatabaseError: ")


async def test_timeouts_count_and_their_replies_come_late(tnt, conn):
    cop = COp(conn, "call", {"function": "func_long", "args": [0.3]}, {})
    ph = phase([cop], requests=6, coroutines=3, timeout=0.05)
    t0 = time.monotonic()
    await asyncio.wait_for(ph.run(), 30)
    [st] = ph.ops
    assert st.ok == 0 and st.errors == {"timeout": 6}
    assert time.monotonic() - t0 < 1.0  # not waited out: 0.05 s each (seen within 1/4 of it)
    await asyncio.sleep(0.5)  # the replies arrive after the loop detached: dropped, not errors
    assert (await conn.ping()).code == 0


async def test_a_name_the_schema_lacks_is_refused_when_built(tnt, conn):
    with pytest.raises(tb.exceptions.TarantoolSchemaError, match="'nosuch' not found"):
        COp(conn, "select", {"space": "nosuch", "key": [1]}, {})
    with pytest.raises(ValueError, match="cannot send 'transaction'"):
        COp(conn, "transaction", {}, {})


async def test_a_value_that_does_not_encode_counts_and_the_load_goes_on(tnt, conn):
    bad = itertools.count()
    cop = COp(conn, "select", {"space": "tester"},
              {"key": lambda: [object()] if next(bad) % 2 else [1]})
    ph = phase([cop], requests=100, coroutines=4)
    await asyncio.wait_for(ph.run(), 30)
    [st] = ph.ops
    assert st.ok == 50 and st.errors == {"other:TypeError": 50}, (st.ok, st.errors)
    assert (await conn.ping()).code == 0  # nothing half-written went out


async def test_one_loop_per_connection(tnt, conn):
    cop = COp(conn, "ping", {}, {})
    ph = phase([cop], requests=10)
    first = CLoop([cop], ph.ops, [1.0], 2, _cloop_budget(10), lambda k, e: None)
    first.start()
    second = CLoop([cop], ph.ops, [1.0], 2, _cloop_budget(10), lambda k, e: None)
    with pytest.raises(RuntimeError, match="another load loop"):
        second.start()
    await asyncio.wait_for(first.wait(), 10)
    first.detach()


def _cloop_budget(n: int) -> Any:
    from loadtnt.worker._hotloop import Budget

    return Budget(n)


async def test_a_server_that_goes_away(loop):
    # its own server: stopped under load; every request in flight fails as a disconnect,
    # the slots back off (no spinning on a dead connection) and the window still ends
    inst = TarantoolInstance(lua=tb.INIT_LUA, cfg=tb.SERVER_CFG)
    inst.start()
    try:
        conn = tb.driver.Connection(**tb.conn_kwargs(inst), reconnect_timeout=0)
        await conn.connect()
        cop = COp(conn, "call", {"function": "func_long", "args": [0.01]}, {})
        ph = phase([cop], seconds=1.5, coroutines=20)
        run = asyncio.ensure_future(ph.run())
        await asyncio.sleep(0.4)
        inst.stop()
        cpu0 = time.process_time()
        await asyncio.wait_for(run, 10)
        [st] = ph.ops
        assert st.ok > 100
        assert st.errors.get("disconnect", 0) >= 20, st.errors  # the ones in flight, then more
        assert set(st.errors) == {"disconnect"}
        assert time.process_time() - cpu0 < 0.5  # backed off, not spun
        await conn.disconnect()
    finally:
        inst.stop()
