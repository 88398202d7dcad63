"""Tenant types and inputs."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from tollway.models import Tenant as TenantModel
from tollway.models import TenantStatus
from tollway.schema.context import Info
from tollway.tenants.data_policy import DataPolicyChoices, in_force

strawberry.enum(TenantStatus)


@strawberry.type
class DataPolicyChoice:
    """What the tenant chose itself; null where it follows the deployment's setting."""

    anonymize_ips: bool | None
    request_log_retention_days: int | None
    security_event_retention_days: int | None


@strawberry.type
class DataPolicy:
    """How a tenant's client addresses are stored and how long its personal data is kept."""

    anonymize_ips: bool
    """Client addresses are stored as their /24 (IPv4) or /48 (IPv6) network: in usage
    events, security events, and so in the alerts and webhooks made from them."""
    request_log_retention_days: int
    """Raw usage events (the request log) are deleted after this many days."""
    security_event_retention_days: int
    """Security events are deleted after this many days."""
    chosen: DataPolicyChoice
    """The tenant's own choices; the rest is `TOLLWAY_USAGE_ANONYMIZE_IPS`,
    `TOLLWAY_USAGE_RAW_RETENTION_DAYS` and `TOLLWAY_SECURITY_EVENT_RETENTION_DAYS`."""


@strawberry.input
class DataPolicyInput:
    """The tenant's whole data policy: each field left out or null follows the deployment."""

    anonymize_ips: bool | None = None
    request_log_retention_days: int | None = None
    """1 to 3650."""
    security_event_retention_days: int | None = None
    """1 to 3650."""

    def to_choices(self) -> DataPolicyChoices:
        """The domain's value (BAD_USER_INPUT out of range)."""
        return DataPolicyChoices(
            anonymize_ips=self.anonymize_ips,
            request_log_retention_days=self.request_log_retention_days,
            security_event_retention_days=self.security_event_retention_days,
        )


@strawberry.type
class Tenant:
    """An organisation using Tollway."""

    id: strawberry.ID
    name: str
    status: TenantStatus
    metadata: JSON
    auto_disable_compromised_keys: bool
    """Security policy: a key the detectors judge compromised is disabled (and audited)."""
    created_at: datetime
    updated_at: datetime
    choices: strawberry.Private[DataPolicyChoices]

    @strawberry.field
    def data_policy(self, info: Info) -> DataPolicy:
        """The data policy in force, and what of it the tenant chose itself."""
        policy = in_force(self.choices, info.context.services.data_policies.defaults)
        return DataPolicy(**asdict(policy), chosen=DataPolicyChoice(**self.choices.columns()))

    @classmethod
    def from_model(cls, model: TenantModel) -> Tenant:
        """Build from the Tortoise row."""
        return cls(
            id=strawberry.ID(str(model.id)),
            name=model.name,
            status=model.status,
            metadata=cast(JSON, model.metadata),
            auto_disable_compromised_keys=model.auto_disable_compromised_keys,
            created_at=model.created_at,
            updated_at=model.updated_at,
            choices=DataPolicyChoices.of(model),
        )


@strawberry.input
class CreateTenantInput:
    """Fields of a new tenant."""

    name: str
    metadata: JSON | None = None


@strawberry.input
class UpdateTenantInput:
    """Fields to change; omitted fields stay as they are."""

    name: str | None = None
    status: TenantStatus | None = None
    metadata: JSON | None = None
    auto_disable_compromised_keys: bool | None = None


@strawberry.type
class TenantPayload:
    """Result of a tenant mutation."""

    tenant: Tenant
