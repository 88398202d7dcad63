"""The area services one process shares, built once by `app.build_app`."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from tollway.adjustments.service import AdjustmentService
from tollway.alerts.engine import AlertEngine
from tollway.alerts.lifecycle import AlertStore
from tollway.alerts.rules import AlertRuleService
from tollway.alerts.security import SecurityService
from tollway.audit.service import AuditService
from tollway.auth.login_guard import AdminLoginGuard
from tollway.auth.tokens import TokenAuthority
from tollway.connections import Connections
from tollway.costs.budgets import BudgetService
from tollway.costs.catalog import ServiceCatalog
from tollway.costs.recommendations import RecommendationService
from tollway.costs.service import CostService
from tollway.enforcement.route_store import RouteRuleService
from tollway.enforcement.runtime import EnforcementRuntime
from tollway.enforcement.verification import VerificationService
from tollway.events import EventBus
from tollway.health.checks import HealthChecker
from tollway.integrations.assembly import IntegrationServices
from tollway.integrations.authorization import IntegrationAuthorizations
from tollway.integrations.catalogue import ProviderCatalogue
from tollway.integrations.client import IntegrationClients
from tollway.integrations.health import IntegrationHealth
from tollway.integrations.registry import IntegrationService
from tollway.integrations.status import StatusTransitions
from tollway.keyring.keyring import Keyring
from tollway.keys.plans import PlanService
from tollway.keys.service import KeyService
from tollway.metering.analytics import AnalyticsService
from tollway.metering.reporting import UsageReporter
from tollway.settings import Settings
from tollway.signals import Signals
from tollway.tenants.data_policy import DataPolicyService
from tollway.tenants.service import TenantService
from tollway.webhooks.dispatcher import WebhookDispatcher
from tollway.webhooks.endpoints import WebhookEndpointService
from tollway.webhooks.messages import WebhookMessageService
from tollway.webhooks.outbox import WebhookOutbox


@dataclass(slots=True)
class Services:
    """Everything resolvers call; connections inside are opened by the app lifespan."""

    settings: Settings
    connections: Connections
    """The process's shared Redis pool, limit storage, event bus and signals."""
    tokens: TokenAuthority
    login_guard: AdminLoginGuard
    audit: AuditService
    tenants: TenantService
    data_policies: DataPolicyService
    health: HealthChecker
    plans: PlanService
    keys: KeyService
    adjustments: AdjustmentService
    enforcement: EnforcementRuntime
    routes: RouteRuleService
    verification: VerificationService
    analytics: AnalyticsService
    reporter: UsageReporter
    catalog: ServiceCatalog
    costs: CostService
    budgets: BudgetService
    recommendations: RecommendationService
    alerts: AlertStore
    alert_rules: AlertRuleService
    security: SecurityService
    alert_engine: AlertEngine
    outbox: WebhookOutbox
    keyring: Keyring
    integration: IntegrationServices
    providers: ProviderCatalogue
    webhook_endpoints: WebhookEndpointService
    webhook_messages: WebhookMessageService
    webhooks: WebhookDispatcher

    @property
    def integrations(self) -> IntegrationService:
        """The integration registry."""
        return self.integration.registry

    @property
    def integration_clients(self) -> IntegrationClients:
        """Outbound clients of integrations."""
        return self.integration.clients

    @property
    def integration_health(self) -> IntegrationHealth:
        """Health probes of integrations."""
        return self.integration.health

    @property
    def integration_status(self) -> StatusTransitions:
        """Integration status changes, and their live feed."""
        return self.integration.transitions

    @property
    def integration_authorizations(self) -> IntegrationAuthorizations:
        """OAuth2 authorization code flows."""
        return self.integration.authorizations

    @property
    def bus(self) -> EventBus:
        """The process's live-event bus."""
        return self.connections.bus

    @property
    def signals(self) -> Signals:
        """The process's wake-up signals, carried over the bus."""
        return self.connections.signals

    @property
    def redis(self) -> Redis | None:
        """The process's Redis pool (None on the embedded profile)."""
        return self.connections.redis
