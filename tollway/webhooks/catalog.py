"""The event types Tollway sends, and endpoint filters over them (`alert.*`)."""

from __future__ import annotations

from collections.abc import Iterable

from tollway.errors import BadUserInput

EVENT_TYPES: dict[str, str] = {
    "api_key.created": "An API key was created.",
    "api_key.updated": "An API key was changed (including disabled or enabled).",
    "api_key.revoked": "An API key was revoked.",
    "api_key.rotated": "An API key got a new secret.",
    "api_key.deleted": "An API key was deleted.",
    "alert.opened": "An alert opened.",
    "alert.escalated": "An open alert rose in severity.",
    "alert.acknowledged": "An alert was acknowledged.",
    "alert.resolved": "An alert was resolved.",
    "quota.warning": "A key used 80% of its quota.",
    "quota.exceeded": "A key used all of its quota.",
    "budget.threshold_crossed": "A budget crossed one of its thresholds this period.",
    "security.detected": "A security detector fired (brute force, revoked key use, many networks).",
    "endpoint.disabled": "A webhook endpoint was disabled after failing (410, or 5 days).",
    "integration.health_changed": "An integration's health status changed.",
    "integration.recovered": "An integration that was down or failing authentication is healthy.",
    "integration.auth_failed": "An integration's provider refused its credentials, or its "
    "OAuth2 tokens could not be renewed.",
    "webhook.test": "A test event sent by sendTestWebhook.",
}
MAX_FILTERS = 50


def clean_filters(filters: Iterable[str]) -> list[str]:
    """Validated, de-duplicated filters: exact event types, `group.*` or `*`."""
    cleaned: list[str] = []
    for raw in filters:
        name = raw.strip()
        if name == "*":
            pass
        elif name.endswith(".*"):
            group = name[:-1]
            if not any(t.startswith(group) for t in EVENT_TYPES):
                raise BadUserInput(f"eventTypes: no event type matches {raw!r}")
        elif name not in EVENT_TYPES:
            raise BadUserInput(
                f"eventTypes: unknown event type {raw!r} (see the webhookEventTypes query)"
            )
        if name not in cleaned:
            cleaned.append(name)
    if len(cleaned) > MAX_FILTERS:
        raise BadUserInput(f"eventTypes: at most {MAX_FILTERS} filters")
    return cleaned


def accepts(filters: list[str], event_type: str) -> bool:
    """True when an endpoint with `filters` wants `event_type` (no filters: everything)."""
    if not filters:
        return True
    for name in filters:
        if name == "*" or name == event_type:
            return True
        if name.endswith(".*") and event_type.startswith(name[:-1]):
            return True
    return False
