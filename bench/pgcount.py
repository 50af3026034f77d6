"""A counting proxy in front of PostgreSQL: how many round trips the daemons make to the database.

Every client message is read from the stream (type byte and length; the untyped start-up messages are
passed through first). A round trip is a message the client must wait for an answer to: a ``Sync``
(the end of an extended-protocol exchange: one prepared statement, or a whole pipelined batch) or a
simple ``Query``. ``CopyData`` and the like are passed through uncounted. Used by ``bench.multi``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

ROUND_TRIPS = (b"S", b"Q")


class CountingProxy:
    """Listens on 127.0.0.1:<port>, forwards to ``upstream`` host:port, counts client round trips."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.round_trips = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    def start(self) -> int:
        threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True).start()
        self._ready.wait(10)
        return self.port

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        back = asyncio.create_task(_pipe(up_reader, writer))
        try:
            await self._forward(reader, up_writer)
        finally:
            back.cancel()
            for stream in (writer, up_writer):
                stream.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:  # start-up: untyped messages (SSLRequest, then StartupMessage)
                head = await reader.readexactly(4)
                length = struct.unpack("!I", head)[0]
                body = await reader.readexactly(length - 4)
                writer.write(head + body)
                if struct.unpack("!I", body[:4])[0] != 80877103:  # not an SSLRequest: that was the start-up
                    break
            while True:
                kind = await reader.readexactly(1)
                head = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack("!I", head)[0] - 4)
                if kind in ROUND_TRIPS:
                    self.round_trips += 1
                writer.write(kind + head + body)
                await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()


def through(proxy: CountingProxy, url: str) -> str:
    """``url`` with its host and port replaced by the proxy's (and SSL off: the proxy reads the stream)."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = parts.query + ("&" if parts.query else "") + "sslmode=disable"
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{proxy.port}", query=query))
