"""§2.3 of issue 23: a rebalance under load. A third replica set joins a running 3.x cluster
(ShardedCluster.add_shard: its instances, the config reloaded everywhere, the rebalancer woken)
while 300 coroutines send mixed crud through both routers; vshard moves buckets to it. The test
samples the buckets per storage over time, and checks that reads of existing keys go on and
that every acknowledged insert is read back afterwards.

Its own cluster (it grows: the other modules' cluster must not), 2 x 1 + 2 routers with 300
buckets so that the move takes about a second. Tarantool 3.x only (a config.yaml cluster).
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtnt.server import ShardedCluster
from tests.harness.conftest import ROOT, unread_keys

T38 = os.environ.get("LOADTNT_TEST_TARANTOOL_38",
                     str(ROOT.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[ShardedCluster]:
    if not os.access(T38, os.X_OK):
        pytest.skip(f"a replica set joining by a config reload needs Tarantool 3.x: 3.8 is not "
                    f"at {T38} (2.6's classic vshard.cfg is not covered)")
    with ShardedCluster(shards=2, replicas=1, routers=2, bucket_count=300, binary=T38) as c:
        yield c


def test_a_rebalance_under_load(cluster: ShardedCluster) -> None:
    from loadtnt import driver

    c = cluster
    c.eval("router-1", "local crud = require('crud') for i = 1, 2000 do "
           "crud.replace('customers', {i, box.NULL, 'n', 30}) end")
    safe_before = c.crud_safe_mode()
    timeline: list[tuple[float, list[int]]] = []
    read_errors: dict[str, int] = {}
    ok_at: list[float] = []
    failed_at: list[float] = []
    added: list[float] = []
    done = threading.Event()
    t0 = time.monotonic()

    def sample() -> None:  # the buckets per storage over time
        while not done.is_set():
            try:
                timeline.append((round(time.monotonic() - t0, 2), c.bucket_counts()))
            except Exception:  # noqa: BLE001, S110 - the new set is still starting
                pass
            time.sleep(0.1)

    async def load() -> tuple[list[int], int, list[str], int, int]:
        pool = driver.Pool(c.router_endpoints, username=c.username, password=c.password,
                           fetch_schema=False, reconnect_timeout=0.2)
        await pool.connect()
        acked: list[int] = []
        failed_writes: list[str] = []
        reads = [0, 0]  # ok, failed
        keys = iter(range(1_000_000, 10_000_000))
        stop = False

        async def user(i: int) -> None:
            n = i
            while not stop:
                n += 1
                if i % 5 == 0:
                    k = next(keys)
                    try:
                        await pool.crud.insert_object(
                            "customers", {"id": k, "name": "w", "age": 1}, timeout=2)
                    except Exception as e:  # noqa: BLE001 - counted
                        failed_writes.append(str(e))
                        await asyncio.sleep(0.01)
                    else:
                        acked.append(k)
                else:
                    began = time.monotonic() - t0
                    try:
                        res = await pool.crud.get("customers", [1 + (n * 7919) % 2000],
                                                  timeout=2)
                        assert len(res) == 1
                        reads[0] += 1
                        ok_at.append(time.monotonic() - t0)
                    except Exception as e:  # noqa: BLE001 - counted
                        reads[1] += 1
                        failed_at.append(began)   # when the failed read was sent
                        why = str(e)
                        kind = ("crud's router: no connection to the new set yet"
                                if "attempt to index field 'conn'" in why else
                                "a bucket being moved"
                                if "Failed to call get on storage-side" in why
                                or isinstance(e, asyncio.TimeoutError)
                                else why[:200])
                        read_errors[kind] = read_errors.get(kind, 0) + 1
                        await asyncio.sleep(0.01)

        users = [asyncio.create_task(user(i)) for i in range(300)]
        await asyncio.sleep(0.5)
        added.append(time.monotonic() - t0)
        await asyncio.to_thread(c.add_shard)
        added.append(time.monotonic() - t0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the buckets are even
            counts = timeline[-1][1] if timeline else []
            if len(counts) == 3 and max(counts) - min(counts) <= 2:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        stop = True
        await asyncio.gather(*users)
        missing = await unread_keys(pool, acked)
        await pool.disconnect()
        return acked, missing, failed_writes, reads[0], reads[1]

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        acked, missing, failed_writes, reads_ok, reads_failed = asyncio.run(load())
    finally:
        done.set()
        sampler.join(timeout=30)
    moved = [(t, counts) for t, counts in timeline if len(counts) == 3]
    assert moved and moved[-1][1] == [100, 100, 100], timeline[-5:]
    first = next(t for t, counts in moved if counts[2] > 0)
    even = next(t for t, counts in moved if max(counts) - min(counts) <= 2)
    assert len(acked) > 1000
    assert missing == 0, f"{missing} of {len(acked)} acknowledged inserts lost"
    assert reads_ok > 5000
    # Reads of existing keys go on, but not all of them: on 3.8 with crud 1.7.5 they fail
    # while the routers reload the config and the buckets move - crud's router indexes the new
    # replica set's connection before it exists ("attempt to index field 'conn'", fast
    # failures, most of them), and a read of a bucket being moved fails on the storage side
    # ("Failed to get router replicaset": vshard's TRANSFER_IS_IN_PROGRESS, code 9, or
    # "Couldn't figure out the replicaset"), or waits on it beyond the read's 2 s timeout (the
    # router retries a bucket in transfer; CI's 2-core machine, busy with five instances and
    # 300 users, saw 114 such timeouts in one run).
    # Asserted: nothing else, only for reads sent from the join until shortly after the
    # buckets are even, and successful reads in every quarter second all along.
    assert set(read_errors) <= {"crud's router: no connection to the new set yet",
                                "a bucket being moved"}, read_errors
    if failed_at:
        assert added[0] - 0.1 <= min(failed_at) and max(failed_at) <= even + 1.5, (
            added, even, min(failed_at), max(failed_at))
    quarters = {int(t * 4) for t in ok_at}
    assert set(range(int(ok_at[0] * 4), int(ok_at[-1] * 4))) <= quarters
    assert reads_failed < 0.5 * reads_ok, (reads_failed, read_errors)
    safe_after = c.crud_safe_mode()
    # crud 1.7 turns its rebalance safe mode on for bucket moves (and the bootstrap left it
    # on): every storage request checks its bucket, which is what keeps the reads right
    assert all(safe_after), safe_after
    print(f"rebalance: joined {added[0]:.2f}-{added[1]:.2f} s, buckets on the new set from "
          f"{first:.2f} s, even ({moved[-1][1]}) at {even:.2f} s; {reads_ok:,} reads ok, "
          f"{reads_failed:,} failed {read_errors} "
          f"({min(failed_at or [0]):.2f}-{max(failed_at or [0]):.2f} s); {len(acked):,} "
          f"acknowledged inserts, 0 lost ({len(failed_writes)} failed); crud safe mode "
          f"{safe_before} -> {safe_after}; timeline {[c for _, c in timeline][::5]}")


def test_the_result_shows_the_move(cluster: ShardedCluster, tmp_path: Path) -> None:
    """The harness on the same cluster (``server: {config: ...}``) while a fourth replica set
    joins: the window's ``buckets_timeline`` has the buckets per storage twice a second, the
    new set among them once the config names it, and the report draws them."""
    import subprocess

    from tests.harness.conftest import loadtnt_cmd, read_json, write_scenario

    c = cluster
    before = len(c.storage_names)
    path = write_scenario(tmp_path, f"""
        drivers: [loadtnt]
        concurrency: 100
        warmup: 0
        duration: 4s
        server: {{config: {c.config_path}, user: {c.username}}}
        operations:
          - {{op: crud.get, space: customers, key: {{uniform: [1, 2000]}}, weight: 4}}
          - {{op: crud.insert_object, space: customers, object: {{id: {{sequential: 20000000}}, name: r, age: 2}}}}
        """)
    out = tmp_path / "move.json"
    proc = subprocess.Popen(loadtnt_cmd("run", path, "--out", out), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        calls = "return box.stat().CALL.total"
        base = c.eval("router-1", calls)[0]
        deadline = time.monotonic() + 60
        while c.eval("router-1", calls)[0] < base + 2000 and time.monotonic() < deadline:
            time.sleep(0.02)  # the load (the window) has begun
        new = c.add_shard()
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout + stderr
    res = read_json(out)
    (window,) = res["server"]
    points = window["buckets_timeline"]
    assert len(points) >= 6, points
    first, last = points[0]["buckets"], points[-1]["buckets"]
    assert len(first) == before and new not in first
    assert new in last and len(last) == before + 1, last
    assert sum(first.values()) == sum(last.values()) == c.bucket_count
    assert max(last.values()) - min(last.values()) <= 2, last  # even again: the move is over
    rising = [p["buckets"].get(new, 0) for p in points]
    assert rising == sorted(rising) and rising[-1] > 0
    for e in res["runs"]:  # reads and writes went on through the move
        assert all(p["requests"] > p["errors"] for p in e["timeline"] if p["t_s"] >= 0), e
    rep = subprocess.run(loadtnt_cmd("report", out, "--out", tmp_path / "rep"), cwd=ROOT,
                         capture_output=True, text=True, timeout=180, check=False)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert (tmp_path / "rep" / "storages.png").is_file()
    print("buckets over time:", [(p["t_s"], p["buckets"]) for p in points])
