"""One HTTP POST of a signed webhook, and what came back (status, headers, the first 4 KiB)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from tollway.errors import BadUserInput
from tollway.webhooks.guard import check_destination

BODY_PREFIX = 4096
MAX_HEADERS = 64
MAX_HEADER_VALUE = 1024
USER_AGENT = "Tollway-Webhooks/1.0"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt."""

    status_code: int | None
    latency_ms: float
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error: str | None = None
    retry_after_seconds: float | None = None
    blocked: bool = False
    """The SSRF guard refused the destination (nothing was sent)."""

    @property
    def succeeded(self) -> bool:
        """Any 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def _pinned(url: str, host: str, address: str) -> str:
    """`url` with its host replaced by the checked address (so DNS is not asked twice)."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class Sender:
    """POSTs webhooks over one pooled HTTP client."""

    def __init__(self, timeout_seconds: float, allow_private: bool, max_connections: int) -> None:
        self.timeout_seconds = timeout_seconds
        self.allow_private = allow_private
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        """Send once; never raises for a network or HTTP failure (they are the outcome)."""
        started = time.perf_counter()
        try:
            destination = await check_destination(url, self.allow_private)
        except BadUserInput as exc:
            return Outcome(None, 0.0, error=exc.message, blocked=True)
        target = url
        extensions: dict[str, object] = {}
        send_headers = {
            "user-agent": USER_AGENT,
            "content-type": "application/json",
            **headers,
        }
        if destination.address is not None:
            target = _pinned(url, destination.host, destination.address)
            send_headers["host"] = urlsplit(url).netloc
            if url.startswith("https"):
                extensions["sni_hostname"] = destination.host
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._exchange(target, send_headers, body, extensions, started)
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(None, _ms(started), error=f"timed out after {self.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:1000])

    async def _exchange(
        self,
        target: str,
        headers: dict[str, str],
        body: bytes,
        extensions: dict[str, object],
        started: float,
    ) -> Outcome:
        request = self._client.build_request(
            "POST", target, content=body, headers=headers, extensions=extensions
        )
        response = await self._client.send(request, stream=True)
        try:
            prefix = bytearray()
            async for chunk in response.aiter_raw():
                prefix.extend(chunk)
                if len(prefix) >= BODY_PREFIX:
                    break
        finally:
            await response.aclose()
        latency = _ms(started)
        answered = {
            name.decode("latin-1").lower(): value.decode("latin-1")[:MAX_HEADER_VALUE]
            for name, value in response.headers.raw[:MAX_HEADERS]
        }
        return Outcome(
            status_code=response.status_code,
            latency_ms=latency,
            headers=answered,
            body=bytes(prefix[:BODY_PREFIX]).decode("utf-8", errors="replace"),
            retry_after_seconds=retry_after(answered.get("retry-after"), datetime.now(UTC)),
        )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
