"""A tenant's data policy: how its client addresses are stored and how long its personal data
is kept. Each part the tenant leaves unset follows the deployment's settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import WRITE_ROLES, Principal
from tollway.errors import BadUserInput, NotFound
from tollway.events import INVALIDATIONS_CHANNEL, EventBus
from tollway.models import Tenant
from tollway.settings import Settings
from tollway.text import camel_case

MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True, slots=True)
class DataPolicyChoices:
    """What a tenant chose itself; None everywhere it follows the deployment."""

    anonymize_ips: bool | None = None
    request_log_retention_days: int | None = None
    """Raw usage events (the request log, with addresses and user agents)."""
    security_event_retention_days: int | None = None
    """Denied requests and failed admin logins, with their addresses."""

    def __post_init__(self) -> None:
        for name in ("request_log_retention_days", "security_event_retention_days"):
            days = getattr(self, name)
            if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
                raise BadUserInput(f"{camel_case(name)} must be between 1 and {MAX_RETENTION_DAYS}")

    @classmethod
    def of(cls, tenant: Tenant) -> DataPolicyChoices:
        """The choices stored on a tenant row."""
        return cls(**{f.name: getattr(tenant, f.name) for f in fields(cls)})

    def columns(self) -> dict[str, Any]:
        """The tenant columns holding these choices."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class DataPolicy:
    """The policy in force for one tenant."""

    anonymize_ips: bool
    request_log_retention_days: int
    security_event_retention_days: int


def data_policy_defaults(settings: Settings) -> DataPolicyChoices:
    """The deployment's policy, from the environment."""
    return DataPolicyChoices(
        anonymize_ips=settings.usage_anonymize_ips,
        request_log_retention_days=settings.usage_raw_retention_days,
        security_event_retention_days=settings.security_event_retention_days,
    )


def in_force(choices: DataPolicyChoices, defaults: DataPolicyChoices) -> DataPolicy:
    """Each choice the tenant made, the default where it made none."""

    def pick(name: str) -> Any:
        chosen = getattr(choices, name)
        return getattr(defaults, name) if chosen is None else chosen

    return DataPolicy(
        anonymize_ips=bool(pick("anonymize_ips")),
        request_log_retention_days=int(pick("request_log_retention_days")),
        security_event_retention_days=int(pick("security_event_retention_days")),
    )


async def retention_choices() -> dict[str, DataPolicyChoices]:
    """The tenants that chose a retention of their own, by id (for the retention job)."""
    rows = await Tenant.filter(
        Q(request_log_retention_days__isnull=False) | Q(security_event_retention_days__isnull=False)
    )
    return {str(t.id): DataPolicyChoices.of(t) for t in rows}


class DataPolicyService:
    """Reads and sets tenants' data policies (audited; every instance picks a change up)."""

    def __init__(self, audit: AuditService, bus: EventBus, *, defaults: DataPolicyChoices) -> None:
        self._audit = audit
        self._bus = bus
        self.defaults = defaults

    async def choose(
        self, principal: Principal, tenant_id: UUID, *, choices: DataPolicyChoices
    ) -> Tenant:
        """Replace the tenant's choices (None: follow the deployment) and audit the change."""
        principal.require_role(WRITE_ROLES, "set data policies")
        principal.require_tenant(tenant_id)
        columns = choices.columns()
        async with in_transaction():
            tenant = await Tenant.select_for_update().get_or_none(id=tenant_id)
            if tenant is None:
                raise NotFound(f"tenant {tenant_id} not found")
            before = DataPolicyChoices.of(tenant).columns()
            tenant.update_from_dict(columns)
            await tenant.save(update_fields=[*columns, "updated_at"])
            changes = {
                k: {"from": before[k], "to": v} for k, v in columns.items() if before[k] != v
            }
            entry = await self._audit.record(
                principal,
                "tenant.data_policy",
                target_type="tenant",
                target_id=tenant.id,
                tenant_id=tenant.id,
                changes=changes,
            )
        self._audit.announce(entry)
        if "anonymize_ips" in changes:  # cached keys carry the old choice
            await self._bus.publish(INVALIDATIONS_CHANNEL, {"all": True})
        return tenant
