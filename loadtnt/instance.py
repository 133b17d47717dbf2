"""Start and stop a throw-away Tarantool server for tests and the harness.

``TarantoolInstance`` writes an ``init.lua`` into a temporary work directory, runs
``tarantool`` on it as a subprocess in its own process group, and returns once the
server answers a connection with its 128-byte IProto greeting. Example::

    with TarantoolInstance(lua="box.schema.space.create('s')") as tnt:
        conn = Connection(host=tnt.host, port=tnt.port)

The generated script configures box (``wal_mode='none'``, a modest ``memtx_memory``,
``work_dir`` in the temp dir) *without* ``listen``, then runs the extra Lua (``lua=``
text and/or ``init_script=`` path), and only then starts listening. So once
``start()`` returns, whatever the extra Lua created already exists.

For a unix socket (``unix_socket=True`` or ``unix_path=...``) ``host`` is
``'unix/'`` and ``port`` is the socket path, the pair asynctnt's ``Connection``
takes; ``unix_path`` gives the path alone.

Pure Python, standard library only.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self

__all__ = (
    "GREETING_SIZE",
    "TarantoolInstance",
    "TarantoolInstanceError",
    "free_port",
    "version",
    "version_tuple",
)

GREETING_SIZE = 128
DEFAULT_MEMTX_MEMORY = 256 * 1024 * 1024
_LOG_NAME = "tarantool.log"
_INIT_NAME = "init.lua"
_SOCKET_NAME = "tarantool.sock"
_VERSION_RE = re.compile(r"Tarantool\s+(\S+)")

# Instances started by this process that are still running: stopped at interpreter
# exit so that a crashed test run leaves no orphan servers behind.
_live: set[TarantoolInstance] = set()
_live_lock = threading.Lock()


class TarantoolInstanceError(RuntimeError):
    """The server could not be started or stopped; the message ends with its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def version(binary: str = "tarantool") -> str:
    """The server's version string, e.g. ``'2.6.0-0-g47aa4e01e'``."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise TarantoolInstanceError(f"cannot run {binary!r} --version: {exc}") from exc
    match = _VERSION_RE.search(out)
    if match is None:
        raise TarantoolInstanceError(f"unexpected output of {binary!r} --version: {out[:200]!r}")
    return match.group(1)


def version_tuple(binary: str = "tarantool") -> tuple[int, ...]:
    """The numeric part of the version, e.g. ``(2, 6, 0)``."""
    numeric = re.match(r"[\d.]+", version(binary))
    assert numeric is not None  # _VERSION_RE guarantees a leading version token
    return tuple(int(part) for part in numeric.group(0).strip(".").split("."))


def lua_literal(value: Any) -> str:
    """Render a Python scalar, list or dict as a Lua literal (for box.cfg options)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
        )
        return f"'{escaped}'"
    if isinstance(value, Mapping):
        items = ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    raise TypeError(f"cannot render {type(value).__name__} as a Lua literal")


