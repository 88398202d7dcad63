"""AES-256-GCM envelopes: a data key wrapped by a KEK, and fields sealed by a data key, each
with its owner (and field) bound as associated data so a ciphertext moved elsewhere fails."""

from __future__ import annotations

import base64
import os
from typing import NamedTuple
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "tw1:"
"""Marks a field sealed by the keyring (version 1 of the format)."""
NONCE_BYTES = 12


class Owner(NamedTuple):
    """What a data key belongs to: one integration, one webhook endpoint."""

    kind: str
    id: UUID
    tenant_id: UUID | None


class DecryptionError(ValueError):
    """A ciphertext that this key, owner or field did not produce."""


def _encrypt(key: bytes, plaintext: bytes, associated: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, plaintext, associated)
    return base64.urlsafe_b64encode(sealed).decode()


def _decrypt(key: bytes, text: str, associated: bytes) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode())
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("a stored secret does not decrypt with its key") from exc


def _wrap_context(owner: Owner, version: int) -> bytes:
    return f"tollway:data-key:{owner.kind}:{owner.id}:v{version}".encode()


def _field_context(owner: Owner, field: str) -> bytes:
    return f"tollway:field:{owner.kind}:{owner.id}:{field}".encode()


def new_data_key() -> bytes:
    """A fresh 256-bit data key."""
    return AESGCM.generate_key(bit_length=256)


def wrap(kek: bytes, version: int, *, owner: Owner, data_key: bytes) -> str:
    """`data_key` encrypted by the KEK of `version`, bound to `owner` and that version."""
    return _encrypt(kek, data_key, _wrap_context(owner, version))


def unwrap(kek: bytes, version: int, *, owner: Owner, wrapped: str) -> bytes:
    """The data key `wrap` produced; DecryptionError for any other owner, version or key."""
    return _decrypt(kek, wrapped, _wrap_context(owner, version))


def seal(data_key: bytes, owner: Owner, *, field: str, plaintext: str) -> str:
    """`plaintext` encrypted for `field` of `owner`, as text for a column."""
    return SEALED_PREFIX + _encrypt(data_key, plaintext.encode(), _field_context(owner, field))


def open_sealed(data_key: bytes, owner: Owner, *, field: str, sealed: str) -> str:
    """The plaintext `seal` produced for this owner and field."""
    if not sealed.startswith(SEALED_PREFIX):
        raise DecryptionError("not a keyring ciphertext")
    body = sealed[len(SEALED_PREFIX) :]
    return _decrypt(data_key, body, _field_context(owner, field)).decode()


def is_sealed(text: str) -> bool:
    """True for a keyring ciphertext (False for a value from before the keyring)."""
    return text.startswith(SEALED_PREFIX)
