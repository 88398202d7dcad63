"""The alert raised when the webhook dispatcher gives up on an endpoint and disables it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tollway.alerts.lifecycle import AlertStore, Condition
from tollway.models import Severity
from tollway.webhooks.dispatcher import EndpointDisabled


def alert_on_disabled_endpoints(store: AlertStore) -> Callable[[EndpointDisabled], Awaitable[None]]:
    """What the dispatcher calls for each endpoint it disables: a WARNING for the tenant."""

    async def raise_alert(disabled: EndpointDisabled) -> None:
        await store.raise_alert(
            Condition(
                source="webhooks.endpoint_disabled", kind="WEBHOOK_ENDPOINT_DISABLED",
                subject=f"webhook_endpoint:{disabled.endpoint_id}", severity=Severity.WARNING,
                message=f"webhook endpoint {disabled.url} was disabled: {disabled.reason}",
                tenant_id=disabled.tenant_id,
            ),
            disabled.at,
        )  # fmt: skip

    return raise_alert
