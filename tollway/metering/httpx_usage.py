"""Record an `httpx.AsyncClient`'s outbound calls as usage of a named service.

    reporter = UsageReporterClient("https://tollway.internal", token=SERVICE_TOKEN)
    openai = meter(httpx.AsyncClient(base_url="https://api.openai.com"), "openai", reporter,
                   units=lambda request, response: response.json()["usage"]["total_tokens"])
    ...
    await reporter.aclose()   # sends what is still buffered

Each call becomes one `recordUsage` event (batched, sent in the background, idempotent on a
generated event id, so a retried send never counts twice). Reporting never fails the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

logger = logging.getLogger(__name__)

RECORD_USAGE = "mutation($e: [UsageEventInput!]!) { recordUsage(events: $e) { accepted } }"
MAX_BATCH = 1000
Units = Callable[[httpx.Request, httpx.Response], int]


class UsageReporterClient:
    """Buffers usage events and sends them to Tollway's `recordUsage` in batches."""

    def __init__(
        self,
        tollway_url: str,
        token: str,
        *,
        interval: float = 1.0,
        http: httpx.AsyncClient | None = None,
        max_buffered: int = 100_000,
    ) -> None:
        self._http = http or httpx.AsyncClient(timeout=10)
        self._owns_http = http is None
        self._url = tollway_url.rstrip("/") + "/graphql"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._interval = interval
        self._max_buffered = max_buffered
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0

    def add(self, event: dict[str, Any]) -> None:
        """Queue one `UsageEventInput` (starts the background sender on first use)."""
        if len(self._buffer) >= self._max_buffered:
            self.dropped += 1  # Tollway unreachable for long: bounded memory beats a crash
            return
        self._buffer.append(event)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception as exc:  # kept for the next attempt
                logger.warning("usage report failed (%s); will retry", exc)

    async def flush(self) -> None:
        """Send everything buffered; on failure the events stay for the next attempt."""
        async with self._lock:
            while self._buffer:
                batch = self._buffer[:MAX_BATCH]
                response = await self._http.post(
                    self._url,
                    json={"query": RECORD_USAGE, "variables": {"e": batch}},
                    headers=self._headers,
                )
                body = response.json()
                if response.status_code >= 400 or body.get("errors"):
                    raise RuntimeError(
                        f"recordUsage refused: {body.get('errors') or response.status_code}"
                    )
                del self._buffer[: len(batch)]

    async def aclose(self) -> None:
        """Stop the background sender and send what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        if self._owns_http:
            await self._http.aclose()


class MeteredTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; every completed call is reported as usage of `service`."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        service: str,
        *,
        reporter: UsageReporterClient,
        units: Units | None = None,
        api_key_id: str | None = None,
    ) -> None:
        self._inner = inner
        self._service = service
        self._reporter = reporter
        self._units = units
        self._api_key_id = api_key_id

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        at = datetime.now(UTC)
        started = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        units = 1
        if self._units is not None:
            await response.aread()
            try:
                units = int(self._units(request, response))
            except Exception:
                logger.warning("could not count units of a %s call", self._service, exc_info=True)
        event: dict[str, Any] = {
            "eventId": uuid.uuid4().hex,
            "service": self._service,
            "units": max(0, units),
            "at": at.isoformat(),
            "method": request.method,
            "route": request.url.host[:200],  # bounded: paths carry ids
            "status": response.status_code,
            "latencyMs": round((time.perf_counter() - started) * 1000, 3),
            "requestBytes": int(request.headers.get("content-length") or 0),
            "responseBytes": int(response.headers.get("content-length") or 0),
        }
        if self._api_key_id:
            event["apiKeyId"] = self._api_key_id
        self._reporter.add(event)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def meter(
    client: httpx.AsyncClient,
    service: str,
    *,
    reporter: UsageReporterClient,
    units: Units | None = None,
    api_key_id: str | None = None,
) -> httpx.AsyncClient:
    """Make `client` report each call as usage of `service` (returns the same client)."""
    client._transport = MeteredTransport(
        client._transport, service, reporter=reporter, units=units, api_key_id=api_key_id
    )
    return client
