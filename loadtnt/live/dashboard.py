"""``loadtnt run … --dashboard [HOST:]PORT``: a live page served by the coordinator (aiohttp).

Routes: ``/`` the page (templates/dashboard.html), ``/plotly.min.js`` the chart library's
file from the installed ``plotly`` package (nothing fetched at view time), ``/events`` the server-sent event
stream (a ``snapshot`` of :class:`~loadtnt.live.state.LiveState` first, then its ``phase``,
``tick``, ``group`` and ``end`` messages as they happen, about one a second), ``/state.json`` the
same document once (``/?static=1`` draws it without the stream: screenshots), and after the run
``/result.json`` (the result file as written) and ``/report/`` (the HTML report, when built).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from loadtnt.live.state import LiveState

QUEUE_MAX = 256  # messages a slow page may lag behind before it is dropped (it reconnects)
_PAGE = "dashboard.html"


def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the installed ``plotly`` Python package."""
    path = Path(str(importlib.resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package ({path})")
    return path


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


class Dashboard:
    def __init__(self, state: LiveState, host: str, port: int) -> None:
        self.state = state
        self.host, self.port = host, port
        self.result_path: Path | None = None
        self.report_dir: Path | None = None
        self._clients: set[asyncio.Queue[str | None]] = set()
        self._runner: web.AppRunner | None = None
        self._plotly = plotly_js()
        self._page = (importlib.resources.files("loadtnt.live") / "templates" / _PAGE
                      ).read_text("utf-8")
        state.listeners.append(self._broadcast)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/", self._index), web.get("/plotly.min.js", self._js),
                        web.get("/events", self._events), web.get("/state.json", self._json),
                        web.get("/result.json", self._result),
                        web.get("/report/{name:.*}", self._report)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:  # an ephemeral port: the one the OS gave
            server = getattr(site, "_server", None)
            if server is not None and server.sockets:
                self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for q in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- the run's end: what the page links ------------------------------------------------

    def publish_result(self, path: Path) -> None:
        self.result_path = path
        self.state.add_link("result", "/result.json")

    def publish_report(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        self.state.add_link("report", "/report/report.html")

    # --- handlers ----------------------------------------------------------------------------

    def _broadcast(self, msg: dict[str, Any]) -> None:
        if not self._clients:
            return
        text = f"event: {msg['event']}\ndata: {_dumps(msg['data'])}\n\n"
        for q in list(self._clients):
            try:
                q.put_nowait(text)
            except asyncio.QueueFull:  # a page that stopped reading: let it reconnect
                self._clients.discard(q)

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def _js(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self._plotly, headers={"Cache-Control": "max-age=3600",
                                                       "Content-Type": "text/javascript"})

    async def _json(self, request: web.Request) -> web.Response:
        return web.Response(text=_dumps(self.state.snapshot()), content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        q: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_MAX)
        # the snapshot and the queue's first message are taken in one step of the loop: nothing
        # falls between them
        self._clients.add(q)
        try:
            await resp.write(f"event: snapshot\ndata: {_dumps(self.state.snapshot())}\n\n"
                             .encode())
            while True:
                try:
                    text = await asyncio.wait_for(q.get(), 15.0)
                except asyncio.TimeoutError:
                    text = ": keep-alive\n\n"
                if text is None:
                    break
                await resp.write(text.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(q)
        return resp

    async def _result(self, request: web.Request) -> web.StreamResponse:
        if self.result_path is None or not self.result_path.is_file():
            raise web.HTTPNotFound(text="no result file yet: the run is going")
        return web.FileResponse(self.result_path, headers={"Content-Type": "application/json"})

    async def _report(self, request: web.Request) -> web.StreamResponse:
        if self.report_dir is None:
            raise web.HTTPNotFound(text="no HTML report (it is built when the run ends, if "
                                        "the report extra is installed)")
        name = request.match_info["name"] or "report.html"
        path = (self.report_dir / name).resolve()
        if self.report_dir.resolve() not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)
