"""Versioned key-encryption keys (KEKs), derived from the settings.

Version 1 is derived from `TOLLWAY_SECRET_KEY`; `TOLLWAY_ENCRYPTION_KEYS` adds versions
(`"2:<secret>,3:<secret>"`). The highest version (or `TOLLWAY_ENCRYPTION_KEY_VERSION`) wraps
new data keys; every listed version still unwraps, so a rotation can run while traffic is
served, and a new version can reach every instance before any of them wraps with it.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tollway.errors import ConfigurationError

MIN_SECRET_CHARS = 32


def derive_kek(secret: str, version: int) -> bytes:
    """The 256-bit KEK of `version` from its secret (HKDF-SHA256, bound to the version)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"tollway:kek:v{version}".encode()
    ).derive(secret.encode())


class KeyEncryptionKeys:
    """The KEK of every configured version; `current` wraps, any of them unwraps."""

    def __init__(self, keys: dict[int, bytes], current: int | None = None) -> None:
        if not keys:
            raise ConfigurationError("no key-encryption key is configured")
        self._keys = dict(keys)
        self.current = max(keys) if current is None else current
        if self.current not in keys:
            raise ConfigurationError(
                f"TOLLWAY_ENCRYPTION_KEY_VERSION: version {current} is not configured "
                f"(configured: {sorted(keys)})"
            )

    @classmethod
    def from_settings(
        cls, secret_key: str, extra: str | None, *, current: int | None = None
    ) -> KeyEncryptionKeys:
        """Version 1 from `secret_key`, more from `extra` (`TOLLWAY_ENCRYPTION_KEYS`); the
        `current` one (default: the highest) wraps new data keys."""
        keys = {1: derive_kek(secret_key, 1)}
        for version, secret in parse_versions(extra or "").items():
            keys[version] = derive_kek(secret, version)
        return cls(keys, current)

    @property
    def versions(self) -> list[int]:
        """Every version that can unwrap, oldest first."""
        return sorted(self._keys)

    def key(self, version: int) -> bytes:
        """The KEK of `version`; ConfigurationError when it is not configured (any more)."""
        try:
            return self._keys[version]
        except KeyError:
            raise ConfigurationError(
                f"a data key is wrapped by key-encryption key version {version}, which "
                "TOLLWAY_ENCRYPTION_KEYS no longer lists: add it back and run "
                "`tollway keys rotate` before removing it"
            ) from None


def parse_versions(text: str) -> dict[int, str]:
    """`"2:secret,3:secret"` as {2: "secret", 3: "secret"}, checked."""
    versions: dict[int, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        number, sep, secret = item.partition(":")
        if not sep or not number.strip().isdigit() or int(number) < 2:
            raise ConfigurationError(
                "TOLLWAY_ENCRYPTION_KEYS: each entry is <version>:<secret>, versions from 2 "
                "(version 1 is derived from TOLLWAY_SECRET_KEY)"
            )
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"TOLLWAY_ENCRYPTION_KEYS: the secret of version {number} is shorter than "
                f"{MIN_SECRET_CHARS} characters"
            )
        if int(number) in versions:
            raise ConfigurationError(f"TOLLWAY_ENCRYPTION_KEYS: version {number} is listed twice")
        versions[int(number)] = secret.strip()
    return versions
