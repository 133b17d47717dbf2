"""The README's driver example runs as written against a real Tarantool (only the port differs)."""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_driver_example(tnt):
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    assert "from loadtnt import driver" in block and "port=3301" in block
    code = block.replace("port=3301", f"port={tnt.port}")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["hello1", "10"]
