"""A real HTTP receiver (webhook endpoints, integration providers): answers as scripted and
keeps every request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.servers import free_port

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Reply:
    """How to answer one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    query: str = ""


class Receiver:
    """Scripted replies (then `default`), and every request received."""

    def __init__(self) -> None:
        self.url = ""
        self.script: list[Reply] = []
        self.default = Reply()
        self.by_path: dict[str, Reply] = {}
        self.received: list[Received] = []
        self.arrived = asyncio.Event()

    async def _handle(self, request: Request) -> Response:
        self.received.append(
            Received(
                request.url.path,
                dict(request.headers),
                await request.body(),
                method=request.method,
                query=request.url.query,
            )
        )
        self.arrived.set()
        path = request.url.path
        reply = self.script.pop(0) if self.script else self.by_path.get(path, self.default)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Response(reply.body, reply.status, headers=reply.headers)

    def at(self, path: str) -> list[Received]:
        """Requests that arrived at `path`."""
        return [r for r in self.received if r.path == path]


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """`app` served on a loopback port for the duration of the block; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,  # a reply still hanging is cut short at the end
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A receiver listening on a loopback port for the duration of the block."""
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver._handle, methods=METHODS)])
    async with serving(app) as url:
        receiver.url = url
        yield receiver
