"""A pipelined Redis connection for the one command on the hot path: EVALSHA of the limit script.

redis-py checks a connection out of its pool, packs, sends and parses each command on its own;
at thousands of requests a second that costs more CPU than the rest of enforcement together.
Here every request's command goes onto one shared connection without waiting for the replies
of the others: commands issued in the same event-loop turn leave in one write, and replies
(parsed by hiredis, which redis-py also uses) are matched to requests in order.

Everything else (health checks, SCAN, pub/sub) stays on redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def bulk(value: bytes | str | int) -> bytes:
    """One RESP bulk string."""
    if isinstance(value, int):  # the usual case on the hot path
        data = b"%d" % value
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = value
    return b"$%d\r\n%s\r\n" % (len(data), data)


def encode_command(*parts: bytes | str | int) -> bytes:
    """RESP array of bulk strings."""
    return b"*%d\r\n" % len(parts) + b"".join([bulk(p) for p in parts])


class _Protocol(asyncio.Protocol):
    """Feeds replies to the waiting futures in order; fails them all if the connection drops."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.closed = False
        self._buffer: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, command: bytes, future: asyncio.Future[Any]) -> None:
        """Queue a command; everything queued in this loop turn leaves in one write."""
        if not self._buffer:
            asyncio.get_running_loop().call_soon(self._flush)
        self._buffer.append(command)
        self.waiting.append((future, time.monotonic()))

    def _flush(self) -> None:
        if self.transport is not None and self._buffer and not self.closed:
            self.transport.write(b"".join(self._buffer))
        self._buffer.clear()

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not waiting:  # nothing asked for this: the stream is out of step
                self.fail(RedisConnectionError("unexpected reply from Redis"))
                return
            future, _ = waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed'}"))

    def fail(self, exc: Exception) -> None:
        """Fail every waiting command and close."""
        self.closed = True
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


class ScriptPipe:
    """EVALSHA over one pipelined connection, reconnecting on demand."""

    def __init__(
        self,
        script: str,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        use_ssl: bool = False,
        timeout: float = 1.0,
        client_name: str | None = None,
    ) -> None:
        """`client_name`: what `CLIENT LIST` calls the connection."""
        self.script = script
        self._client_name = client_name
        self.sha = hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 (Redis' script id)
        self._address = (host, port)
        self._db = db
        self._auth = (username, password)
        self._ssl = use_ssl
        self._timeout = timeout
        self._evalsha_head = bulk("EVALSHA") + bulk(self.sha)
        self._eval_head = bulk("EVAL") + bulk(script)
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    @classmethod
    def from_kwargs(cls, script: str, kwargs: dict[str, Any], *, timeout: float) -> ScriptPipe:
        """Built from a redis-py pool's `connection_kwargs`, so both reach the same server."""
        return cls(
            script,
            host=kwargs.get("host", "127.0.0.1"),
            port=int(kwargs.get("port", 6379)),
            db=int(kwargs.get("db", 0) or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            use_ssl=bool(kwargs.get("ssl", False)),
            timeout=timeout,
            client_name=f"{kwargs['client_name']}:limits" if kwargs.get("client_name") else None,
        )

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if self._ssl else None
        try:
            async with asyncio.timeout(self._timeout):
                _, protocol = await loop.create_connection(_Protocol, *self._address, ssl=context)
                setup: list[bytes] = []
                username, password = self._auth
                if password is not None:
                    auth = ("AUTH", username, password) if username else ("AUTH", password)
                    setup.append(encode_command(*auth))
                if self._db:
                    setup.append(encode_command("SELECT", self._db))
                if self._client_name:
                    setup.append(encode_command("CLIENT", "SETNAME", self._client_name))
                for command in setup:
                    future: asyncio.Future[Any] = loop.create_future()
                    protocol.send(command, future)
                    await future
        except TimeoutError:
            raise RedisTimeoutError(f"connecting to Redis at {self._address} timed out") from None
        except OSError as exc:
            raise RedisConnectionError(f"cannot reach Redis at {self._address}: {exc}") from exc
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch(), name="tollway-redis-watchdog")
        return protocol

    async def _ready(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        connecting = self._connecting
        if connecting is None or connecting.done():
            connecting = self._connecting = asyncio.create_task(self._connect())
        try:
            protocol = await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None
        self._protocol = protocol
        return protocol

    async def _watch(self) -> None:
        """Drop the connection when its oldest command has waited past the timeout."""
        while True:
            await asyncio.sleep(self._timeout / 4)
            protocol = self._protocol
            if protocol is None or protocol.closed:
                continue
            if protocol.waiting and time.monotonic() - protocol.waiting[0][1] > self._timeout:
                protocol.fail(RedisTimeoutError("Redis did not answer in time"))

    async def _call(self, command: bytes) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._ready()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.send(command, future)
        return await future

    async def evalsha(self, keys: Sequence[str], args: Sequence[int | str]) -> Any:
        """Run the script (loading it once if the server does not know it)."""
        body = b"".join([bulk(len(keys)), *map(bulk, keys), *map(bulk, args)])
        return await self.evalsha_encoded(1 + len(keys) + len(args), body)

    async def evalsha_encoded(self, count: int, body: bytes) -> Any:
        """Run the script with `body` already RESP-encoded: `count` bulk strings holding
        numkeys, the keys and the arguments."""
        head = b"*%d\r\n" % (count + 2)
        try:
            return await self._call(head + self._evalsha_head + body)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self._call(head + self._eval_head + body)

    async def aclose(self) -> None:
        """Close the connection and stop the watchdog."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._protocol is not None:
            self._protocol.fail(RedisConnectionError("closed"))
            self._protocol = None
