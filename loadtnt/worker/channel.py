"""The worker's side of its pipes: JSON lines out on stdout, commands in from stdin.

Messages to the parent (``type``): ``ready``, ``done``, ``tick``, ``error``.
Commands from the parent (``cmd``): ``run`` (a phase), ``stop`` (end the phase early), ``exit``.
The first stdin line is the job.  When stdin closes (the parent died) the worker exits at once,
so a crashed parent leaves no worker behind.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

_out = sys.stdout
_lock = threading.Lock()
EXIT_PARENT_GONE = 70


def send(msg: dict[str, Any]) -> None:
    line = json.dumps(msg, separators=(",", ":")) + "\n"
    with _lock:
        _out.write(line)
        _out.flush()


def read_job() -> dict[str, Any]:
    line = sys.stdin.readline()
    if not line:
        os._exit(EXIT_PARENT_GONE)
    return json.loads(line)


def detach_from_terminal_signals() -> None:
    """Ctrl-C reaches the whole process group: the parent handles it, the worker ignores it.

    Also ask Linux to kill this process when the parent dies (belt and braces with stdin EOF).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def listen(loop: asyncio.AbstractEventLoop, on_command: Callable[[dict[str, Any]], None]) -> None:
    """Read commands on a thread and hand each to ``on_command`` on the loop."""

    def reader() -> None:
        for line in sys.stdin:
            line = line.strip()
            if line:
                loop.call_soon_threadsafe(on_command, json.loads(line))
        os._exit(EXIT_PARENT_GONE)

    threading.Thread(target=reader, name="loadtnt-commands", daemon=True).start()
