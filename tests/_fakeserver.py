"""A fake Tarantool for what a real one cannot do: malformed, truncated or stalled replies.

It greets (a valid greeting, or the bytes a test gives), then hands each connection to
``serve(index, reader, writer)``; when serve returns (anything but ``"closed"``) it reads what
the client still sends until the client closes, and sets ``client_closed``.
"""
import asyncio
import base64
import os
import struct

import msgpack

from tests import _testbase as tb

BOUND = 5.0  # seconds: anything slower counts as a hang
IPROTO_CODE, IPROTO_SYNC, IPROTO_SCHEMA_VERSION = 0x00, 0x01, 0x05


def greeting(version="2.6.0"):
    line1 = f"Tarantool {version} (Binary) 6bd2a5e5-2fbd-4d1e-8f5a-1b6a6b41c5b7".ljust(63)
    line2 = base64.b64encode(os.urandom(32)).decode().ljust(63)
    return (line1 + "\n" + line2 + "\n").encode()


def frame(payload):
    return b"\xce" + struct.pack(">I", len(payload)) + payload


async def read_request(reader):
    """One request as (header, body) dicts; ext types stay msgpack.ExtType."""
    first = (await reader.readexactly(1))[0]
    if first <= 0x7F:
        length = first
    else:
        size = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[first]
        length = int.from_bytes(await reader.readexactly(size), "big")
    unpacker = msgpack.Unpacker(strict_map_key=False, raw=False)
    unpacker.feed(await reader.readexactly(length))
    header = unpacker.unpack()
    try:
        body = unpacker.unpack()
    except msgpack.OutOfData:
        body = {}
    return header, body


class FakeServer:
    """``async with FakeServer(serve) as server``: listens on 127.0.0.1, ``server.port``."""

    def __init__(self, serve, *, greet=None):
        self.serve = serve
        self.greet = greeting() if greet is None else greet
        self.connections = 0
        self.client_closed = asyncio.Event()
        self._handlers = set()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), BOUND)
        await asyncio.wait_for(self.server.wait_closed(), BOUND)

    async def _handle(self, reader, writer):
        index = self.connections
        self.connections += 1
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            writer.write(self.greet)
            await writer.drain()
            if await self.serve(index, reader, writer) == "closed":
                return
            while await reader.read(65536):
                pass
            self.client_closed.set()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.client_closed.set()
        except asyncio.CancelledError:
            pass  # the test is over; end quietly
        finally:
            writer.close()
            self._handlers.discard(task)

    def connection(self, **kwargs):
        """A client of the driver under test, with everything that would talk on its own off."""
        options = {"host": "127.0.0.1", "port": self.port, "fetch_schema": False,
                   "auto_refetch_schema": False, "reconnect_timeout": 0, "ping_timeout": 0,
                   "connect_timeout": 3}
        options.update(kwargs)
        return tb.driver.Connection(**options)
