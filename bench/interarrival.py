#!/usr/bin/env python3
"""Server-side inter-arrival times of an open-loop run (issue 14, item 2).

A real Tarantool records ``clock.monotonic()`` as each call arrives; the harness of a checkout
(``TREE``, default this one) runs ``bench/interarrival.yaml`` (2,000 calls/s, 1 s warm-up and
3 s measured) against it with ``--server``. The gaps of the measured part are summarised in Lua:
the share under 20 µs (a burst) and percentiles, against the 500 µs the schedule intends.

Example (the harness as it was, against the harness as it is, A B A B)::

    for t in /tmp/before . /tmp/before .; do .venv/bin/python bench/interarrival.py $t; done
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loadtnt.instance import TarantoolInstance
from tests import _testbase as tb

SERVER_LUA = tb.ADMIN_LUA + """
box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
iat = {}
local clock = require('clock')
function arrive() iat[#iat + 1] = clock.monotonic() return true end
box.schema.func.create('arrive', {if_not_exists = true})
"""

SUMMARY_LUA = """
local t, gaps, short = iat, {}, 0
local last = t[#t]
for i = 2, #t do if t[i] >= last - 3 then gaps[#gaps + 1] = (t[i] - t[i - 1]) * 1e6 end end
table.sort(gaps)
for _, g in ipairs(gaps) do if g < 20 then short = short + 1 end end
local function q(p) return gaps[math.max(1, math.floor(#gaps * p))] end
return #t, #gaps, short / #gaps, q(0.1), q(0.5), q(0.9), q(0.99)
"""


def main() -> int:
    tree = Path(sys.argv[1] if len(sys.argv) > 1 else REPO).resolve()
    with TarantoolInstance(lua=SERVER_LUA) as tnt, tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "loadtnt", "run", str(REPO / "bench" / "interarrival.yaml"),
             "--server", f"{tnt.host}:{tnt.port}", "--out", str(Path(tmp) / "result.json")],
            cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)), capture_output=True, text=True,
            timeout=120, check=False)
        if proc.returncode not in (0, 99):
            print(proc.stdout[-2000:], proc.stderr[-2000:])
            return proc.returncode
        calls, n, short, p10, p50, p90, p99 = tb.admin_eval(tnt, SUMMARY_LUA)
    print(f"{tree}: {calls} calls, {n} gaps measured: {short:.1%} under 20 us; "
          f"p10 {p10:.0f} p50 {p50:.0f} p90 {p90:.0f} p99 {p99:.0f} us (schedule: 500 us)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
