"""A small TCP fault proxy for failure tests: put it between kmcbot and Redis,
PostgreSQL or the Graph API stand-in, then make the dependency fail on cue.

Modes (switched at any time, applied to open connections too):

- ``pass``: bytes flow both ways unchanged.
- ``delay``: every chunk is held ``delay_ms`` before it is passed on (latency,
  not a bandwidth cap: chunks keep their order and overlap in flight).
- ``drop``: every open connection is reset, and every new one is accepted and
  reset at once (a dependency that crashed or whose network flaps).
- ``blackhole``: connections are accepted and read, but nothing is passed on
  and nothing ever comes back (a dependency that hangs, a dead peer behind a
  firewall). Switching away from ``blackhole`` resets the connections that
  were swallowed: their byte streams are broken for good.

Loopback only: the proxy listens on 127.0.0.1 and forwards to the target given.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

PASS = "pass"
DELAY = "delay"
DROP = "drop"
BLACKHOLE = "blackhole"
MODES = (PASS, DELAY, DROP, BLACKHOLE)


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    swallowed: bool = False  # has lost bytes to a blackhole: never usable again
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                transport = writer.transport
                if transport is not None and not transport.is_closing():
                    transport.abort()


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.mode = PASS
        self.delay_s = 0.0
        self.accepted = 0  # connections accepted, for the tests' figures
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        for conn in list(self._conns):
            for task in conn.tasks:
                task.cancel()
        await asyncio.sleep(0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # ----------------------------------------------------------------- modes

    def set_mode(self, mode: str, delay_ms: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.delay_s = delay_ms / 1000 if mode == DELAY else 0.0
        if mode == DROP:
            for conn in list(self._conns):
                conn.abort()
        elif mode == BLACKHOLE:
            for conn in self._conns:
                conn.swallowed = True
        else:  # pass / delay: what a blackhole swallowed cannot be repaired
            for conn in list(self._conns):
                if conn.swallowed:
                    conn.abort()

    def passing(self) -> None:
        self.set_mode(PASS)

    def delay(self, ms: float) -> None:
        self.set_mode(DELAY, ms)

    def drop(self) -> None:
        self.set_mode(DROP)

    def blackhole(self) -> None:
        self.set_mode(BLACKHOLE)

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    # ------------------------------------------------------------ forwarding

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        conn = _Conn(writer)
        self._conns.add(conn)
        try:
            if self.mode == DROP:
                conn.abort()
                return
            if self.mode == BLACKHOLE:
                conn.swallowed = True
                while await reader.read(65536):
                    pass  # read and discard until the client gives up
                return
            try:
                if self.target[0].startswith("/"):  # a unix socket (the embedded PostgreSQL)
                    up_reader, up_writer = await asyncio.open_unix_connection(self.target[0])
                else:
                    up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                conn.abort()
                return
            conn.upstream = up_writer
            if self.mode == DROP or conn.swallowed:  # changed while connecting
                conn.abort()
                return
            conn.tasks = [
                asyncio.create_task(self._pump(reader, up_writer, conn)),
                asyncio.create_task(self._pump(up_reader, writer, conn)),
            ]
            _, pending = await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)
            conn.abort()
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        except (OSError, asyncio.IncompleteReadError):
            conn.abort()
        finally:
            self._conns.discard(conn)
            with contextlib.suppress(Exception):
                writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    return
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if conn.swallowed:
                    continue
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.mode == BLACKHOLE:
                    conn.swallowed = True
                if conn.swallowed:
                    continue
                queue.put_nowait((loop.time() + self.delay_s, data))
            queue.put_nowait((0.0, b""))
            await sender
        except (OSError, ConnectionError):
            pass
        finally:
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
