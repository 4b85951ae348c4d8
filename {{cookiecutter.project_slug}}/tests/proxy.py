"""A TCP proxy in front of the database that a test can cut and restore.

It runs its own event loop in a thread, so the app under test (in a server
process or in the test's loop) talks to it as to any remote server.

- ``refuse()``: every connection is reset and new ones are refused, as when
  the server is down or a firewall rejects.
- ``black_hole()``: every socket stays open and every byte is dropped, both
  ways, as when the network silently loses packets. New connections are
  accepted and dropped alike.
- ``restore()``: new connections reach the database again. A connection that
  lost bytes in a black hole stays silent: its protocol is out of step.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Literal

Mode = Literal["open", "refuse", "black_hole"]
_CHUNK = 65536


class _Link:
    """One client connection and its upstream, if any."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.silent = False
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is None or writer.transport.is_closing():
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # Linger 0: closing sends a reset, not a polite FIN.
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target``; see the module's docstring."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self.mode: Mode = "open"
        self.port = 0

    def start(self) -> None:
        """Start listening on a free port."""
        self._thread.start()
        self._call(self._listen())

    def refuse(self) -> None:
        """Reset every connection and refuse new ones."""
        self._call(self._refuse())

    def black_hole(self) -> None:
        """Keep every connection open and drop every byte."""
        self._call(self._black_hole())

    def restore(self) -> None:
        """Let new connections through again."""
        self._call(self._restore())

    def close(self) -> None:
        """Reset every connection and stop."""
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _refuse(self) -> None:
        self.mode = "refuse"
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in self._links:
            link.reset()
        self._links.clear()

    async def _shutdown(self) -> None:
        await self._refuse()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _black_hole(self) -> None:
        self.mode = "black_hole"
        for link in self._links:
            link.silent = True

    async def _restore(self) -> None:
        self.mode = "open"
        if self._server is None:
            await self._listen()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        link = _Link(writer)
        self._links.add(link)
        if self.mode == "black_hole":
            link.silent = True
            await _pump(reader, None, link)
            return
        try:
            up_reader, link.upstream = await asyncio.open_connection(*self._target)
        except OSError:
            link.reset()
            return
        link.tasks = [
            asyncio.create_task(_pump(reader, link.upstream, link)),
            asyncio.create_task(_pump(up_reader, writer, link)),
        ]


async def _pump(
    source: asyncio.StreamReader, target: asyncio.StreamWriter | None, link: _Link
) -> None:
    try:
        while data := await source.read(_CHUNK):
            if target is not None and not link.silent:
                target.write(data)
                await target.drain()
    except (OSError, asyncio.CancelledError):
        return
    if not link.silent:
        link.reset()


@contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[Proxy]:
    """Run a :class:`Proxy` to ``host``:``port`` for the block."""
    proxy = Proxy(host, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
