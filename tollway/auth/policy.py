"""Least privilege as data: which roles may call each admin operation, and what its ids name.

`POLICY` has one entry per query, mutation and subscription (and per object field that takes
arguments). The GraphQL permission class reads it before any resolver runs: the role first
(FORBIDDEN), then every id in the arguments, filters and inputs included (FORBIDDEN for another
tenant's, NOT_FOUND for one that exists nowhere). The services keep their own role checks as
a second line; a test generated from the schema holds the two and this table together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tollway.auth.ownership import IdKind
from tollway.auth.principal import (
    ALL_ROLES,
    KEY_READ_ROLES,
    KEY_USE_ROLES,
    READ_ROLES,
    SUPER_ADMIN_ONLY,
    WRITE_ROLES,
    Role,
)


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call one operation, and the kind of every id argument (by GraphQL path)."""

    roles: frozenset[Role]
    ids: Mapping[str, IdKind] = field(default_factory=dict)


T, K, E, C = IdKind.TENANT, IdKind.API_KEY, IdKind.WEBHOOK_ENDPOINT, IdKind.CLIENT
TENANT_AND_KEY = {"tenantId": T, "apiKeyId": K}
FILTER_TENANT_AND_KEY = {"filter.tenantId": T, "filter.keyId": K}
TENANT_ONLY = {"tenantId": T}


def _one(kind: IdKind, roles: frozenset[Role]) -> Access:
    return Access(roles, {"id": kind})