class TarantoolInstance:
    """One Tarantool server process on 127.0.0.1 (a free TCP port) or a unix socket.

    Keyword arguments:
      host, port      TCP address to listen on; ``port=None`` picks a free port once
                      and keeps it across ``restart()``.
      unix_socket     listen on a unix socket in the work dir instead of TCP;
      unix_path       ... or on this socket path.
      lua             Lua text run after the first ``box.cfg`` and before ``listen``.
      init_script     path of a Lua file run (``dofile``) at the same point, before ``lua``.
      cfg             extra ``box.cfg`` options (e.g. ``{'readahead': 1 << 20}``).
      memtx_memory    bytes; 256 MB by default.
      work_dir        directory for init.lua, the log and box files; a fresh temp dir
                      (removed by ``cleanup()``) when omitted.
      start_timeout   seconds to wait for the greeting.
      stop_timeout    seconds between SIGTERM and SIGKILL in ``stop()``.
      binary          the tarantool executable; default: $TARANTOOL, else ``tarantool``.
      keep_files      keep the snapshot and WAL files across ``restart()`` (a real restart
                      that recovers its data, e.g. a replica set member with
                      ``wal_mode='write'``); by default every start is a fresh server.
      argv            run this command line (in the work dir) instead of writing and running
                      the generated init.lua: for an instance that configures itself (a
                      script of its own, ``tarantool --name NAME --config FILE``); ``port``
                      must then be the port it listens on.
      env             extra environment variables of the server process (e.g. LUA_PATH).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        unix_socket: bool = False,
        unix_path: str | None = None,
        lua: str = "",
        init_script: str | os.PathLike[str] | None = None,
        cfg: Mapping[str, Any] | None = None,
        memtx_memory: int = DEFAULT_MEMTX_MEMORY,
        work_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        binary: str | None = None,
        keep_files: bool = False,
        argv: list[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._tcp_host = host
        self._fixed_port = port
        self._port: int | None = port
        self._unix = bool(unix_socket or unix_path)
        self._unix_path = str(unix_path) if unix_path else None
        self.lua = lua  # public: a fault test may change it before restart()
        self._init_script = os.fspath(init_script) if init_script is not None else None
        self._cfg = dict(cfg or {})
        self._memtx_memory = int(memtx_memory)
        self._own_work_dir = work_dir is None
        self._work_dir = os.fspath(work_dir) if work_dir is not None else None
        self.start_timeout = float(start_timeout)
        self.stop_timeout = float(stop_timeout)
        # the server under test: TARANTOOL names it (make test runs the driver
        # suite twice, on Debian's 2.6 and on 3.8), else tarantool on PATH
        self.binary = binary or os.environ.get("TARANTOOL") or "tarantool"
        self.keep_files = bool(keep_files)
        self._argv = list(argv) if argv is not None else None
        self._env = dict(env) if env is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # --- addresses ------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``'127.0.0.1'`` (or the host given), or ``'unix/'`` for a unix socket."""
        return "unix/" if self._unix else self._tcp_host

    @property
    def port(self) -> int | str | None:
        """The TCP port, or the socket path for a unix socket (asynctnt's convention)."""
        if self._unix:
            return self.unix_path
        return self._port

    @property
    def unix_path(self) -> str | None:
        """The unix socket path, or None when listening on TCP."""
        if not self._unix:
            return None
        if self._unix_path is None and self._work_dir is not None:
            self._unix_path = os.path.join(self._work_dir, _SOCKET_NAME)
        return self._unix_path

    @property
    def listen_uri(self) -> str:
        """The value given to ``box.cfg{listen=...}``."""
        if self._unix:
            return f"unix/:{self.unix_path}"
        return f"{self._tcp_host}:{self._port}"

    @property
    def work_dir(self) -> str | None:
        return self._work_dir

    @property
    def log_path(self) -> str | None:
        return os.path.join(self._work_dir, _LOG_NAME) if self._work_dir else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running else "stopped"
        return f"<TarantoolInstance {self.listen_uri if self._work_dir else '?'} {state}>"

    # --- init.lua -------------------------------------------------------------------

    def render_init_lua(self) -> str:
        """The generated init.lua: box.cfg, the extra Lua, then listen."""
        cfg: dict[str, Any] = {
            "work_dir": self._work_dir,
            "wal_mode": "none",
            "memtx_memory": self._memtx_memory,
            "checkpoint_interval": 0,
            # the feedback daemon, on by default, would report to the internet
            "feedback_enabled": False,
        }
        cfg.update(self._cfg)
        cfg.pop("listen", None)  # listen comes last, see the module docstring
        options = ",\n    ".join(f"{key} = {lua_literal(val)}" for key, val in cfg.items())
        parts = [
            "-- generated by loadtnt.instance; edits are overwritten on start",
            f"box.cfg{{\n    {options},\n}}",
        ]
        if self._init_script is not None:
            parts.append(f"dofile({lua_literal(os.path.abspath(self._init_script))})")
        if self.lua:
            parts.append(self.lua)
        parts.append(f"box.cfg{{listen = {lua_literal(self.listen_uri)}}}")
        return "\n\n".join(parts) + "\n"

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and wait for its greeting; raise TarantoolInstanceError on failure."""
        if self.is_running:
            raise TarantoolInstanceError(f"{self!r} is already running")
        if self._work_dir is None:
            self._work_dir = tempfile.mkdtemp(prefix="loadtnt-tnt-")
        os.makedirs(self._work_dir, exist_ok=True)
        attempts = 3 if (self._fixed_port is None and not self._unix) else 1
        for attempt in range(attempts):
            if not self._unix and self._port is None:
                self._port = free_port(self._tcp_host)
            try:
                self._spawn_and_wait()
                return self
            except TarantoolInstanceError:
                busy = "Address already in use" in self.log_tail()
                if attempt + 1 < attempts and busy:
                    self._port = None  # somebody took our port between probe and bind
                    continue
                raise
        raise AssertionError("unreachable")

    def _spawn_and_wait(self) -> None:
        assert self._work_dir is not None
        init_path = os.path.join(self._work_dir, _INIT_NAME)
        if self._argv is None:
            with open(init_path, "w", encoding="utf-8") as fh:
                fh.write(self.render_init_lua())
        if self._unix and self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)  # stale socket of a killed predecessor
        for name in [] if self.keep_files else os.listdir(self._work_dir):
            if name.endswith((".snap", ".xlog", ".vylog", ".inprogress")):
                # wal_mode='none': every start is a fresh server, as after a real crash
                os.unlink(os.path.join(self._work_dir, name))
        log_path = self.log_path
        assert log_path is not None
        self._close_log()
        self._log_file = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's life
        self._log_file.write(f"---- start {time.strftime('%H:%M:%S')} ----\n".encode())
        self._log_file.flush()
        try:
            self._proc = subprocess.Popen(
                self._argv if self._argv is not None else [self.binary, init_path],
                cwd=self._work_dir,
                env=None if self._env is None else {**os.environ, **self._env},
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise TarantoolInstanceError(f"cannot run {self.binary!r}: {exc}") from exc
        with _live_lock:
            _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self._terminate(grace=0.0)
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: str = "no attempt"
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise TarantoolInstanceError(
                    f"tarantool exited with code {code} during start\n{self._tail_for_error()}"
                )
            try:
                greeting = self.read_greeting(timeout=0.5)
                if greeting.startswith(b"Tarantool"):
                    return
                last_error = f"unexpected greeting {greeting[:64]!r}"
            except OSError as exc:
                last_error = str(exc) or type(exc).__name__
            if time.monotonic() >= deadline:
                raise TarantoolInstanceError(
                    f"tarantool did not greet on {self.listen_uri} within "
                    f"{self.start_timeout:g}s ({last_error})\n{self._tail_for_error()}"
                )
            time.sleep(0.05)

    def open_socket(self, timeout: float = 1.0) -> socket.socket:
        """A blocking socket connected to the listen address, TCP or unix (OSError if none)."""
        if self._unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = self.unix_path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (self._tcp_host, self._port)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def read_greeting(self, timeout: float = 1.0) -> bytes:
        """Connect once and return the 128-byte greeting (raises OSError if not served)."""
        with self.open_socket(timeout) as sock:
            data = b""
            while len(data) < GREETING_SIZE:
                chunk = sock.recv(GREETING_SIZE - len(data))
                if not chunk:
                    raise ConnectionResetError("connection closed before the full greeting")
                data += chunk
            return data

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; always waits. Returns the exit code."""
        return self._terminate(grace=self.stop_timeout)

    def kill(self) -> int | None:
        """SIGKILL the server at once (for fault tests) and wait for it."""
        return self._terminate(grace=0.0)

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing is answered (a stall)."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def restart(self) -> Self:
        """Stop (if running) and start again on the same port or socket path."""
        self.stop()
        return self.start()

    def _terminate(self, grace: float) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                if grace > 0:
                    self._signal_group(proc.pid, signal.SIGTERM)
                    self._signal_group(proc.pid, signal.SIGCONT)  # in case it was paused
                    try:
                        proc.wait(timeout=grace)
                    except subprocess.TimeoutExpired:
                        pass
                if proc.poll() is None:
                    self._signal_group(proc.pid, signal.SIGKILL)
            code = proc.wait()
            # Children of the server (none normally) share its group: make sure they go too.
            self._signal_group(proc.pid, signal.SIGKILL)
            return code
        finally:
            with _live_lock:
                _live.discard(self)
            self._close_log()

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def cleanup(self) -> None:
        """Stop the server and remove the work dir if this instance created it."""
        self.stop()
        if self._own_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
            if self._unix and self._unix_path and not os.path.exists(self._unix_path):
                self._unix_path = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    # --- logs -----------------------------------------------------------------------

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server's log ('' if there is none yet)."""
        path = self.log_path
        if path is None or not os.path.exists(path):
            return ""
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def _tail_for_error(self) -> str:
        return f"--- last lines of {self.log_path} ---\n{self.log_tail()}"


def _stop_all_at_exit() -> None:
    with _live_lock:
        instances = list(_live)
    for instance in instances:
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            instance.kill()
            instance.cleanup()


atexit.register(_stop_all_at_exit)
