"""The enforcement decision for one request, shared by the middleware and `verifyApiKey`."""

from __future__ import annotations

import ipaddress
import logging

from tollway.adjustments.rules import PUBLIC, AdjustmentTable, Subject
from tollway.enforcement.invalid_keys import InvalidKeyBudget
from tollway.enforcement.problems import DenialCode
from tollway.enforcement.routes import RouteRule, RouteTable, scope_grants
from tollway.keys.cache import DatabaseUnavailable, KeyCache
from tollway.keys.records import KeyRecord
from tollway.keys.secrets import MAX_SECRET_LENGTH, PREFIXES
from tollway.keys.validation import normalize_origin
from tollway.models import KeyStatus
from tollway.ratelimit import Decision, Limiter, Quota, Window
from tollway.ratelimit.failover import LimiterUnavailable

logger = logging.getLogger(__name__)
KNOWN_PREFIXES = tuple(PREFIXES.values())


class Verdict:
    """Allowed (code None) or the denial, with the key and limit state when known.

    A plain slotted class, built once per request: it constructs several times faster than a
    frozen dataclass. Treat it as immutable all the same.
    """

    __slots__ = ("code", "decision", "detail", "now_ms", "record", "retry_after", "rule")

    def __init__(
        self,
        code: DenialCode | None,
        detail: str,
        *,
        record: KeyRecord | None = None,
        decision: Decision | None = None,
        rule: RouteRule | None = None,
        now_ms: int = 0,
        retry_after: int | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.record = record
        self.decision = decision
        self.rule = rule
        self.now_ms = now_ms  # the one clock reading the whole verdict was made at
        self.retry_after = retry_after  # seconds, for a denial without a limit decision

    @property
    def allowed(self) -> bool:
        """True when the request may proceed."""
        return self.code is None


def _deny(
    code: DenialCode, detail: str, rule: RouteRule | None, record: KeyRecord | None = None
) -> Verdict:
    # A dependency that is down may be back in a second: say so (other denials carry their
    # limit decision, or need no wait).
    retry_after = 1 if code is DenialCode.SERVICE_UNAVAILABLE else None
    return Verdict(code, detail, record=record, decision=None, rule=rule, retry_after=retry_after)


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
        *,
        routes: RouteTable,
        adjustments: AdjustmentTable | None = None,
        invalid_key_budget: int = 0,
    ) -> None:
        """`invalid_key_budget`: unknown secrets an address may present per minute (see
        `invalid_keys.py`; 0: no budget)."""
        self.cache = cache
        self.limiter = limiter
        self.routes = routes
        self.adjustments = adjustments if adjustments is not None else AdjustmentTable()
        self.invalid_keys = InvalidKeyBudget(invalid_key_budget, 60, clock=limiter.clock)

    def use_routes(self, routes: RouteTable) -> None:
        """Match requests against `routes` from now on (the stored route rules changed)."""
        self.routes = routes

    def _windows(
        self,
        key: Subject,
        windows: tuple[Window, ...],
        route_windows: tuple[Window, ...],
        now_ms: int,
    ) -> tuple[tuple[Window, ...], tuple[Window, ...]]:
        if self.adjustments.empty:  # the usual case: nothing in force, nothing to compute
            return windows, route_windows
        effect = self.adjustments.apply(key, windows, route_windows=route_windows, now_ms=now_ms)
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
            detail = "send the key in X-API-Key or Authorization"
            return _deny(DenialCode.API_KEY_MISSING, detail, rule)
        if len(secret) > MAX_SECRET_LENGTH or not secret.startswith(KNOWN_PREFIXES):
            return _deny(DenialCode.API_KEY_INVALID, "the API key is not valid", rule)
        cached = self.cache.fresh(secret)  # the usual case: no need to await
        if cached is not None:
            record = cached[0]
        else:
            looked_up = await self._look_up(secret, client_ip, rule)
            if isinstance(looked_up, Verdict):
                return looked_up
            record = looked_up
        now = self.limiter.clock()
        if rule is not None or now >= record.unrestricted_until_ms:
            denial = self._policy(record, rule, client_ip, origin, now)
            if denial is not None:
                return denial
        if rule is None:  # the usual case, written out: this runs on every request
            units = 1 if cost is None else cost
            windows, _ = self._windows(record, record.windows, (), now)
            decision = self.limiter.hit_now(
                record.key_id,
                windows,
                quota=record.quota,
                cost=units,
                route_windows=(),
                route="",
                now_ms=now,
            )
            if decision is not None:  # decided without waiting
                return _verdict(decision, None, record, now)
            return await self._hit(
                record.key_id, windows, record.quota, units, (), None, record, now
            )
        return await self._limit(record, rule, cost, now)

    async def _look_up(
        self, secret: str, client_ip: str | None, rule: RouteRule | None
    ) -> KeyRecord | Verdict:
        """The record of a secret not in the fresh cache, or the denial: an unknown secret,
        the database unreachable, or an address that has spent its budget of unknown ones."""
        wait_ms = self.invalid_keys.retry_after_ms(client_ip)
        if wait_ms is not None:
            seconds = -(-wait_ms // 1000)
            detail = f"too many invalid API keys from this address; retry in {seconds}s"
            code = DenialCode.RATE_LIMIT_EXCEEDED
            return Verdict(code, detail, record=None, decision=None, rule=rule, retry_after=seconds)
        try:
            record = await self.cache.for_secret(secret)
        except DatabaseUnavailable:  # at once while the database is down (the breaker)
            detail = "keys cannot be verified right now"
            return _deny(DenialCode.SERVICE_UNAVAILABLE, detail, rule)
        except Exception:
            logger.exception("key lookup failed")
            detail = "keys cannot be verified right now"
            return _deny(DenialCode.SERVICE_UNAVAILABLE, detail, rule)
        if record is None:
            self.invalid_keys.unknown_secret(client_ip)
            return _deny(DenialCode.API_KEY_INVALID, "the API key is not valid", rule)
        return record

    def _policy(
        self,
        record: KeyRecord,
        rule: RouteRule | None,
        client_ip: str | None,
        origin: str | None,
        now: int,
    ) -> Verdict | None:
        if record.status is KeyStatus.REVOKED:
            return _deny(DenialCode.API_KEY_REVOKED, "the API key has been revoked", rule, record)
        if record.status is KeyStatus.DISABLED or not record.tenant_active:
            return _deny(DenialCode.API_KEY_INVALID, "the API key is disabled", rule, record)
        if record.expires_at_ms is not None and record.expires_at_ms <= now:
            return _deny(DenialCode.API_KEY_EXPIRED, "the API key has expired", rule, record)
        if record.secret_expires_at_ms is not None and record.secret_expires_at_ms <= now:
            return _deny(DenialCode.API_KEY_INVALID, "this secret was rotated out", rule, record)
        if not _ip_allowed(record, client_ip):
            detail = (
                "this key accepts requests only from its allowed IP addresses, and the"
                " request's client address is not known (verifyApiKey: send clientIp)"
                if client_ip is None
                else f"requests from {client_ip} are not allowed"
            )
            return _deny(DenialCode.IP_NOT_ALLOWED, detail, rule, record)
        if record.origins and origin is not None and normalize_origin(origin) not in record.origins:
            detail = f"origin {origin} is not allowed"
            return _deny(DenialCode.ORIGIN_NOT_ALLOWED, detail, rule, record)
        if rule is not None:
            missing = [s for s in rule.scopes if not scope_grants(record.scopes, s)]
            if missing:
                detail = f"the key lacks scope {', '.join(missing)}"
                return _deny(DenialCode.PERMISSION_DENIED, detail, rule, record)
        return None

    async def _limit(
        self, record: KeyRecord, rule: RouteRule | None, cost: int | None, now: int
    ) -> Verdict:
        units = cost if cost is not None else (rule.cost if rule else 1)
        windows, route_windows = self._windows(
            record, record.windows, rule.windows if rule else (), now
        )
        return await self._hit(
            record.key_id, windows, record.quota, units, route_windows, rule, record, now
        )

    async def _public(self, rule: RouteRule, client_ip: str | None, cost: int | None) -> Verdict:
        if not rule.windows:
            return Verdict(None, "", record=None, decision=None, rule=rule)
        now = self.limiter.clock()
        _, route_windows = self._windows(PUBLIC, (), rule.windows, now)
        identity = f"ip:{client_ip or 'unknown'}"
        return await self._hit(
            identity, (), None, cost or rule.cost, route_windows, rule, None, now
        )

    async def _hit(
        self,
        identity: str,
        windows: tuple[Window, ...],
        quota: Quota | None,
        units: int,
        route_windows: tuple[Window, ...],
        rule: RouteRule | None,
        record: KeyRecord | None,
        now: int,
    ) -> Verdict:
        """Count the request against its windows and quota; the verdict from the decision."""
        try:
            decision = await self.limiter.hit(
                identity,
                windows,
                quota=quota,
                cost=units,
                route_windows=route_windows,
                route=rule.name if rule else "",
                now_ms=now,
            )
        except LimiterUnavailable:
            detail = "rate limits cannot be checked"
            return _deny(DenialCode.SERVICE_UNAVAILABLE, detail, rule, record)
        return _verdict(decision, rule, record, now)


def _verdict(
    decision: Decision, rule: RouteRule | None, record: KeyRecord | None, now: int
) -> Verdict:
    if decision.allowed:
        return Verdict(None, "", record=record, decision=decision, rule=rule, now_ms=now)
    retry_after = decision.retry_after_seconds
    if decision.quota_exceeded:
        code = DenialCode.QUOTA_EXCEEDED
        detail = (
            "the quota's credits are spent and do not refill"
            if retry_after is None
            else f"the quota is used up; it resets in {retry_after}s"
        )
    else:
        code = DenialCode.RATE_LIMIT_EXCEEDED
        detail = (
            "the request costs more than the rate limit admits"
            if retry_after is None
            else f"rate limit exceeded; retry in {retry_after}s"
        )
    return Verdict(code, detail, record=record, decision=decision, rule=rule, now_ms=now)
