"""The process's keyring: its vault and its rotation, built from the settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import NamedTuple

from tollway.audit.service import AuditService
from tollway.crypto import SecretBox
from tollway.keyring.kek import KeyEncryptionKeys
from tollway.keyring.rotation import KeyRotation, LegacyResealer
from tollway.keyring.vault import Vault
from tollway.settings import Settings


class Keyring(NamedTuple):
    """Sealing and opening secrets, and rotating the key that wraps their data keys."""

    vault: Vault
    rotation: KeyRotation


VaultResealer = Callable[[Vault, bool], Awaitable[int]]
"""Moves one kind of value sealed before the keyring onto `vault` (True: only counts)."""


def make_keyring(
    settings: Settings, audit: AuditService, *, legacy: Sequence[VaultResealer] = ()
) -> Keyring:
    """The keyring of `TOLLWAY_SECRET_KEY` and `TOLLWAY_ENCRYPTION_KEYS`. Values sealed before
    the keyring (webhook secrets under the old Fernet scheme) still open, and `legacy`
    resealers move them onto it during a rotation."""
    secret_key = settings.signing_key()
    extra = settings.encryption_keys
    keks = KeyEncryptionKeys.from_settings(
        secret_key,
        extra.get_secret_value() if extra else None,
        current=settings.encryption_key_version,
    )
    vault = Vault(keks, audit, legacy=SecretBox(secret_key, "webhook-secrets").open)
    resealers: list[LegacyResealer] = [partial(reseal, vault) for reseal in legacy]
    return Keyring(vault, KeyRotation(keks, audit, legacy=resealers))
