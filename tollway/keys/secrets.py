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


def generate_secret(environment: KeyEnvironment) -> NewSecret:
    """A new `tw_live_…`/`tw_test_…` secret."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    secret = PREFIXES[environment] + body
    prefix = secret[: len(PREFIXES[environment]) + DISPLAY_CHARS]
    return NewSecret(secret, hash_secret(secret), prefix, f"{prefix}…{secret[-4:]}")