POLICY: Mapping[str, Access] = MappingProxyType({
    "Query.health": Access(ALL_ROLES),
    "Query.me": Access(ALL_ROLES),
    "Query.tenants": Access(READ_ROLES),
    "Query.tenant": _one(T, READ_ROLES),
    "Query.auditLog": Access(
        READ_ROLES, {"filter.tenantId": T, "filter.targetId": IdKind.AUDIT_TARGET}
    ),
    "Query.apiKeys": Access(KEY_READ_ROLES, {"tenantId": T, "ownerId": C}),
    "Query.apiKey": _one(K, KEY_READ_ROLES),
    "Query.plans": Access(KEY_READ_ROLES),
    "Query.limitAdjustments": Access(READ_ROLES, TENANT_AND_KEY),
    "Query.limitAdjustment": _one(IdKind.LIMIT_ADJUSTMENT, READ_ROLES),
    "Query.usage": Access(READ_ROLES, TENANT_AND_KEY),
    "Query.usageSeries": Access(READ_ROLES, TENANT_AND_KEY),
    "Query.usageBreakdown": Access(READ_ROLES, TENANT_AND_KEY),
    "Query.topRoutes": Access(READ_ROLES, TENANT_AND_KEY),
    "Query.errorsByCode": Access(READ_ROLES, TENANT_AND_KEY),
    "Query.requestLogs": Access(READ_ROLES, TENANT_AND_KEY),
    "Query.meteredServices": Access(READ_ROLES),
    "Query.priceRates": Access(READ_ROLES),
    "Query.costs": Access(READ_ROLES, TENANT_ONLY),
    "Query.budgets": Access(READ_ROLES, TENANT_ONLY),
    "Query.budgetStatus": _one(IdKind.BUDGET, READ_ROLES),
    "Query.budgetEvents": _one(IdKind.BUDGET, READ_ROLES),
    "Query.recommendations": Access(READ_ROLES, TENANT_ONLY),
    "Query.alerts": Access(READ_ROLES, FILTER_TENANT_AND_KEY),
    "Query.alert": _one(IdKind.ALERT, READ_ROLES),
    "Query.alertSummary": Access(READ_ROLES, TENANT_ONLY),
    "Query.alertRules": Access(READ_ROLES, TENANT_ONLY),
    "Query.securityEvents": Access(READ_ROLES, FILTER_TENANT_AND_KEY),
    "Query.securitySummary": Access(READ_ROLES, FILTER_TENANT_AND_KEY),
    "Query.webhookEndpoints": Access(READ_ROLES, TENANT_ONLY),
    "Query.webhookEndpoint": _one(E, READ_ROLES),
    "Query.integrations": Access(READ_ROLES, {"filter.tenantId": T}),
    "Query.integration": _one(IdKind.INTEGRATION, READ_ROLES),
    "Query.integrationProviders": Access(READ_ROLES),
    "Query.webhookMessages": Access(READ_ROLES, {"filter.tenantId": T, "filter.endpointId": E}),
    "Query.webhookMessage": _one(IdKind.WEBHOOK_MESSAGE, READ_ROLES),
    "Query.webhookAttempts": Access(READ_ROLES, {
        "filter.tenantId": T, "filter.endpointId": E, "filter.messageId": IdKind.WEBHOOK_MESSAGE,
    }),
    "Query.webhookEventTypes": Access(READ_ROLES),
    "Query.routeRules": Access(READ_ROLES),
    "ApiKey.usage": Access(READ_ROLES),
    "Integration.checks": Access(READ_ROLES),
    "WebhookEndpoint.stats": Access(READ_ROLES),
    "Mutation.createTenant": Access(SUPER_ADMIN_ONLY),
    "Mutation.updateTenant": _one(T, WRITE_ROLES),
    "Mutation.setTenantDataPolicy": Access(WRITE_ROLES, TENANT_ONLY),
    "Mutation.createApiKey": Access(WRITE_ROLES, {"input.tenantId": T, "input.ownerId": C}),
    "Mutation.updateApiKey": Access(WRITE_ROLES, {"id": K, "input.ownerId": C}),
    "Mutation.revokeApiKey": _one(K, WRITE_ROLES),
    "Mutation.rotateApiKey": _one(K, WRITE_ROLES),
    "Mutation.deleteApiKey": _one(K, WRITE_ROLES),
    "Mutation.createPlan": Access(SUPER_ADMIN_ONLY),
    "Mutation.updatePlan": Access(SUPER_ADMIN_ONLY),
    "Mutation.verifyApiKey": Access(KEY_USE_ROLES),
    "Mutation.createLimitAdjustment": Access(WRITE_ROLES, {
        "input.tenantId": T, "input.apiKeyId": K, "input.exemptApiKeyIds": K,
    }),
    "Mutation.endLimitAdjustment": _one(IdKind.LIMIT_ADJUSTMENT, WRITE_ROLES),
    "Mutation.recordUsage": Access(KEY_USE_ROLES, {
        "events.eventId": C, "events.tenantId": T, "events.apiKeyId": K,
    }),
    "Mutation.createMeteredService": Access(SUPER_ADMIN_ONLY),
    "Mutation.createPriceRate": Access(SUPER_ADMIN_ONLY),
    "Mutation.createBudget": Access(WRITE_ROLES, {"input.tenantId": T}),
    "Mutation.deleteBudget": _one(IdKind.BUDGET, WRITE_ROLES),
    "Mutation.acknowledgeAlert": _one(IdKind.ALERT, WRITE_ROLES),
    "Mutation.resolveAlert": _one(IdKind.ALERT, WRITE_ROLES),
    "Mutation.createAlertRule": Access(WRITE_ROLES, {"input.tenantId": T}),
    "Mutation.updateAlertRule": _one(IdKind.ALERT_RULE, WRITE_ROLES),
    "Mutation.deleteAlertRule": _one(IdKind.ALERT_RULE, WRITE_ROLES),
    "Mutation.createWebhookEndpoint": Access(WRITE_ROLES, {"input.tenantId": T}),
    "Mutation.updateWebhookEndpoint": _one(E, WRITE_ROLES),
    "Mutation.deleteWebhookEndpoint": _one(E, WRITE_ROLES),
    "Mutation.rotateWebhookSecret": _one(E, WRITE_ROLES),
    "Mutation.sendTestWebhook": Access(WRITE_ROLES, {"endpointId": E}),
    "Mutation.replayWebhookMessage": _one(IdKind.WEBHOOK_MESSAGE, WRITE_ROLES),
    "Mutation.recoverWebhookMessages": Access(WRITE_ROLES, {"endpointId": E}),
    "Mutation.createRouteRule": Access(SUPER_ADMIN_ONLY),
    "Mutation.updateRouteRule": _one(IdKind.ROUTE_RULE, SUPER_ADMIN_ONLY),
    "Mutation.deleteRouteRule": _one(IdKind.ROUTE_RULE, SUPER_ADMIN_ONLY),
    "Mutation.rotateEncryptionKey": Access(SUPER_ADMIN_ONLY),
    "Mutation.createIntegration": Access(WRITE_ROLES, {"input.tenantId": T}),
    "Mutation.updateIntegration": _one(IdKind.INTEGRATION, WRITE_ROLES),
    "Mutation.deleteIntegration": _one(IdKind.INTEGRATION, WRITE_ROLES),
    "Mutation.checkIntegration": _one(IdKind.INTEGRATION, WRITE_ROLES),
    "Mutation.startIntegrationAuthorization": _one(IdKind.INTEGRATION, WRITE_ROLES),
    "Mutation.updateIntegrationProvider": Access(SUPER_ADMIN_ONLY),
    "Subscription.auditEvents": Access(READ_ROLES, TENANT_ONLY),
    "Subscription.alerts": Access(READ_ROLES, TENANT_ONLY),
    "Subscription.securityEvents": Access(READ_ROLES, TENANT_ONLY),
    "Subscription.metrics": Access(READ_ROLES, {"tenantId": T, "keyId": K}),
    "Subscription.integrationStatus": Access(
        READ_ROLES, {"tenantId": T, "integrationId": IdKind.INTEGRATION}
    ),
})  # fmt: skip


def role_table() -> str:
    """The table as Markdown, one row per set of roles (README shows it)."""
    by_roles: dict[frozenset[Role], list[str]] = {}
    for operation, access in POLICY.items():
        by_roles.setdefault(access.roles, []).append(_short(operation))
    roles = list(Role)
    lines = [
        "| operations | " + " | ".join(r.value for r in roles) + " |",
        "| --- |" + " :-: |" * len(roles),
    ]
    for allowed, operations in sorted(by_roles.items(), key=lambda kv: -len(kv[0])):
        marks = " | ".join("✓" if r in allowed else "" for r in roles)
        lines.append(f"| {', '.join(f'`{o}`' for o in operations)} | {marks} |")
    return "\n".join(lines)


def _short(operation: str) -> str:
    kind, name = operation.split(".")
    return {"Query": name, "Mutation": name, "Subscription": f"{name} (subscription)"}.get(
        kind, operation
    )


if __name__ == "__main__":
    print(role_table())  # what README shows: `python -m tollway.auth.policy`
