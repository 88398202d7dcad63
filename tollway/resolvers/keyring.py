"""Rotating the key-encryption key (SUPER_ADMIN)."""

from __future__ import annotations

import strawberry

from tollway.schema.context import Info
from tollway.schema.permissions import Allowed
from tollway.schema.types.keyring import KeyRotationPayload


@strawberry.type
class KeyringMutation:
    """The keyring's rotation."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def rotate_encryption_key(self, info: Info, dry_run: bool = False) -> KeyRotationPayload:
        """Re-wrap every data key under the current key-encryption key, online and
        resumably (both versions decrypt until it finishes); `dryRun` only counts."""
        ctx = info.context
        report = await ctx.services.keyring.rotation.run(ctx.principal, dry_run=dry_run)
        return KeyRotationPayload.from_report(report)
