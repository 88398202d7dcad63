"""`tollway keys rotate [--dry-run]`: every data key onto the current key-encryption key."""

from __future__ import annotations

from tollway.auth.principal import Principal, Role
from tollway.keyring.rotation import RotationReport
from tollway.settings import Settings

CLI = Principal(subject="cli:tollway keys rotate", role=Role.SUPER_ADMIN)


async def rotate_keys(settings: Settings, *, dry_run: bool) -> str:
    """Run (or count) a rotation against the configured database; a line for the operator."""
    from tollway.app import build_services
    from tollway.db import close_database, open_database

    await open_database(settings)
    try:
        services = build_services(settings)
        report = await services.keyring.rotation.run(CLI, dry_run=dry_run)
    finally:
        await close_database()
    return describe(report)


def describe(report: RotationReport) -> str:
    """What a rotation did, or dry would do, in one line."""
    versions = ", ".join(f"v{v}: {n}" for v, n in sorted(report.before.items())) or "none"
    if report.dry_run:
        return (
            f"dry run: {report.remaining} data key(s) to re-wrap to version "
            f"{report.target_version} (data keys by version: {versions}); "
            f"{report.legacy_resealed} legacy secret(s) to reseal"
        )
    return (
        f"re-wrapped {report.rewrapped} data key(s) to version {report.target_version} "
        f"(before: {versions}); resealed {report.legacy_resealed} legacy secret(s); "
        f"{report.remaining} remaining"
    )
