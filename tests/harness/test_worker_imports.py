"""The worker side stays light: it may run under another driver's interpreter and packages."""
from __future__ import annotations

import subprocess
import sys

from tests.harness.conftest import ROOT

CODE = """
import sys
import loadtnt.worker.main
from loadtnt import drivers
for name in drivers.available():
    drivers.load(name)  # adapter modules import their driver lazily
heavy = sorted(m for m in sys.modules
               if m.split('.')[0] in ('yaml', 'asynctnt', 'aiotarantool', 'uvloop', 'msgpack')
               or m.startswith('loadtnt.driver.') or m == 'loadtnt.driver')
print(heavy)
"""


def test_worker_and_adapters_import_no_driver_and_no_yaml() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"
