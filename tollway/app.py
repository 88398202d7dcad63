"""`build_app(settings)`: the one place that wires every area into a Starlette app."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import NamedTuple

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from tollway.adjustments.service import AdjustmentService
from tollway.alerts.detectors import Detectors
from tollway.alerts.engine import AlertEngine
from tollway.alerts.evaluation import RuleEvaluator
from tollway.alerts.lifecycle import AlertStore
from tollway.alerts.rules import AlertRuleService
from tollway.alerts.security import SecurityService
from tollway.alerts.webhook_failures import alert_on_disabled_endpoints
from tollway.audit.service import AuditService
from tollway.auth.login_guard import AdminLoginGuard
from tollway.auth.tokens import token_authority
from tollway.connections import Connections
from tollway.costs.budgets import BudgetService
from tollway.costs.catalog import ServiceCatalog, ensure_own_api_service
from tollway.costs.recommendations import RecommendationService
from tollway.costs.service import CostService
from tollway.db import acquire_database, release_database
from tollway.enforcement.middleware import EnforcementMiddleware
from tollway.enforcement.route_store import RouteRuleService
from tollway.enforcement.runtime import EnforcementRuntime
from tollway.enforcement.verification import VerificationService
from tollway.errors import ConfigurationError
from tollway.health.checks import HealthChecker
from tollway.integrations.assembly import integration_services
from tollway.integrations.authorization import CALLBACK_PATH
from tollway.integrations.catalogue import ProviderCatalogue, ensure_default_providers
from tollway.jobs import background_jobs, retention_policy, rollup_job
from tollway.keyring.keyring import make_keyring
from tollway.keyring.vault import Vault
from tollway.keys.plans import PlanService, ensure_default_plans
from tollway.keys.service import KeyService
from tollway.metering.analytics import AnalyticsService
from tollway.metering.reporting import UsageReporter
from tollway.metering.retention import RetentionPolicy
from tollway.ratelimit import Limiter
from tollway.redis_client import check_redis
from tollway.services import Services
from tollway.settings import Settings
from tollway.tenants.data_policy import DataPolicyService, data_policy_defaults
from tollway.tenants.service import TenantService
from tollway.web.graphql_view import TollwayGraphQL
from tollway.web.health_routes import healthz, metrics, readyz
from tollway.web.integration_proxy import PROXY_METHODS, IntegrationProxy
from tollway.web.oauth_callback import oauth_callback
from tollway.webhooks.delivery import Sender
from tollway.webhooks.dispatcher import DispatchPolicy, WebhookDispatcher
from tollway.webhooks.endpoints import WebhookEndpointService
from tollway.webhooks.messages import WebhookMessageService
from tollway.webhooks.outbox import WebhookOutbox
from tollway.webhooks.secret_store import reseal_legacy_secrets
from tollway.worker import Worker

logger = logging.getLogger(__name__)


def build_services(settings: Settings) -> Services:
    """Construct every service; nothing connects until the lifespan starts."""
    connections = Connections.for_settings(settings)
    bus, page = connections.bus, settings.graphql_page_size_max
    audit = AuditService(bus, page)
    outbox = WebhookOutbox(connections.signals)
    plans = PlanService(audit, bus)
    enforcement = EnforcementRuntime(settings, connections=connections)
    spending = spending_services(settings, audit, outbox=outbox)
    keys = KeyService(audit, plans, bus=bus, outbox=outbox, max_page_size=page)
    health = health_checker(settings, connections)
    alerts = AlertStore(bus, outbox, max_page_size=page)
    alert_engine = make_alert_engine(
        settings, connections, spending=spending, keys=keys, audit=audit, health=health,
        alerts=alerts,
    )  # fmt: skip
    keyring = make_keyring(settings, audit, legacy=[reseal_legacy_secrets])
    webhooks = webhook_services(
        settings, connections, audit=audit, outbox=outbox, vault=keyring.vault, alerts=alerts
    )
    return Services(
        settings=settings,
        connections=connections,
        tokens=token_authority(settings),
        login_guard=login_guard(settings, connections),
        audit=audit,
        tenants=TenantService(audit, page),
        data_policies=DataPolicyService(audit, bus, defaults=data_policy_defaults(settings)),
        health=health,
        plans=plans,
        keys=keys,
        adjustments=AdjustmentService(audit, plans, bus=bus, max_page_size=page),
        enforcement=enforcement,
        routes=RouteRuleService(audit, bus),
        verification=VerificationService(enforcement),
        analytics=spending.analytics,
        reporter=UsageReporter(spending.retention.raw, connections.signals),
        catalog=spending.catalog,
        costs=spending.costs,
        budgets=spending.budgets,
        recommendations=RecommendationService(spending.analytics, spending.costs),
        alerts=alerts,
        alert_rules=AlertRuleService(audit),
        security=SecurityService(bus, page),
        alert_engine=alert_engine,
        outbox=outbox,
        keyring=keyring,
        integration=integration_services(
            settings, connections, audit=audit, vault=keyring.vault, alerts=alerts, outbox=outbox
        ),
        providers=ProviderCatalogue(audit),
        webhook_endpoints=webhooks.endpoints,
        webhook_messages=webhooks.messages,
        webhooks=webhooks.dispatcher,
    )


def login_guard(settings: Settings, connections: Connections) -> AdminLoginGuard:
    """Failed admin logins limited per client address, in the process's limit storage."""
    return AdminLoginGuard(Limiter(connections.limits), settings.admin_auth_failures_per_minute)


