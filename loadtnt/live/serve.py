"""The live views of one ``loadtnt run``: which were asked for, their servers' lifetime.

:class:`LiveRun` starts the dashboard and the Prometheus endpoint before the first server and
worker (a port that cannot be bound is a bad flag: exit 2, nothing run), hands the session its
observers, and when the run has ended publishes the result (and the HTML report, when the
``report`` extra is installed and someone can still look: ``--linger``), takes the screenshot
asked for, pushes the final state and stops serving. Its extras (aiohttp, prometheus_client,
plotly) are imported only here and only when a view is asked for.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from pathlib import Path
from typing import Any

from loadtnt.live.observer import Observer

INSTALL_HINT = "pip install 'loadtnt[live]'"


class BindError(OSError):
    """A view's address cannot be listened on: a bad flag (exit 2), found before any load."""


@dataclasses.dataclass(frozen=True)
class LiveOptions:
    dashboard: tuple[str, int] | None = None
    prometheus: tuple[str, int] | None = None
    push: str | None = None
    linger: float = 0.0
    screenshot: Path | None = None

    @property
    def any(self) -> bool:
        return bool(self.dashboard or self.prometheus or self.push)


def parse_bind(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` → (host, port); no host: 127.0.0.1 (another address only when given).
    An IPv6 host in brackets: ``[::1]:8080``. Port 0: any free port (the URL is printed)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") if host.startswith("[") else host
    if not host:
        host = "127.0.0.1"
    try:
        value = int(port)
    except ValueError:
        raise ValueError(f"expected [HOST:]PORT, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, value


def missing_extras(opts: LiveOptions) -> str | None:
    """Why the views asked for cannot run (a package of the ``live`` extra is missing), or None."""
    need = ["aiohttp"]
    if opts.dashboard:
        need.append("plotly")
    if opts.prometheus or opts.push:
        need.append("prometheus_client")
    missing = []
    for mod in need:
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if not missing:
        return None
    flags = [f for f, on in (("--dashboard", opts.dashboard), ("--prometheus", opts.prometheus),
                             ("--prometheus-push", opts.push)) if on]
    return (f"{'/'.join(flags)} need{'s' if len(flags) == 1 else ''} "
            f"{', '.join(missing)} (not installed): {INSTALL_HINT}")


class LiveRun:
    def __init__(self, opts: LiveOptions, *, scenario: dict[str, Any], several_servers: bool,
                 note: Any, warn: Any) -> None:
        from loadtnt.live.state import LiveState

        self.opts = opts
        self._note, self._warn = note, warn
        self.state = LiveState(scenario=scenario, several_servers=several_servers)
        self.observers: list[Observer] = [self.state]
        self.dashboard: Any = None
        self.metrics: Any = None
        self.pusher: Any = None
        name = str(scenario.get("name") or "run")
        if opts.dashboard:
            from loadtnt.live.dashboard import Dashboard

            self.dashboard = Dashboard(self.state, *opts.dashboard)
        if opts.prometheus or opts.push:
            from loadtnt.live.prometheus import Exporter, MetricsServer, Pusher

            exporter = Exporter(scenario=name, state=self.state)
            self.observers.append(exporter)
            if opts.prometheus:
                self.metrics = MetricsServer(exporter, *opts.prometheus)
            if opts.push:
                self.pusher = Pusher(exporter, opts.push, warn)

    async def start(self) -> None:
        """Bind every server (:class:`BindError`: an address cannot be used; then nothing is
        left running)."""
        try:
            for flag, server, label in (("--dashboard", self.dashboard, "dashboard"),
                                        ("--prometheus", self.metrics, "prometheus")):
                if server is None:
                    continue
                try:
                    await server.start()
                except OSError as e:
                    raise BindError(f"{flag} {server.host}:{server.port}: cannot listen: "
                                    f"{e.strerror or e}") from None
                self._note(f"{label}: {server.url}")
            if self.pusher is not None:
                await self.pusher.start()
                self._note(f"prometheus push: {self.pusher.url}")
        except BaseException:
            await self.stop()
            raise

    async def finish(self, result_path: Path | None, *, linger: bool = True) -> None:
        """After the run: publish, screenshot, final push, linger (unless ``linger`` is
        False: the run was interrupted or failed); then stop serving."""
        seconds = self.opts.linger if linger else 0.0
        try:
            if self.dashboard is not None and result_path is not None:
                self.dashboard.publish_result(result_path)
            report = None
            if seconds > 0 and self.dashboard is not None and result_path is not None:
                report = asyncio.get_running_loop().create_task(self._report(result_path))
            if self.opts.screenshot is not None and self.dashboard is not None:
                await self._screenshot(self.opts.screenshot)
            if self.pusher is not None:
                await self.pusher.close()
            if seconds > 0:
                self._note(f"serving the final state for {seconds:g} s (Ctrl-C to stop)")
                await _sleep_unless_interrupted(seconds)
            if report is not None:
                report.cancel()
        finally:
            await self.stop()

    async def stop(self) -> None:
        for server in (self.dashboard, self.metrics):
            if server is not None:
                with contextlib.suppress(Exception):
                    await server.stop()
        if self.pusher is not None:
            with contextlib.suppress(Exception):
                await self.pusher.close()

    async def _report(self, result_path: Path) -> None:
        try:
            import matplotlib  # noqa: F401 - the report extra

            from loadtnt.report import build_report
        except ImportError:
            return
        out = result_path.with_name(result_path.stem + "-report")
        try:
            await asyncio.to_thread(build_report, [result_path], out)
        except Exception as e:  # noqa: BLE001 - the page still links the result file
            self._warn(f"the dashboard's HTML report failed: {type(e).__name__}: {e}")
            return
        self.dashboard.publish_report(out)
        self._note(f"report: {out / 'report.html'}")

    async def _screenshot(self, out: Path) -> None:
        from loadtnt.live import browser

        try:
            await asyncio.to_thread(browser.screenshot, self.dashboard.url + "?static=1", out)
        except Exception as e:  # noqa: BLE001 - the run's result stands without it
            self._warn(f"no dashboard screenshot: {e}")
            return
        self._note(f"dashboard screenshot: {out}")


async def _sleep_unless_interrupted(seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    sigs = (signal.SIGINT, signal.SIGTERM)
    for sig in sigs:
        loop.add_signal_handler(sig, stop.set)
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)
