"""loadtnt installed from a wheel or an sdist works anywhere, not only in its checkout.

Each test runs the installed ``loadtnt`` command from a temporary directory, with no PYTHONPATH,
so nothing of the source tree is in reach: the embedded server's Lua and the built-in scenarios
must come from the package. Slow (each build compiles the Cython extensions): one wheel and one
sdist per session.
"""
from __future__ import annotations

import json
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, Venv

pytestmark = pytest.mark.timeout(1200)

LUA = sorted(p.name for p in (ROOT / "tarantool").glob("*.lua"))
SCENARIOS = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))
EXTENSIONS = ("loadtnt/driver/iproto/protocol", "loadtnt/histogram/_recorder",
              "loadtnt/worker/_hotloop", "loadtnt/worker/_cloop")

SHORT = """
    name: installed-smoke
    drivers: [loadtnt, loadtnt-c]
    loops: [asyncio]
    workers: 1
    concurrency: 20
    warmup: 0
    duration: 1s
    before: prepare(100)
    operations:
      - op: ping
      - op: select
        space: tester
        key: {uniform: [1, 100]}
"""


def test_wheel_carries_the_lua_the_scenarios_and_the_extensions(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert LUA and SCENARIOS
    for lua in LUA:
        assert f"loadtnt/server/lua/{lua}" in names
    for sc in SCENARIOS:
        assert f"loadtnt/scenario/builtin/{sc}" in names
    for ext in EXTENSIONS:
        assert any(n.startswith(ext + ".") and n.endswith(".so") for n in names), ext
    # the generated C (8 MB) is built into the .so files: not shipped
    assert not [n for n in names if n.endswith(".c")]
    # the packaged copies are the sources, byte for byte
    with zipfile.ZipFile(wheel) as z:
        assert z.read("loadtnt/server/lua/bench.lua") == (ROOT / "tarantool/bench.lua").read_bytes()


def test_sdist_carries_the_top_level_sources(sdist: Path) -> None:
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for lua in LUA:
        assert f"tarantool/{lua}" in names
    for sc in SCENARIOS:
        assert f"scenarios/{sc}" in names
    for f in ("setup.py", "pyproject.toml", "MANIFEST.in", "loadtnt/driver/iproto/protocol.pyx",
              "loadtnt/histogram/_recorder.pyx", "loadtnt/worker/_hotloop.pyx"):
        assert f in names, f


def _installed_package_dir(v: Venv, cwd: Path) -> Path:
    proc = v.run("python", "-c", "import loadtnt; print(loadtnt.__file__)", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip()).parent


def test_wheel_runs_a_scenario_file_and_reports_it_from_anywhere(wheel_venv: Venv,
                                                                  tmp_path: Path) -> None:
    pkg = _installed_package_dir(wheel_venv, tmp_path)
    assert wheel_venv.root in pkg.parents  # the installed copy, not the checkout
    (tmp_path / "smoke.yaml").write_text(textwrap.dedent(SHORT).lstrip())

    proc = wheel_venv.run("loadtnt", "run", "smoke.yaml", "--out", "out/smoke.json",
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ping" in proc.stdout and "select" in proc.stdout  # the summary table
    data = json.loads((tmp_path / "out/smoke.json").read_text())
    runs = {(r["driver"], r["op"]): r for r in data["runs"]}
    # the coroutine path and the C load loop (the installed _cloop extension)
    assert set(runs) == {(d, op) for d in ("loadtnt", "loadtnt-c") for op in ("ping", "select")}
    for r in runs.values():
        assert r["loop"] == "asyncio"
        assert r["requests"] > 100 and r["errors"] == 0
    # the server counted what the harness did: it ran with the packaged bench.lua (prepare())
    for window in data["server"]:
        assert window["delta"]["SELECT"] == runs[window["driver"], "select"]["requests"]
    env = data["environment"]
    assert env["commit"] is None  # an installed copy is no checkout
    assert env["tarantool"]["version"]

    proc = wheel_venv.run("loadtnt", "report", "out/smoke.json", "--out", "rep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (tmp_path / "rep/report.html").read_text()
    assert "select" in html and "<img" in html
    assert (tmp_path / "rep/summary.md").is_file()
    assert list((tmp_path / "rep").glob("*.png"))


def test_wheel_lists_and_runs_built_in_scenarios_by_name(wheel_venv: Venv,
                                                         tmp_path: Path) -> None:
    proc = wheel_venv.run("loadtnt", "scenarios", "--paths", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for sc in SCENARIOS:
        assert sc[:-5] in proc.stdout
    assert "ping, call, eval" in proc.stdout  # seed's description
    pkg = _installed_package_dir(wheel_venv, tmp_path)
    assert str(pkg / "scenario" / "builtin" / "seed.yaml") in proc.stdout

    proc = wheel_venv.run("loadtnt", "run", "seed", "--drivers", "loadtnt", "--loops", "asyncio",
                          "--trials", "1", "--warmup", "0", "--duration", "0.3s",
                          "--concurrency", "20", "--out", "seed.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "seed.json").read_text())
    assert data["scenario"]["name"] == "seed"
    assert [r["op"] for r in data["runs"]] == ["ping", "call", "eval", "select", "insert",
                                               "update"]
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in data["runs"])

    proc = wheel_venv.run("loadtnt", "run", "no-such-scenario", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no built-in scenario of that name" in proc.stderr and "seed" in proc.stderr


def test_sdist_installs_and_runs_a_built_in_scenario(sdist_venv: Venv, tmp_path: Path) -> None:
    pkg = _installed_package_dir(sdist_venv, tmp_path)
    assert sdist_venv.root in pkg.parents
    assert (pkg / "server/lua/bench.lua").is_file()
    proc = sdist_venv.run("loadtnt", "scenarios", cwd=tmp_path)
    assert proc.returncode == 0 and "open-loop" in proc.stdout, proc.stderr
    proc = sdist_venv.run("loadtnt", "run", "seed", "--drivers", "loadtnt", "--loops", "uvloop",
                          "--trials", "1", "--warmup", "0", "--requests", "2000",
                          "--concurrency", "20", "--out", "seed.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "seed.json").read_text())
    assert all(r["requests"] == 2000 and r["errors"] == 0 for r in data["runs"])
    # the compiled recorder and hot loop were built and are used (no slow-path warning)
    assert not any("recorder is not built" in w for w in data["warnings"])


# --- issue 21: `pip install loadtnt`, no extras -------------------------------------------------

T38 = ROOT.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"
# the environment of a new user: none of the checkout's variables
NEWCOMER = {"LOADTNT_TARANTOOL_3": None, "LOADTNT_AIOTARANTOOL_PYTHON": None,
            "XDG_DATA_HOME": None, "TARANTOOL": None}
QUICK = ("--trials", "1", "--warmup", "0", "--duration", "0.3s", "--concurrency", "20")


def _one_line_error(proc, *needles: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("loadtnt: error: "), line
    for n in needles:
        assert n in line, (n, line)
    return line


def test_bare_install_runs_seed_with_the_drivers_it_has(bare_venv: Venv, tmp_path: Path) -> None:
    proc = bare_venv.run("loadtnt", "run", "seed", "--loops", "asyncio", *QUICK, "--out",
                         "seed.json", cwd=tmp_path, env=NEWCOMER)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    err = proc.stderr
    # each skipped driver once, with the exact command that adds it
    assert err.count("asynctnt: skipped") == 1
    assert "pip install 'loadtnt[compare]'" in err
    assert err.count("aiotarantool: skipped") == 1
    assert "build it with `loadtnt aiotarantool-env`" in err
    assert "make aiotarantool-env" not in err and "site-packages" not in err
    assert "ModuleNotFoundError" not in err
    data = json.loads((tmp_path / "seed.json").read_text())
    assert {r["driver"] for r in data["runs"]} == {"loadtnt"}
    assert len(data["runs"]) == 6 and all(r["errors"] == 0 for r in data["runs"])


def test_bare_install_takes_the_3x_server_from_a_variable_not_site_packages(
        bare_venv: Venv, tmp_path: Path) -> None:
    # Debian's 2.6 on PATH and no variable: the built-in transaction scenario says what to set
    proc = bare_venv.run("loadtnt", "run", "transaction", *QUICK, cwd=tmp_path, env=NEWCOMER)
    line = _one_line_error(proc, "LOADTNT_TARANTOOL_3", "--tarantool", "PATH")
    why = line.split("transaction.yaml: ", 1)[1]  # after the scenario file's own path
    assert why.startswith("servers: no server set-up can run: server '3.x': no Tarantool 3.x")
    assert "site-packages" not in why and "shared" not in why
    if not T38.exists():
        pytest.skip(f"no Tarantool 3.8 at {T38} to run it with")
    proc = bare_venv.run("loadtnt", "run", "transaction", *QUICK, "--out", "t.json",
                         cwd=tmp_path, env={**NEWCOMER, "LOADTNT_TARANTOOL_3": str(T38)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("asynctnt: skipped") == 1
    data = json.loads((tmp_path / "t.json").read_text())
    (server,) = data["environment"]["servers"].values()
    assert server["binary"] == str(T38) and server["version"].startswith("3.")
    assert {r["op"] for r in data["runs"]} >= {"transfer", "select"}


def test_bare_install_commands_that_need_an_extra_say_so(bare_venv: Venv,
                                                         tmp_path: Path) -> None:
    (tmp_path / "smoke.yaml").write_text(textwrap.dedent(SHORT).lstrip())
    proc = bare_venv.run("loadtnt", "run", "smoke.yaml", "--out", "a.json", cwd=tmp_path,
                         env=NEWCOMER)
    assert proc.returncode == 0, proc.stderr
    _one_line_error(bare_venv.run("loadtnt", "report", "a.json", cwd=tmp_path),
                    "matplotlib", "pip install 'loadtnt[report]'")
    _one_line_error(bare_venv.run("loadtnt", "run", "smoke.yaml", "--cluster",
                                  "tcp://127.0.0.1:1", cwd=tmp_path),
                    "pip install 'loadtnt[cluster]'")
    _one_line_error(bare_venv.run("loadtnt", "run", "smoke.yaml", "--dashboard", "0",
                                  cwd=tmp_path), "pip install 'loadtnt[live]'")
    # compare and check need no extra
    proc = bare_venv.run("loadtnt", "compare", "a.json", "a.json", cwd=tmp_path)
    assert proc.returncode == 0 and "ping" in proc.stdout, proc.stderr
    # nothing was left under site-packages by the runs
    pkg = _installed_package_dir(bare_venv, tmp_path)
    assert not list(pkg.parent.glob("results")) and not list(pkg.parent.glob("shared"))


def test_readme_install_block_runs_as_written(wheel_venv: Venv, wheel: Path,
                                              tmp_path: Path) -> None:
    """README's "Installed, outside the checkout" block. Its first line is what the
    ``wheel_venv`` fixture did (a venv, then pip install of the wheel with [report]); the others
    run in that venv as written, from a temporary directory instead of /tmp, the seed run
    shortened (--loops uvloop --warmup 0 --duration 0.3s)."""
    import re
    import subprocess

    readme = (ROOT / "README.md").read_text()
    (script,) = re.findall(r"```sh\n(python -m venv /tmp/lt .*?)```", readme, re.DOTALL)
    lines = script.strip().splitlines()
    assert lines[0] == ("python -m venv /tmp/lt && /tmp/lt/bin/pip install "
                        "'/path/to/loadtnt[report]'")
    rest = "\n".join(lines[1:]).replace("/tmp/lt", str(wheel_venv.root))
    rest = rest.replace("cd /tmp &&", f"cd {tmp_path} &&")
    rest = rest.replace("--trials 1", "--trials 1 --loops uvloop --warmup 0 --duration 0.3s")
    proc = subprocess.run(["bash", "-e", "-c", rest], cwd=tmp_path, env=wheel_venv.env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seed" in proc.stdout and (tmp_path / "seed.json").is_file()
    assert (tmp_path / "seed-report" / "report.html").is_file()


def test_bare_install_builds_aiotarantools_venv_and_measures_it(bare_venv: Venv,
                                                                tmp_path: Path) -> None:
    """The command the skip message names, from the installed package (no Makefile): its venv
    then runs aiotarantool's workers, with msgpack's C extension."""
    env_dir = tmp_path / "aiotnt"
    proc = bare_venv.run("loadtnt", "aiotarantool-env", "--venv", env_dir, cwd=tmp_path,
                         env=NEWCOMER, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    python = env_dir / "bin" / "python"
    assert f"LOADTNT_AIOTARANTOOL_PYTHON={python}" in proc.stdout
    proc = bare_venv.run("loadtnt", "run", "seed", "--drivers", "aiotarantool", "--loops",
                         "asyncio", *QUICK, "--out", "a.json", cwd=tmp_path,
                         env={**NEWCOMER, "LOADTNT_AIOTARANTOOL_PYTHON": str(python)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "a.json").read_text())
    assert {r["driver"] for r in data["runs"]} == {"aiotarantool"}
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in data["runs"])
    version = data["environment"]["drivers"]["aiotarantool"]
    assert version.startswith("1.1.5") and "msgpack-python 0.5.6 C" in version
    # the worker ran the installed loadtnt (through the venv's link), not a checkout
    assert data["environment"]["worker_python"]["aiotarantool"]
