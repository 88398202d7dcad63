"""Security detectors: guessed credentials, revoked keys still presented, and a key used from
many networks it never used before (disabled at once where its tenant asked for that)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from uuid import UUID

from tortoise.functions import Count

from tollway.alerts.lifecycle import Condition
from tollway.audit.service import AuditService
from tollway.auth.principal import Principal, Role
from tollway.keys.service import KeyService
from tollway.models import (
    ApiKey,
    KeyStatus,
    SecurityEvent,
    Severity,
    Tenant,
    UsageEvent,
)
from tollway.privacy import network_of
from tollway.sql import as_uuid

logger = logging.getLogger(__name__)

SECURITY = Principal(subject="tollway-security", role=Role.SUPER_ADMIN)
SECURITY_WINDOW = timedelta(minutes=5)
BRUTE_FORCE_ATTEMPTS = 20
"""Guesses from one address within SECURITY_WINDOW that count as brute force."""
GUESSES = ("API_KEY_INVALID", "ADMIN_AUTH_FAILED")
"""Security events that are a guessed credential."""
NETWORK_WINDOW = timedelta(minutes=10)
NETWORK_HISTORY = timedelta(hours=24)
NEW_NETWORKS = 10
"""Networks (/24, /48) a key is used from within NETWORK_WINDOW that it did not use the
day before: more looks like a leaked key."""


class SecurityDetectors:
    """Conditions found in the security events and the request log."""

    def __init__(self, keys: KeyService, audit: AuditService) -> None:
        self.keys = keys
        self.audit = audit

    async def brute_force(self, now: datetime) -> list[Condition]:
        """Many invalid API keys or failed admin logins from one address."""
        rows = await (
            SecurityEvent.filter(
                at__gte=now - SECURITY_WINDOW, at__lt=now, reason__in=GUESSES,
                client_ip__isnull=False,
            )
            .annotate(attempts=Count("id"))
            .group_by("client_ip")
            .values("client_ip", "attempts")
        )  # fmt: skip
        return [
            Condition(
                source="security.brute_force",
                kind="CREDENTIAL_BRUTE_FORCE",
                subject=f"ip:{r['client_ip']}",
                severity=Severity.CRITICAL,
                message=f"{r['attempts']} invalid API keys or admin tokens from "
                f"{r['client_ip']} in "
                f"{int(SECURITY_WINDOW.total_seconds() // 60)} minutes",
                tenant_id=None,
                value=float(r["attempts"]),
                threshold=BRUTE_FORCE_ATTEMPTS,
            )
            for r in rows
            if r["attempts"] >= BRUTE_FORCE_ATTEMPTS
        ]

    async def revoked_key_use(self, now: datetime) -> list[Condition]:
        """Someone still presents a revoked key."""
        rows = await (
            SecurityEvent.filter(
                at__gte=now - SECURITY_WINDOW, at__lt=now, reason="API_KEY_REVOKED",
                key_id__isnull=False,
            )
            .annotate(attempts=Count("id"))
            .group_by("key_id", "tenant_id", "key_prefix")
            .values("key_id", "tenant_id", "key_prefix", "attempts")
        )  # fmt: skip
        return [
            Condition(
                source="security.revoked_key_use",
                kind="REVOKED_KEY_USED",
                subject=f"key:{r['key_id']}",
                severity=Severity.WARNING,
                message=f"revoked key {r['key_prefix']}… presented {r['attempts']} times",
                tenant_id=as_uuid(r["tenant_id"]),
                key_id=as_uuid(r["key_id"]),
                value=float(r["attempts"]),
            )
            for r in rows
        ]

    async def many_networks(self, now: datetime) -> list[Condition]:
        """A key suddenly used from many networks it did not use the day before. When the
        key's tenant asks for it, the key is disabled, and the audit log says why."""
        recent = await (
            UsageEvent.filter(at__gte=now - NETWORK_WINDOW, at__lt=now, key_id__isnull=False)
            .distinct()
            .values_list("key_id", "client_ip")
        )
        networks: dict[UUID, set[str]] = defaultdict(set)
        for key_id, address in recent:
            network = network_of(address)
            if network is not None:
                networks[key_id].add(network)
        suspects = {k: n for k, n in networks.items() if len(n) >= NEW_NETWORKS}
        found = []
        for key_id, seen in suspects.items():
            before = await (
                UsageEvent.filter(
                    key_id=key_id, at__gte=now - NETWORK_WINDOW - NETWORK_HISTORY,
                    at__lt=now - NETWORK_WINDOW,
                )
                .distinct()
                .values_list("client_ip", flat=True)
            )  # fmt: skip
            new = seen - {network_of(str(a)) for a in before}
            if len(new) < NEW_NETWORKS:
                continue
            key = await ApiKey.get_or_none(id=key_id)
            if key is None:
                continue
            disabled = await self._maybe_disable(key, len(new))
            found.append(
                Condition(
                    source="security.many_networks",
                    kind="KEY_USED_FROM_MANY_NETWORKS",
                    subject=f"key:{key_id}",
                    severity=Severity.CRITICAL,
                    message=f"key {key.masked_key} used from {len(new)} new networks in "
                    f"{int(NETWORK_WINDOW.total_seconds() // 60)} minutes"
                    + (" (disabled by the tenant's security policy)" if disabled else ""),
                    tenant_id=key.tenant_id,
                    key_id=key.id,
                    value=float(len(new)),
                    threshold=NEW_NETWORKS,
                )
            )
        return found

    async def _maybe_disable(self, key: ApiKey, networks: int) -> bool:
        if key.status is not KeyStatus.ACTIVE:
            return False
        tenant = await Tenant.get_or_none(id=key.tenant_id)
        if tenant is None or not tenant.auto_disable_compromised_keys:
            return False
        await self.keys.update(SECURITY, key.id, changes={"status": KeyStatus.DISABLED})
        entry = await self.audit.record(
            SECURITY,
            "api_key.auto_disabled",
            target_type="api_key",
            target_id=key.id,
            tenant_id=key.tenant_id,
            changes={
                "reason": f"used from {networks} new networks within "
                f"{int(NETWORK_WINDOW.total_seconds() // 60)} minutes",
                "policy": "auto_disable_compromised_keys",
            },
        )
        self.audit.announce(entry)
        logger.warning("disabled key %s: judged compromised", key.id)
        return True
