"""Key secrets: generated with `secrets`, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass

from tollway.models import KeyEnvironment

ALPHABET = string.digits + string.ascii_letters  # base62
RANDOM_CHARS = 32  # 32 base62 characters carry 190 random bits
PREFIXES = {KeyEnvironment.LIVE: "tw_live_", KeyEnvironment.TEST: "tw_test_"}
DISPLAY_CHARS = 4
MAX_SECRET_LENGTH = 256


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A freshly generated secret and what may be stored about it."""

    secret: str
    hash: str
    prefix: str
    masked: str


def hash_secret(secret: str) -> str:
    """SHA-256 hex of the secret (keys carry enough entropy that no salt or KDF is needed)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(secret: str) -> str | None:
    """What may be shown of a secret: its environment prefix and the next four characters
    (the key's `prefix`); None for a string that is not shaped like a Tollway secret."""
    for prefix in PREFIXES.values():
        if secret.startswith(prefix) and len(secret) > len(prefix) + DISPLAY_CHARS:
            return secret[: len(prefix) + DISPLAY_CHARS]
    return None


def generate_secret(environment: KeyEnvironment) -> NewSecret:
    """A new `tw_live_…`/`tw_test_…` secret."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    secret = PREFIXES[environment] + body
    prefix = display_prefix(secret)
    assert prefix is not None
    return NewSecret(secret, hash_secret(secret), prefix, f"{prefix}…{secret[-4:]}")
