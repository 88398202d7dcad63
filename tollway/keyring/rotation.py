"""Re-wrapping every data key under the current key-encryption key: online (the data keys
themselves do not change, so what they sealed stays readable throughout) and resumable (each
batch commits; a run that stops leaves the rest for the next)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.functions import Count

from tollway.audit.service import AuditService
from tollway.auth.principal import SUPER_ADMIN_ONLY, Principal
from tollway.errors import Conflict
from tollway.keyring import envelope
from tollway.keyring.envelope import Owner
from tollway.keyring.kek import KeyEncryptionKeys
from tollway.models import DataKey

BATCH = 200

LegacyResealer = Callable[[bool], Awaitable[int]]
"""Moves values sealed before the keyring onto it (True: only count them); how many."""


@dataclass(slots=True)
class RotationReport:
    """What a rotation did (or, dry, would do)."""

    target_version: int
    before: dict[int, int] = field(default_factory=dict)
    """Data keys per KEK version when the run started."""
    rewrapped: int = 0
    legacy_resealed: int = 0
    dry_run: bool = False

    @property
    def remaining(self) -> int:
        """Data keys still on another version (0 once a real run finishes)."""
        pending = sum(n for v, n in self.before.items() if v != self.target_version)
        return pending if self.dry_run else pending - self.rewrapped


async def data_keys_by_version() -> dict[int, int]:
    """How many data keys each KEK version wraps."""
    rows = await DataKey.annotate(n=Count("id")).group_by("kek_version").values("kek_version", "n")
    return {int(r["kek_version"]): int(r["n"]) for r in rows}


async def rewrap_batch(keks: KeyEncryptionKeys, limit: int = BATCH) -> int:
    """Re-wrap up to `limit` data keys of older versions; how many moved. A row another
    rotation moved meanwhile is skipped (the update is conditional on its version)."""
    target = keks.current
    rows = await DataKey.filter(kek_version__not=target).order_by("id").limit(limit)
    moved = 0
    for row in rows:
        owner = Owner(row.owner_type, row.owner_id, row.tenant_id)
        data_key = envelope.unwrap(
            keks.key(row.kek_version), row.kek_version, owner=owner, wrapped=row.wrapped
        )
        moved += await DataKey.filter(id=row.id, kek_version=row.kek_version).update(
            kek_version=target,
            wrapped=envelope.wrap(keks.key(target), target, owner=owner, data_key=data_key),
            rewrapped_at=datetime.now(UTC),
        )
    return moved


class KeyRotation:
    """`rotateEncryptionKey` and `tollway keys rotate`: every data key onto the current KEK,
    and every value sealed before the keyring onto the keyring."""

    def __init__(
        self, keks: KeyEncryptionKeys, audit: AuditService, *, legacy: list[LegacyResealer]
    ) -> None:
        self.keks = keks
        self._audit = audit
        self._legacy = legacy

    async def run(self, principal: Principal, *, dry_run: bool = False) -> RotationReport:
        """Rotate (or, `dry_run`, count what would move); audited unless dry."""
        principal.require_role(SUPER_ADMIN_ONLY, "rotate the encryption key")
        report = RotationReport(self.keks.current, await data_keys_by_version(), dry_run=dry_run)
        missing = sorted(set(report.before) - set(self.keks.versions))
        if missing:
            raise Conflict(
                f"data keys are wrapped by key-encryption key version(s) {missing}, which "
                "TOLLWAY_ENCRYPTION_KEYS does not list: add them back to rotate"
            )
        for reseal in self._legacy:
            report.legacy_resealed += await reseal(dry_run)
        if dry_run:
            return report
        while moved := await rewrap_batch(self.keks):
            report.rewrapped += moved
        entry = await self._audit.record(
            principal,
            "keyring.rotate",
            target_type="keyring",
            target_id=None,
            tenant_id=None,
            changes={
                "kek_version": report.target_version,
                "before": {str(v): n for v, n in report.before.items()},
                "rewrapped": report.rewrapped,
                "legacy_resealed": report.legacy_resealed,
            },
        )
        self._audit.announce(entry)
        return report
