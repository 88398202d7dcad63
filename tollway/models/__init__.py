"""Tortoise models, one module per aggregate."""

from tollway.models.adjustments import AdjustmentKind, AdjustmentScope, LimitAdjustment
from tollway.models.alerts import (
    Alert,
    AlertMetric,
    AlertRule,
    AlertStatus,
    Comparator,
    DetectorBaseline,
    JobClaim,
    RuleScope,
    Severity,
)
from tollway.models.audit import AuditEntry
from tollway.models.costs import (
    Budget,
    BudgetEvent,
    BudgetPeriod,
    BudgetScope,
    MeteredService,
    PriceRate,
)
from tollway.models.integrations import (
    CredentialType,
    Integration,
    IntegrationCheck,
    IntegrationEnvironment,
    IntegrationProvider,
    IntegrationStatus,
    IntegrationType,
)
from tollway.models.keyring import DataKey
from tollway.models.keys import (
    ApiKey,
    ApiKeySecret,
    KeyEnvironment,
    KeyStatus,
    OwnerType,
    Plan,
    SecurityEvent,
)
from tollway.models.oauth import IntegrationAuthorization, IntegrationToken, OAuthState
from tollway.models.routes import StoredRouteRule
from tollway.models.tenants import Tenant, TenantStatus
from tollway.models.usage import RollupCursor, UsageDirtyMinute, UsageEvent, UsageRollup
from tollway.models.webhooks import (
    AttemptTrigger,
    MessageStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookMessage,
)
from tollway.models.workers import WorkerHeartbeat

__all__ = [
    "AdjustmentKind",
    "AdjustmentScope",
    "Alert",
    "AlertMetric",
    "AlertRule",
    "AlertStatus",
    "ApiKey",
    "ApiKeySecret",
    "AttemptTrigger",
    "AuditEntry",
    "Budget",
    "BudgetEvent",
    "BudgetPeriod",
    "BudgetScope",
    "Comparator",
    "CredentialType",
    "DataKey",
    "DetectorBaseline",
    "Integration",
    "IntegrationAuthorization",
    "IntegrationCheck",
    "IntegrationEnvironment",
    "IntegrationProvider",
    "IntegrationStatus",
    "IntegrationToken",
    "IntegrationType",
    "JobClaim",
    "KeyEnvironment",
    "KeyStatus",
    "LimitAdjustment",
    "MessageStatus",
    "MeteredService",
    "OAuthState",
    "OwnerType",
    "Plan",
    "PriceRate",
    "RollupCursor",
    "RuleScope",
    "SecurityEvent",
    "Severity",
    "StoredRouteRule",
    "Tenant",
    "TenantStatus",
    "UsageDirtyMinute",
    "UsageEvent",
    "UsageRollup",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookMessage",
    "WorkerHeartbeat",
]
