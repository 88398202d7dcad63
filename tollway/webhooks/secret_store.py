"""Where endpoints' signing secrets live: sealed on the keyring, one data key per endpoint."""

from __future__ import annotations

from uuid import UUID

from tollway.keyring.envelope import Owner, is_sealed
from tollway.keyring.vault import Vault
from tollway.models import WebhookEndpoint

SIGNING_SECRET = "signing_secret"
"""The keyring field of an endpoint's secrets (the current one and the one before it)."""


def secret_owner(endpoint_id: UUID, tenant_id: UUID) -> Owner:
    """The keyring owner of an endpoint's signing secrets."""
    return Owner("webhook_endpoint", endpoint_id, tenant_id)


async def reseal_legacy_secrets(vault: Vault, dry_run: bool) -> int:
    """Move signing secrets sealed before the keyring onto it; how many (dry: would move)."""
    moved = 0
    for endpoint in await WebhookEndpoint.all().only(
        "id", "tenant_id", "secret", "previous_secret"
    ):
        owner = secret_owner(endpoint.id, endpoint.tenant_id)
        for column in ("secret", "previous_secret"):
            value = getattr(endpoint, column)
            if value is None or is_sealed(value):
                continue
            moved += 1
            if not dry_run:
                plain = await vault.open(owner, SIGNING_SECRET, sealed=value, purpose="reseal")
                sealed = await vault.seal(owner, SIGNING_SECRET, plaintext=plain)
                await WebhookEndpoint.filter(id=endpoint.id, **{column: value}).update(
                    **{column: sealed}
                )
    return moved
