"""One pipelined Redis connection per process, for the commands of the hot path.

redis-py takes a connection from its pool for every command, with a lock and
a timeout around each: about 50 us of CPU per command on our machine. The
webhook's BEGIN and COMMIT scripts, the sender's acknowledgements and its
rate tokens go instead down one connection, written together once per turn of
the event loop and matched to their answers in order (Redis answers a
connection's commands in the order it reads them): about 7 us per command,
and Redis reads many of them per system call (bench/redis_calls.py measures
both).

Only for commands that answer at once: a blocking one (XREADGROUP BLOCK)
would hold up everyone behind it, so those stay on redis-py. Plain TCP and
Unix sockets only; TLS and Redis Cluster use redis-py (see app.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | bytes | int | float


def supports(url: str) -> bool:
    """Can a PipelinedRedis talk to this URL (redis:// or unix://, not TLS)?"""
    kind = parse_url(url).get("connection_class")
    return kind is None or kind is UnixDomainSocketConnection


class _Connection(asyncio.Protocol):
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.closed = False
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._unsent: list[bytes] = []  # commands asked for in this turn of the event loop
        self._transport: asyncio.Transport | None = None
        self._heard = 0.0  # loop time Redis last sent something, or the wait began
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._heard = asyncio.get_running_loop().time()
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                waiter = self._waiting.popleft()
                if waiter.done():  # its caller gave up (cancelled): the answer is dropped
                    continue
                if isinstance(reply, ResponseError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError):  # garbage, or an answer nobody asked for
            self._close(RedisConnectionError("Redis sent an unreadable reply"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._close(RedisConnectionError("Redis connection lost"))

    def call(self, args: Sequence[Arg]) -> asyncio.Future[Any]:
        if self.closed or self._transport is None:
            raise RedisConnectionError("Redis connection closed")
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not self._waiting:
            self._heard = loop.time()  # nothing was owed until now
        self._waiting.append(waiter)
        # Written together at the end of this turn of the loop: one system call
        # for every command asked for meanwhile, instead of one each.
        # hiredis's stub types the tuple as of one item; it takes any number.
        self._unsent.append(hiredis.pack_command(tuple(args)))  # type: ignore[arg-type]
        if len(self._unsent) == 1:
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._arm()
        return waiter

    def _flush(self) -> None:
        data, self._unsent = b"".join(self._unsent), []
        if not self.closed and self._transport is not None:
            self._transport.write(data)

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self.timeout / 4, self._check)

    def _check(self) -> None:
        """Commands waiting and nothing heard for a whole timeout: Redis has gone
        silent. Drop the connection, failing every waiting command (their requests
        answer 5xx) within 1.25 timeouts."""
        self._watchdog = None
        if not self._waiting:
            return
        if asyncio.get_running_loop().time() - self._heard > self.timeout:
            self._close(RedisTimeoutError("Redis did not answer in time"))
        else:
            self._arm()

    def _close(self, error: Exception) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.abort()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)


class PipelinedRedis:
    """`execute_command` and `register_script`, as redis-py's client has them."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not supports(url):
            raise ValueError("PipelinedRedis speaks plain TCP or Unix sockets only")
        self._params = parse_url(url)
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._lock = asyncio.Lock()

    async def execute_command(self, *args: Arg) -> Any:
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connect()
        return await connection.call(args)

    def register_script(self, script: str) -> PipelinedScript:
        return PipelinedScript(self, script)

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection._close(RedisConnectionError("closed"))
            self._connection = None

    async def _connect(self) -> _Connection:
        async with self._lock:  # one connection attempt, however many callers wait
            if self._connection is not None and not self._connection.closed:
                return self._connection
            p = self._params
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self.timeout):
                    if "path" in p:
                        _, conn = await loop.create_unix_connection(
                            lambda: _Connection(self.timeout), p["path"]
                        )
                    else:
                        _, conn = await loop.create_connection(
                            lambda: _Connection(self.timeout),
                            p.get("host", "localhost"),
                            p.get("port", 6379),
                        )
                    if p.get("password"):
                        user = [p["username"]] if p.get("username") else []
                        await conn.call(("AUTH", *user, p["password"]))
                    if p.get("db"):
                        await conn.call(("SELECT", p["db"]))
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot reach Redis: {type(exc).__name__}") from exc
            self._connection = conn
            return conn


class PipelinedScript:
    """A Lua script run by its SHA1, loaded on first use (or after a Redis restart)."""

    def __init__(self, client: PipelinedRedis, script: str) -> None:
        self.client = client
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts so

    async def __call__(self, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        try:
            return await self.client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.client.execute_command("EVAL", self.script, len(keys), *keys, *args)
