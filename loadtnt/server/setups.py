"""Server set-ups checked before any load: the binary is there, and it takes the box.cfg options.

:func:`check` runs each set-up's binary once on a throw-away box (``pcall(box.cfg, ...)`` in a
temporary directory, no listen) with exactly the options its embedded server will get, so that
an option a Tarantool version does not know (``iproto_threads`` on 2.6) or a value it refuses is
one clear error naming the option and the set-up, before the first server starts. An
``optional`` set-up whose binary is missing is skipped with a warning instead.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from loadtnt.instance import TarantoolInstanceError, lua_literal, version
from loadtnt.scenario.model import Scenario, ScenarioError, ServerSetup
from loadtnt.server.embedded import BOX_CFG, MEMTX_MEMORY

PROBE_TIMEOUT = 30.0
_OPTION_RE = re.compile(r"Incorrect value for option '([^']+)'")

_PROBE_LUA = """
local ok, err = pcall(box.cfg, {options})
if ok then
    io.stdout:write('loadtnt-probe ok\\n')
else
    io.stdout:write('loadtnt-probe error\\t', tostring(err), '\\n')
end
io.stdout:flush()
os.exit(0)
"""


class ServerSetupError(ScenarioError):
    """A set-up that cannot run: exit code 2, like any bad scenario."""


@dataclass(frozen=True)
class Checked:
    setup: ServerSetup
    binary: str  # the executable's absolute path
    version: str  # as ``tarantool --version`` says, e.g. '2.6.0-0-g47aa4e01e'


def short_version(full: str) -> str:
    """'2.6.0-0-g47aa4e01e' -> '2.6.0'."""
    return full.split("-", 1)[0]


TARANTOOL_3 = "LOADTNT_TARANTOOL_3"  # the built-in scenarios' Tarantool 3.x


def find_binary(binary: str) -> tuple[str | None, str]:
    """A set-up's binary as an absolute path, or None and why it is not there.

    ``$VAR``: the path the environment variable holds. :data:`TARANTOOL_3` (the built-in
    scenarios' 3.x server), when unset: a ``tarantool`` on PATH that is 3.x, else, in a checkout,
    ``../shared/tarantool-3.8/bin/tarantool`` next to it (the Makefile's TARANTOOL_3)."""
    if binary.startswith("$"):
        var = binary[1:]
        value = os.environ.get(var)
        if value:
            found = shutil.which(os.path.expanduser(value))
            return (os.path.abspath(found), "") if found else \
                (None, f"{var}={value}: no such executable")
        if var == TARANTOOL_3:
            on_path = shutil.which("tarantool")
            if on_path:
                with contextlib.suppress(TarantoolInstanceError):
                    if version_tuple(version(on_path))[:1] >= (3,):
                        return os.path.abspath(on_path), ""
            from loadtnt.compat.aiotarantool_env import checkout

            repo = checkout()
            if repo is not None:
                shared = repo.parent / "shared" / "tarantool-3.8" / "bin" / "tarantool"
                if os.access(shared, os.X_OK):
                    return str(shared), ""
            return None, (f"no Tarantool 3.x: set {var}=/path/to/tarantool, put a 3.x "
                          "`tarantool` on PATH, or give --tarantool PATH")
        return None, f"the environment variable {var} (the Tarantool binary) is not set"
    found = shutil.which(binary)
    if found is None:
        return None, (f"Tarantool binary {binary!r} not found"
                      + ("" if os.sep in binary else " on PATH"))
    return os.path.abspath(found), ""


def check(setups: Sequence[ServerSetup], *, path: str | None = None,
          field_prefix: str = "servers") -> tuple[list[Checked], list[str]]:
    """The set-ups that will run (in order) and warnings for the optional ones skipped.

    Raises :class:`ServerSetupError` (naming the scenario file, the set-up and the option) for
    a binary that is missing or does not run, or options it does not accept.
    """
    checked: list[Checked] = []
    skipped: list[str] = []
    for i, setup in enumerate(setups):
        where = f"{field_prefix}[{i}]" if len(setups) > 1 or setup.name != "embedded" else "server"
        binary, why = find_binary(setup.binary)
        if binary is None:
            what = f"server {setup.name!r}: {why}"
            if setup.optional:
                skipped.append(f"{what}: skipped (optional)")
                continue
            raise ServerSetupError(what, path=path, field=f"{where}.binary")
        if setup.sharded is not None:
            from loadtnt.server.sharded import ModulesNotFoundError, find_modules

            try:
                find_modules()
            except ModulesNotFoundError as e:
                what = f"server {setup.name!r}: a sharded cluster needs {e}"
                if setup.optional:
                    skipped.append(f"{what}: skipped (optional)")
                    continue
                raise ServerSetupError(what, path=path, field=f"{where}.sharded") from None
        try:
            full = version(binary)
        except TarantoolInstanceError as e:
            raise ServerSetupError(f"server {setup.name!r}: {e}", path=path,
                                   field=f"{where}.binary") from None
        problem = probe_cfg(binary, setup.cfg)
        if problem is not None:
            option, reason = problem
            label = f"server {setup.name!r} (Tarantool {short_version(full)}, {binary})"
            if option is None:
                raise ServerSetupError(f"{label}: box.cfg failed: {reason}", path=path,
                                       field=f"{where}.cfg")
            ours = option not in setup.cfg
            given = "" if ours else f" = {setup.cfg[option]!r}"
            raise ServerSetupError(
                f"{label} does not accept box.cfg option {option}{given}: Tarantool says "
                f"\"{reason}\"" + (" (an option the harness sets itself)" if ours else ""),
                path=path, field=f"{where}.cfg.{option}" if not ours else f"{where}.binary")
        checked.append(Checked(setup, binary, full))
    if not checked:
        raise ServerSetupError("no server set-up can run: " + "; ".join(skipped), path=path,
                               field=field_prefix)
    return checked, skipped


STREAMS_SINCE = (2, 10)  # IPROTO streams and interactive transactions


def version_tuple(full: str) -> tuple[int, ...]:
    """'2.6.0-0-g47aa4e01e' -> (2, 6, 0); () when it does not parse."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", full.strip())
    return tuple(int(x) for x in m.groups() if x is not None) if m else ()


def check_streams(s: Scenario, full_version: str, server: str) -> None:
    """A ``transaction`` op on a server without streams (before 2.10) is a scenario error that
    names the op (its file, line and field), raised before any load."""
    txns = s.transactions
    have = version_tuple(full_version)
    if not txns or not have or have >= STREAMS_SINCE:
        return
    op = txns[0]
    raise ServerSetupError(
        f"op 'transaction' ({op.name!r}) needs streams, Tarantool "
        f"{'.'.join(map(str, STREAMS_SINCE))} or newer; server {server!r} is Tarantool "
        f"{short_version(full_version)}", path=s.path, line=op.line,
        field=op.where or "operations")


def with_mvcc(s: Scenario, checked: Checked) -> Checked:
    """A scenario with a transaction gets ``memtx_use_mvcc_engine: true`` on its embedded
    servers unless a set-up's cfg says otherwise: without it memtx aborts a transaction that
    spans requests ("Transaction has been aborted by a fiber yield")."""
    cfg = checked.setup.cfg
    if not s.transactions or "memtx_use_mvcc_engine" in cfg:
        return checked
    setup = dataclasses.replace(checked.setup, cfg={**cfg, "memtx_use_mvcc_engine": True})
    return dataclasses.replace(checked, setup=setup)


def probe_cfg(binary: str, cfg: dict[str, object]) -> tuple[str | None, str] | None:
    """None if ``binary`` takes the embedded server's box.cfg with ``cfg`` over it; else
    ``(option or None, reason)``."""
    with tempfile.TemporaryDirectory(prefix="loadtnt-probe-") as tmp:
        options = {"work_dir": tmp, "log": os.path.join(tmp, "probe.log"),
                   "wal_mode": "none", "memtx_memory": MEMTX_MEMORY, "checkpoint_interval": 0,
                   **BOX_CFG, **cfg}
        script = os.path.join(tmp, "probe.lua")
        with open(script, "w", encoding="utf-8") as f:
            f.write(_PROBE_LUA.replace("{options}", lua_literal(options)))
        try:
            proc = subprocess.run([binary, script], cwd=tmp, capture_output=True, text=True,
                                  timeout=PROBE_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, f"the probe did not finish within {PROBE_TIMEOUT:g} s"
        except OSError as e:
            return None, f"cannot run {binary}: {e.strerror}"
    for line in proc.stdout.splitlines():
        if line == "loadtnt-probe ok":
            return None
        if line.startswith("loadtnt-probe error\t"):
            message = line.split("\t", 1)[1]
            m = _OPTION_RE.search(message)
            return (m.group(1) if m else None), message
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return None, f"exited with code {proc.returncode}: " + " / ".join(tail)
