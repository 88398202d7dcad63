"""The enforcement decision for one request, shared by the middleware and `verifyApiKey`."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from tollway.adjustments.rules import PUBLIC, AdjustmentTable, KeyTraits
from tollway.enforcement.problems import DenialCode
from tollway.enforcement.routes import RouteRule, RouteTable, scope_grants
from tollway.keys.cache import KeyCache
from tollway.keys.records import KeyRecord
from tollway.keys.secrets import MAX_SECRET_LENGTH, PREFIXES, hash_secret
from tollway.keys.validation import normalize_origin
from tollway.models import KeyStatus
from tollway.ratelimit import Decision, Limiter, Window
from tollway.ratelimit.failover import LimiterUnavailable

logger = logging.getLogger(__name__)
KNOWN_PREFIXES = tuple(PREFIXES.values())


@dataclass(frozen=True, slots=True)
class Verdict:
    """Allowed (code None) or the denial, with the key and limit state when known."""

    code: DenialCode | None
    detail: str
    record: KeyRecord | None = None
    decision: Decision | None = None
    rule: RouteRule | None = None

    @property
    def allowed(self) -> bool:
        """True when the request may proceed."""
        return self.code is None


def _deny(code: DenialCode, detail: str, record: KeyRecord | None = None) -> Verdict:
    return Verdict(code, detail, record)


def _ip_allowed(record: KeyRecord, client_ip: str | None) -> bool:
    if not record.networks:
        return True
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in network for network in record.networks)


class Verifier:
    """Key, policy and limits, in that order; nothing is consumed by a denied request."""

    def __init__(
        self,
        cache: KeyCache,
        limiter: Limiter,
        routes: RouteTable,
        adjustments: AdjustmentTable | None = None,
    ) -> None:
        self.cache = cache
        self.limiter = limiter
        self.routes = routes
        self.adjustments = adjustments if adjustments is not None else AdjustmentTable()

    def _windows(
        self, key: KeyTraits, windows: tuple[Window, ...], route_windows: tuple[Window, ...]
    ) -> tuple[tuple[Window, ...], tuple[Window, ...]]:
        if not self.adjustments:  # the usual case: nothing in force, nothing to compute
            return windows, route_windows
        effect = self.adjustments.apply(key, windows, route_windows, self.limiter.now_ms())
        return effect.windows, effect.route_windows

    async def verify(
        self,
        secret: str | None,
        *,
        method: str,
        path: str,
        client_ip: str | None,
        origin: str | None,
        cost: int | None = None,
    ) -> Verdict:
        """The verdict for one request."""
        rule = self.routes.match(method, path)
        if rule is not None and rule.public:
            return await self._public(rule, client_ip, cost)
        if not secret:
            return _deny(DenialCode.API_KEY_MISSING, "send the key in X-API-Key or Authorization")
        if len(secret) > MAX_SECRET_LENGTH or not secret.startswith(KNOWN_PREFIXES):
            return _deny(DenialCode.API_KEY_INVALID, "the API key is not valid")
        try:
            record = await self.cache.get(hash_secret(secret))
        except Exception:
            logger.exception("key lookup failed")
            return _deny(DenialCode.SERVICE_UNAVAILABLE, "keys cannot be verified right now")
        if record is None:
            return _deny(DenialCode.API_KEY_INVALID, "the API key is not valid")
        denial = self._policy(record, rule, client_ip, origin)
        if denial is not None:
            return denial
        return await self._limit(record, rule, cost)

    def _policy(
        self, record: KeyRecord, rule: RouteRule | None, client_ip: str | None, origin: str | None
    ) -> Verdict | None:
        now = self.limiter.now_ms()
        if record.status is KeyStatus.REVOKED:
            return _deny(DenialCode.API_KEY_REVOKED, "the API key has been revoked", record)
        if record.status is KeyStatus.DISABLED or not record.tenant_active:
            return _deny(DenialCode.API_KEY_INVALID, "the API key is disabled", record)
        if record.expires_at_ms is not None and record.expires_at_ms <= now:
            return _deny(DenialCode.API_KEY_EXPIRED, "the API key has expired", record)
        if record.secret_expires_at_ms is not None and record.secret_expires_at_ms <= now:
            return _deny(DenialCode.API_KEY_INVALID, "this secret was rotated out", record)
        if not _ip_allowed(record, client_ip):
            return _deny(DenialCode.IP_NOT_ALLOWED, f"requests from {client_ip} are not allowed")
        if record.origins and origin is not None and normalize_origin(origin) not in record.origins:
            return _deny(DenialCode.ORIGIN_NOT_ALLOWED, f"origin {origin} is not allowed", record)
        if rule is not None:
            missing = [s for s in rule.scopes if not scope_grants(record.scopes, s)]
            if missing:
                detail = f"the key lacks scope {', '.join(missing)}"
                return _deny(DenialCode.PERMISSION_DENIED, detail, record)
        return None

    async def _limit(self, record: KeyRecord, rule: RouteRule | None, cost: int | None) -> Verdict:
        units = cost if cost is not None else (rule.cost if rule else 1)
        windows, route_windows = self._windows(
            KeyTraits(record.key_id, record.tenant_id, record.plan),
            record.windows,
            rule.windows if rule else (),
        )
        try:
            decision = await self.limiter.hit(
                record.key_id,
                windows,
                record.quota,
                units,
                route_windows=route_windows,
                route=rule.name if rule else "",
            )
        except LimiterUnavailable:
            return _deny(DenialCode.SERVICE_UNAVAILABLE, "rate limits cannot be checked", record)
        if decision.allowed:
            return Verdict(None, "", record, decision, rule)
        if decision.quota_exceeded:
            return Verdict(
                DenialCode.QUOTA_EXCEEDED, "the quota is used up", record, decision, rule
            )
        detail = f"rate limit exceeded; retry in {decision.retry_after_seconds}s"
        return Verdict(DenialCode.RATE_LIMIT_EXCEEDED, detail, record, decision, rule)

    async def _public(self, rule: RouteRule, client_ip: str | None, cost: int | None) -> Verdict:
        if not rule.windows:
            return Verdict(None, "", None, None, rule)
        _, route_windows = self._windows(PUBLIC, (), rule.windows)
        try:
            decision = await self.limiter.hit(
                f"ip:{client_ip or 'unknown'}", (), None, cost or rule.cost,
                route_windows=route_windows, route=rule.name,
            )  # fmt: skip
        except LimiterUnavailable:
            return _deny(DenialCode.SERVICE_UNAVAILABLE, "rate limits cannot be checked")
        if decision.allowed:
            return Verdict(None, "", None, decision, rule)
        detail = f"rate limit exceeded; retry in {decision.retry_after_seconds}s"
        return Verdict(DenialCode.RATE_LIMIT_EXCEEDED, detail, None, decision, rule)