class SpendingServices(NamedTuple):
    """Usage analytics and what is priced, charged and budgeted from it."""

    retention: RetentionPolicy
    analytics: AnalyticsService
    catalog: ServiceCatalog
    costs: CostService
    budgets: BudgetService


def spending_services(
    settings: Settings, audit: AuditService, *, outbox: WebhookOutbox
) -> SpendingServices:
    """Analytics over the rollups, the service catalog, costs and budgets."""
    retention = retention_policy(settings)
    analytics = AnalyticsService(
        rollup_job(settings), retention.hour, page_size_max=settings.graphql_page_size_max
    )
    catalog = ServiceCatalog(audit)
    costs = CostService(audit, catalog, analytics=analytics)
    budgets = BudgetService(audit, catalog, costs=costs, outbox=outbox)
    return SpendingServices(retention, analytics, catalog, costs, budgets)


def health_checker(settings: Settings, connections: Connections) -> HealthChecker:
    """The dependency checks behind `/readyz` and the `health` query."""
    return HealthChecker(
        connections.bus,
        connections.redis,
        timeout=settings.dependency_timeout_seconds,
        heartbeat_seconds=settings.worker_heartbeat_seconds,
    )


def make_alert_engine(
    settings: Settings,
    connections: Connections,
    *,
    spending: SpendingServices,
    keys: KeyService,
    audit: AuditService,
    health: HealthChecker,
    alerts: AlertStore,
) -> AlertEngine:
    """The alert engine: the rules and every detector, evaluated by one worker per tick."""
    analytics, costs, budgets = spending.analytics, spending.costs, spending.budgets
    detectors = Detectors(analytics, costs, budgets=budgets, keys=keys, audit=audit, health=health)
    return AlertEngine(
        RuleEvaluator(analytics, costs, budgets=budgets),
        detectors.all(),
        store=alerts,
        interval_seconds=settings.alert_interval_seconds,
        holder=f"{socket.gethostname()}:{os.getpid()}",
        signals=connections.signals,
        healthy=detectors.live_components_healthy,
    )


class WebhookServices(NamedTuple):
    """Endpoints, messages and the dispatcher that delivers them."""

    endpoints: WebhookEndpointService
    messages: WebhookMessageService
    dispatcher: WebhookDispatcher


def webhook_services(
    settings: Settings,
    connections: Connections,
    *,
    audit: AuditService,
    outbox: WebhookOutbox,
    vault: Vault,
    alerts: AlertStore,
) -> WebhookServices:
    """The webhook services; endpoint secrets are sealed on the keyring's `vault`."""
    page = settings.graphql_page_size_max
    endpoints = WebhookEndpointService(
        audit,
        outbox,
        vault=vault,
        allow_private=settings.webhook_allow_private_networks,
        max_page_size=page,
    )
    messages = WebhookMessageService(audit, outbox, max_page_size=page)
    dispatcher = webhook_dispatcher(
        settings, connections, vault=vault, outbox=outbox, alerts=alerts
    )
    return WebhookServices(endpoints, messages, dispatcher)


def webhook_dispatcher(
    settings: Settings,
    connections: Connections,
    *,
    vault: Vault,
    outbox: WebhookOutbox,
    alerts: AlertStore,
) -> WebhookDispatcher:
    """The dispatcher the settings describe; a disabled endpoint raises an alert."""
    return WebhookDispatcher(
        Sender(
            settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private_networks,
            max_connections=settings.webhook_max_in_flight,
        ),
        vault,
        outbox=outbox,
        on_disabled=alert_on_disabled_endpoints(alerts),
        limiter=Limiter(connections.limits),
        policy=DispatchPolicy(
            schedule=settings.webhook_retry_schedule,
            lease_seconds=settings.webhook_lease_seconds,
            disable_after=timedelta(days=settings.webhook_disable_after_days),
            max_in_flight=settings.webhook_max_in_flight,
            poll_seconds=settings.webhook_poll_seconds,
        ),
        signals=connections.signals,
    )


def build_app(settings: Settings, *, run_worker: bool = True) -> Starlette:
    """The admin API: `/graphql` (HTTP and websocket), `/healthz`, `/readyz`, `/metrics`."""
    services = build_services(settings)
    graphql = TollwayGraphQL(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await acquire_database(settings)
            stack.push_async_callback(release_database)
            stack.push_async_callback(services.connections.aclose)
            await check_redis(settings, services.redis)
            try:
                await services.connections.open()
            except Exception as exc:
                raise ConfigurationError(
                    f"TOLLWAY_REDIS_URL: cannot start the live-event broadcaster ({exc})"
                ) from exc
            services.signals.start()
            stack.push_async_callback(services.signals.stop)
            stack.push_async_callback(services.webhooks.aclose)
            stack.push_async_callback(services.integration_clients.aclose)
            await ensure_default_plans()
            await ensure_own_api_service()
            await ensure_default_providers()
            await services.alert_rules.seed_builtins()
            await services.enforcement.start()
            stack.push_async_callback(services.enforcement.stop)
            if run_worker:
                worker = Worker(settings.worker_heartbeat_seconds)
                for job in background_jobs(settings, services):
                    worker.add_job(job)
                worker.start()
                stack.push_async_callback(worker.stop)
            yield

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route(CALLBACK_PATH, oauth_callback(services), methods=["GET"]),
            Route(
                "/integrations/{integration_id}/proxy/{path:path}",
                EnforcementMiddleware(IntegrationProxy(services), runtime=services.enforcement),
                methods=PROXY_METHODS,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
