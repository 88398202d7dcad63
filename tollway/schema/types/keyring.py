"""Types of the keyring's rotation."""

from __future__ import annotations

import strawberry

from tollway.keyring.rotation import RotationReport


@strawberry.type
class DataKeyCount:
    """How many data keys one key-encryption key version wraps."""

    version: int
    data_keys: int


@strawberry.type
class KeyRotationPayload:
    """What `rotateEncryptionKey` did, or with `dryRun` would do."""

    target_version: int
    before: list[DataKeyCount]
    """Data keys per key-encryption key version when the run started."""
    rewrapped: int
    legacy_resealed: int
    """Secrets sealed before the keyring (webhook secrets) moved onto it (or, dry, to move)."""
    remaining: int
    """Data keys still wrapped by another version: 0 after a run, what would move when dry."""
    dry_run: bool

    @classmethod
    def from_report(cls, report: RotationReport) -> KeyRotationPayload:
        """The payload of a rotation report."""
        return cls(
            target_version=report.target_version,
            before=[DataKeyCount(version=v, data_keys=n) for v, n in sorted(report.before.items())],
            rewrapped=report.rewrapped,
            legacy_resealed=report.legacy_resealed,
            remaining=report.remaining,
            dry_run=report.dry_run,
        )
