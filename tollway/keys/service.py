"""API key lifecycle: create, update, revoke, rotate, delete, list. Every change is audited
and invalidates the key in every instance's enforcement cache."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import KEY_READ_ROLES, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, Conflict, NotFound
from tollway.events import INVALIDATIONS_CHANNEL, EventBus
from tollway.keys.limits import (
    QuotaSpec,
    WindowSpec,
    quota_to_json,
    validate_quota,
    validate_windows,
    windows_to_json,
)
from tollway.keys.plans import DEFAULT_PLAN, PlanService
from tollway.keys.secrets import generate_secret
from tollway.keys.validation import clean_expiry, clean_networks, clean_origins, clean_scopes
from tollway.models import ApiKey, ApiKeySecret, KeyEnvironment, KeyStatus, OwnerType, Tenant
from tollway.pagination import Page, paginate
from tollway.tenants.service import clean_metadata
from tollway.text import clean_text as text
from tollway.webhooks.outbox import WebhookOutbox, iso

MAX_GRACE = timedelta(days=30)


@dataclass(slots=True)
class NewKey:
    """Fields of `createApiKey`."""

    tenant_id: UUID
    name: str
    environment: KeyEnvironment = KeyEnvironment.LIVE
    description: str = ""
    owner_type: OwnerType = OwnerType.CUSTOMER
    owner_id: str | None = None
    scopes: list[str] = field(default_factory=list)
    allowed_ips: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    expires_at: datetime | None = None
    plan: str | None = None
    rate_limits: list[WindowSpec] | None = None
    quota: QuotaSpec | None = None
    rotation_period_days: int | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """Filters of `apiKeys`."""

    tenant_id: UUID | None = None
    status: KeyStatus | None = None
    environment: KeyEnvironment | None = None
    plan: str | None = None
    owner_type: OwnerType | None = None
    owner_id: str | None = None
    search: str | None = None


def effective_status(key: ApiKey, now: datetime | None = None) -> KeyStatus:
    """ACTIVE keys past their expiry read as EXPIRED."""
    moment = now or datetime.now(UTC)
    if key.status is KeyStatus.ACTIVE and key.expires_at and key.expires_at <= moment:
        return KeyStatus.EXPIRED
    return key.status


def webhook_data(key: ApiKey, **extra: Any) -> dict[str, Any]:
    """The `data` of an `api_key.*` webhook event (never the secret)."""
    return {
        "id": str(key.id), "tenantId": str(key.tenant_id), "name": key.name,
        "prefix": key.prefix, "maskedKey": key.masked_key, "status": effective_status(key).value,
        "environment": key.environment.value, "ownerType": key.owner_type.value,
        "ownerId": key.owner_id, "scopes": list(key.scopes),
        "expiresAt": None if key.expires_at is None else iso(key.expires_at), **extra,
    }  # fmt: skip


def _rotation_days(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= 3650:
        raise BadUserInput("rotationPeriodDays must be between 1 and 3650")
    return days


class KeyService:
    """Key reads and writes, each checked against the principal's role and tenant."""

    def __init__(
        self,
        audit: AuditService,
        plans: PlanService,
        *,
        bus: EventBus,
        outbox: WebhookOutbox,
        max_page_size: int,
    ) -> None:
        self._audit = audit
        self._outbox = outbox
        self._plans = plans
        self._bus = bus
        self._max_page_size = max_page_size

    async def _invalidate(self, key_id: UUID, new_secret_hash: str | None = None) -> None:
        message = {"key_id": str(key_id)}
        if new_secret_hash is not None:  # no instance may still call this secret unknown
            message["secret_hash"] = new_secret_hash
        await self._bus.publish(INVALIDATIONS_CHANNEL, message)

    async def _owned(self, principal: Principal, key_id: UUID, *, lock: bool = False) -> ApiKey:
        query = ApiKey.select_for_update() if lock else ApiKey.all()
        key = await query.get_or_none(id=key_id)
        if key is None or not principal.sees(key.tenant_id):
            raise NotFound(f"API key {key_id} not found")
        return key

    async def create(self, principal: Principal, new: NewKey) -> tuple[ApiKey, str]:
        """A new key and its secret (returned this once, never stored)."""
        principal.require_role(WRITE_ROLES, "create API keys")
        principal.require_tenant(new.tenant_id)
        if not await Tenant.exists(id=new.tenant_id):
            raise NotFound(f"tenant {new.tenant_id} not found")
        plan = await self._plans.by_name(new.plan or DEFAULT_PLAN)
        windows = None if new.rate_limits is None else validate_windows(new.rate_limits)
        fields: dict[str, Any] = {
            "tenant_id": new.tenant_id,
            "name": text(new.name, "name", maximum=120),
            "description": text(new.description, "description", maximum=2000, required=False),
            "owner_type": new.owner_type,
            "owner_id": _owner_id(new.owner_id),
            "environment": new.environment,
            "scopes": clean_scopes(new.scopes),
            "allowed_ips": clean_networks(new.allowed_ips),
            "allowed_origins": clean_origins(new.allowed_origins),
            "expires_at": clean_expiry(new.expires_at, datetime.now(UTC)),
            "plan_id": plan.id,
            "rate_limits": None if windows is None else windows_to_json(windows),
            "quota": quota_to_json(validate_quota(new.quota)),
            "rotation_period_days": _rotation_days(new.rotation_period_days),
            "metadata": clean_metadata(new.metadata or {}),
        }
        secret = generate_secret(new.environment)
        async with in_transaction():
            key = await ApiKey.create(prefix=secret.prefix, masked_key=secret.masked, **fields)
            await ApiKeySecret.create(hash=secret.hash, key_id=key.id)
            entry = await self._audit.record(
                principal,
                "api_key.create",
                target_type="api_key",
                target_id=key.id,
                tenant_id=new.tenant_id,
                changes={**fields, "plan": plan.name, "prefix": secret.prefix},
            )
            await self._outbox.emit(key.tenant_id, "api_key.created",
                                    data=webhook_data(key, plan=plan.name))  # fmt: skip
        self._audit.announce(entry)
        await self._invalidate(key.id, secret.hash)
        return key, secret.secret

    async def update(
        self, principal: Principal, key_id: UUID, *, changes: dict[str, Any]
    ) -> ApiKey:
        """Change anything but the secret. `status` may move between ACTIVE and DISABLED."""
        principal.require_role(WRITE_ROLES, "update API keys")
        fields = await self._clean_changes(changes)
        if not fields:
            raise BadUserInput("nothing to update: give at least one field")
        async with in_transaction():
            key = await self._owned(principal, key_id, lock=True)
            if key.status is KeyStatus.REVOKED:
                raise Conflict("a revoked key cannot be changed")
            before = {name: getattr(key, name) for name in fields}
            key.update_from_dict(fields)
            await key.save(update_fields=[*fields, "updated_at"])
            entry = await self._audit.record(
                principal,
                "api_key.update",
                target_type="api_key",
                target_id=key.id,
                tenant_id=key.tenant_id,
                changes={
                    k: {"from": before[k], "to": v} for k, v in fields.items() if before[k] != v
                },
            )
            changed = sorted(k for k, v in fields.items() if before[k] != v)
            await self._outbox.emit(
                key.tenant_id, "api_key.updated", data=webhook_data(key, changed=changed)
            )
        self._audit.announce(entry)
        await self._invalidate(key.id)
        return key

    async def _clean_changes(self, changes: dict[str, Any]) -> dict[str, Any]:
        cleaners: dict[str, Callable[[Any], Any]] = {
            "name": lambda v: text(v, "name", maximum=120),
            "description": lambda v: text(v or "", "description", maximum=2000, required=False),
            "owner_type": lambda v: v,
            "owner_id": _owner_id,
            "scopes": clean_scopes,
            "allowed_ips": clean_networks,
            "allowed_origins": clean_origins,
            "expires_at": lambda v: clean_expiry(v, datetime.now(UTC)),
            "rate_limits": lambda v: None if v is None else windows_to_json(validate_windows(v)),
            "quota": lambda v: quota_to_json(validate_quota(v)),
            "rotation_period_days": _rotation_days,
            "metadata": lambda v: clean_metadata(v or {}),
        }
        fields: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "status":
                if value not in {KeyStatus.ACTIVE, KeyStatus.DISABLED}:
                    raise BadUserInput("status can be set to ACTIVE or DISABLED (use revokeApiKey)")
                fields["status"] = value
            elif name == "plan":
                fields["plan_id"] = (await self._plans.by_name(value)).id
            elif name in cleaners:
                fields[name] = cleaners[name](value)
            else:
                raise BadUserInput(f"{name} cannot be updated")
        return fields

    async def revoke(self, principal: Principal, key_id: UUID, *, reason: str | None) -> ApiKey:
        """Irreversible: the key and every secret of it stop working everywhere."""
        principal.require_role(WRITE_ROLES, "revoke API keys")
        reason_text: str | None = text(reason or "", "reason", maximum=500, required=False) or None
        async with in_transaction():
            key = await self._owned(principal, key_id, lock=True)
            if key.status is KeyStatus.REVOKED:
                raise Conflict("the key is already revoked")
            key.status = KeyStatus.REVOKED
            key.revoked_at = datetime.now(UTC)
            key.revoked_reason = reason_text
            await key.save(update_fields=["status", "revoked_at", "revoked_reason", "updated_at"])
            entry = await self._audit.record(
                principal,
                "api_key.revoke",
                target_type="api_key",
                target_id=key.id,
                tenant_id=key.tenant_id,
                changes={"reason": reason_text},
            )
            await self._outbox.emit(key.tenant_id, "api_key.revoked",
                                    data=webhook_data(key, reason=reason_text))  # fmt: skip
        self._audit.announce(entry)
        await self._invalidate(key.id)
        return key

    async def rotate(
        self, principal: Principal, key_id: UUID, *, grace_seconds: int
    ) -> tuple[ApiKey, str]:
        """A new secret; the old ones keep working for `grace_seconds`, then stop."""
        principal.require_role(WRITE_ROLES, "rotate API keys")
        if not 0 <= grace_seconds <= MAX_GRACE.total_seconds():
            raise BadUserInput(f"gracePeriodSeconds must be between 0 and {MAX_GRACE.days} days")
        now = datetime.now(UTC)
        grace_end = now + timedelta(seconds=grace_seconds)
        async with in_transaction():
            key = await self._owned(principal, key_id, lock=True)
            if key.status is KeyStatus.REVOKED:
                raise Conflict("a revoked key cannot be rotated")
            old = ApiKeySecret.filter(key_id=key.id)
            if grace_seconds == 0:
                await old.delete()
            else:
                await old.filter(expires_at__isnull=True).update(expires_at=grace_end)
                await old.filter(expires_at__gt=grace_end).update(expires_at=grace_end)
            secret = generate_secret(key.environment)
            await ApiKeySecret.create(hash=secret.hash, key_id=key.id)
            key.prefix, key.masked_key, key.rotated_at = secret.prefix, secret.masked, now
            await key.save(update_fields=["prefix", "masked_key", "rotated_at", "updated_at"])
            entry = await self._audit.record(
                principal,
                "api_key.rotate",
                target_type="api_key",
                target_id=key.id,
                tenant_id=key.tenant_id,
                changes={"grace_period_seconds": grace_seconds, "prefix": secret.prefix},
            )
            await self._outbox.emit(
                key.tenant_id, "api_key.rotated",
                data=webhook_data(key, gracePeriodSeconds=grace_seconds,
                             previousSecretsExpireAt=iso(grace_end) if grace_seconds else None),
            )  # fmt: skip
        self._audit.announce(entry)
        await self._invalidate(key.id, secret.hash)
        return key, secret.secret

    async def delete(self, principal: Principal, key_id: UUID) -> None:
        """Remove the key and its secrets for good."""
        principal.require_role(WRITE_ROLES, "delete API keys")
        async with in_transaction():
            key = await self._owned(principal, key_id, lock=True)
            entry = await self._audit.record(
                principal,
                "api_key.delete",
                target_type="api_key",
                target_id=key.id,
                tenant_id=key.tenant_id,
                changes={"name": key.name, "prefix": key.prefix},
            )
            await self._outbox.emit(key.tenant_id, "api_key.deleted", data=webhook_data(key))
            await key.delete()
        self._audit.announce(entry)
        await self._invalidate(key_id)

    @staticmethod
    async def names_by_ids(ids: Iterable[UUID]) -> dict[UUID, str]:
        """Batch load of key names for DataLoaders (the caller has already scoped the ids)."""
        rows = await ApiKey.filter(id__in=list(ids)).values_list("id", "name")
        return {UUID(str(key_id)): name for key_id, name in rows}

    async def get(self, principal: Principal, key_id: UUID) -> ApiKey:
        """One key of the principal's tenant."""
        principal.require_role(KEY_READ_ROLES, "read API keys")
        return await self._owned(principal, key_id)

    def _query(self, principal: Principal, flt: KeyFilter) -> QuerySet[ApiKey]:
        principal.require_role(KEY_READ_ROLES, "read API keys")
        query = ApiKey.all()
        tenant_id = principal.scope_tenant(flt.tenant_id)
        if tenant_id is not None:
            query = query.filter(tenant_id=tenant_id)
        now = datetime.now(UTC)
        if flt.status is KeyStatus.EXPIRED:
            query = query.filter(status=KeyStatus.ACTIVE, expires_at__lte=now)
        elif flt.status is KeyStatus.ACTIVE:
            query = query.filter(status=KeyStatus.ACTIVE).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        elif flt.status is not None:
            query = query.filter(status=flt.status)
        if flt.environment is not None:
            query = query.filter(environment=flt.environment)
        if flt.plan:
            query = query.filter(plan__name=flt.plan.strip().upper())
        if flt.owner_type is not None:
            query = query.filter(owner_type=flt.owner_type)
        if flt.owner_id:
            query = query.filter(owner_id=flt.owner_id)
        if flt.search:
            term = flt.search.strip()
            query = query.filter(Q(name__icontains=term) | Q(prefix__startswith=term))
        return query

    async def list(
        self, principal: Principal, flt: KeyFilter, *, first: int | None, after: str | None
    ) -> Page[ApiKey]:
        """Newest first."""
        return await paginate(
            self._query(principal, flt),
            first=first,
            after=after,
            sort_field="created_at",
            descending=True,
            max_page_size=self._max_page_size,
        )


def _owner_id(value: str | None) -> str | None:
    """Who the key belongs to in the tenant's own terms (at most 200 characters)."""
    return None if value is None else text(value, "ownerId", maximum=200, required=False) or None
