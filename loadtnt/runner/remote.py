"""The Dask side of ``--cluster``: what runs inside a Dask worker process.

:func:`host_info` and :func:`probe` run through ``Client.run`` before the run (versions, clock);
:func:`serve` is the one Dask task per loadtnt worker: it connects back to the coordinator
(:mod:`loadtnt.runner.cluster`), starts ``python -m loadtnt.worker`` as its child and relays JSON
lines both ways, unchanged, so the worker and its hot loop are exactly those of a local run.

Nothing here imports ``distributed``: the functions are called by it.  The child dies with the
relay: when the coordinator's connection closes (Ctrl-C, a crash, a lost host) the child is
killed; when the Dask worker process dies the child's stdin closes and it exits at once
(:mod:`loadtnt.worker.channel`).
"""
from __future__ import annotations

import collections
import json
import os
import platform
import socket
import subprocess
import threading
import time
from typing import Any

import loadtnt
from loadtnt import drivers
from loadtnt.results.environment import cpu_model, git_commit
from loadtnt.runner.procs import worker_env

CONNECT_TIMEOUT = 10.0
CLOCK_PROBES = 8
PROTOCOL = 1  # the relay's line protocol; the coordinator refuses another


def host_info(driver_names: list[str], dask_worker: Any = None) -> dict[str, Any]:
    """This host and Dask worker as a result records it, with the versions that must match
    the coordinator's (loadtnt, its driver, each in-process driver of the scenario)."""
    versions: dict[str, str] = {}
    for name in driver_names:
        try:
            adapter = drivers.load(name)
            # a driver with its own interpreter (aiotarantool) reports from the worker
            versions[name] = adapter.version() if adapter.python() == _python() else "own venv"
        except Exception as e:  # noqa: BLE001 - reported, and refused, by the coordinator
            versions[name] = f"unavailable: {type(e).__name__}: {e}"
    from loadtnt import driver

    return {
        "hostname": socket.gethostname(),
        "cpu": {"model": cpu_model(), "count": os.cpu_count()},
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "executable": _python(),
        "loadtnt_version": loadtnt.__version__,
        "commit": git_commit(),
        "driver_version": getattr(driver, "__version__", None),
        "drivers": versions,
        "protocol": PROTOCOL,
        "pid": os.getpid(),
        "dask_worker": getattr(dask_worker, "address", None),
        "dask_name": str(getattr(dask_worker, "name", "")),
    }


def _python() -> str:
    import sys

    return sys.executable


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # a coordinator whose host vanished (no FIN ever comes): notice within ~15 s
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 5)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
    return sock


def _line(msg: dict[str, Any]) -> bytes:
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


def _answer_clock(msg: dict[str, Any]) -> bytes:
    return _line({"type": "clock", "seq": msg.get("seq"), "t": time.time()})


def probe(address: tuple[str, int], token: str, dask_worker: Any = None) -> bool:
    """Answer the coordinator's clock probes on a connection of our own (before the run)."""
    with _connect(address) as sock:
        f = sock.makefile("rwb")
        f.write(_line({"hello": "probe", "token": token,
                       "dask_worker": getattr(dask_worker, "address", None)}))
        f.flush()
        for raw in f:
            msg = json.loads(raw)
            if msg.get("cmd") != "clock":
                break
            f.write(_answer_clock(msg))
            f.flush()
    return True


def serve(address: tuple[str, int], token: str, key: str, driver: str) -> dict[str, Any]:
    """One loadtnt worker on this Dask worker, relayed to the coordinator at ``address``."""
    sock = _connect(address)
    out = sock.makefile("wb")
    lock = threading.Lock()

    def send(data: bytes) -> None:
        with lock:
            out.write(data)
            out.flush()

    send(_line({"hello": "worker", "token": token, "key": key, "protocol": PROTOCOL,
                "host": socket.gethostname(), "pid": os.getpid()}))
    child: subprocess.Popen[bytes] | None = None
    tail: collections.deque[str] = collections.deque(maxlen=20)
    code: int | None = None
    try:
        for raw in sock.makefile("rb"):
            msg = json.loads(raw)
            cmd = msg.get("cmd")
            if cmd == "clock":
                send(_answer_clock(msg))
            elif cmd == "job":
                child = _spawn(driver, msg["job"], tail)
                threading.Thread(target=_relay_out, args=(child, send, tail, sock),
                                 name="loadtnt-relay", daemon=True).start()
            elif child is not None and child.stdin is not None:
                try:
                    child.stdin.write(raw)
                    child.stdin.flush()
                except (BrokenPipeError, ValueError):
                    pass
    except (OSError, ValueError):
        pass  # the coordinator is gone: same as its connection closing
    finally:
        # the coordinator closed (normally after the worker's exit; else Ctrl-C, a crash,
        # a lost host): no load may outlive it
        if child is not None:
            if child.poll() is None:
                child.kill()
            code = child.wait()
        sock.close()
    return {"key": key, "code": code}


def _spawn(driver: str, job: dict[str, Any], tail: collections.deque[str]
           ) -> subprocess.Popen[bytes]:
    python = drivers.load(driver).python()  # this host's interpreter for the driver
    child = subprocess.Popen([python, "-m", "loadtnt.worker"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=worker_env())
    assert child.stdin is not None and child.stderr is not None
    threading.Thread(target=_stderr_tail, args=(child.stderr, tail), daemon=True).start()
    child.stdin.write(_line(job))  # the job carries the password: a pipe, never argv
    child.stdin.flush()
    return child


def _stderr_tail(stream: Any, tail: collections.deque[str]) -> None:
    for raw in stream:
        text = raw.decode(errors="replace").rstrip()
        if text:
            tail.append(text)


def _relay_out(child: subprocess.Popen[bytes], send: Any, tail: collections.deque[str],
               sock: socket.socket) -> None:
    """The worker's lines to the coordinator as they are, then how it ended."""
    assert child.stdout is not None
    try:
        for raw in child.stdout:
            send(raw)
        code = child.wait()
        time.sleep(0.05)  # the stderr thread's last lines
        send(_line({"type": "exited", "code": code, "stderr": list(tail)}))
    except OSError:
        pass
    finally:
        # the worker is done: let the coordinator see the end of the stream
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
