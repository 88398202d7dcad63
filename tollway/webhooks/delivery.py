"""One HTTP POST of a signed webhook, and what came back (status, headers, the first 4 KiB).

aiohttp rather than httpx here: measured on this machine against one local receiver, httpx
sent 120-700 POSTs/s (falling as concurrency rose) where aiohttp sent 4,600-8,200/s, and the
dispatcher's throughput is bound by the client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from tollway.webhooks.guard import (
    GuardedResolver,
    UnsafeDestination,
    literal_address,
    require_public,
)

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


class Sender:
    """POSTs webhooks over one pooled HTTP session (opened on first use)."""

    def __init__(
        self, timeout_seconds: float, allow_private: bool, *, max_connections: int
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.allow_private = allow_private
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                ttl_dns_cache=10,
                resolver=None if self.allow_private else GuardedResolver(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
                headers={"user-agent": USER_AGENT, "content-type": "application/json"},
                auto_decompress=False,
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, headers: dict[str, str], *, body: bytes) -> Outcome:
        """Send once; never raises for a network or HTTP failure (they are the outcome)."""
        started = time.perf_counter()
        try:
            if not self.allow_private and (literal := literal_address(url)) is not None:
                require_public(str(literal), literal)  # aiohttp skips the resolver for these
            async with self._open().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                prefix = await response.content.read(BODY_PREFIX)
                answered: dict[str, str] = {}
                for name, value in list(response.raw_headers)[:MAX_HEADERS]:
                    key = name.decode("latin-1").lower()
                    answered[key] = value.decode("latin-1")[:MAX_HEADER_VALUE]
                return Outcome(
                    status_code=response.status,
                    latency_ms=_ms(started),
                    headers=answered,
                    body=prefix.decode("utf-8", errors="replace"),
                    retry_after_seconds=retry_after(answered.get("retry-after"), datetime.now(UTC)),
                )
        except UnsafeDestination as exc:
            return Outcome(None, _ms(started), error=exc.message)
        except TimeoutError:
            return Outcome(None, _ms(started), error=f"timed out after {self.timeout_seconds:g} s")
        except aiohttp.ClientError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, UnsafeDestination):
                return Outcome(None, _ms(started), error=cause.message)
            return Outcome(None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:1000])
        except (OSError, ValueError) as exc:  # e.g. a URL aiohttp cannot parse
            return Outcome(None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:1000])


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
