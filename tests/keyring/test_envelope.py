"""Envelopes and key-encryption key versions, without a database."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tollway.errors import ConfigurationError
from tollway.keyring import envelope
from tollway.keyring.envelope import DecryptionError, Owner
from tollway.keyring.kek import KeyEncryptionKeys, derive_kek, parse_versions

SECRET = "s" * 40


def owner(kind: str = "integration") -> Owner:
    return Owner(kind, uuid4(), None)


def test_a_sealed_field_opens_only_for_its_owner_and_field() -> None:
    key, mine = envelope.new_data_key(), owner()
    sealed = envelope.seal(key, mine, field="credentials", plaintext="sk_live_abc")
    assert sealed.startswith(envelope.SEALED_PREFIX) and "sk_live_abc" not in sealed
    assert envelope.open_sealed(key, mine, field="credentials", sealed=sealed) == "sk_live_abc"
    with pytest.raises(DecryptionError):
        envelope.open_sealed(
            key, owner(), field="credentials", sealed=sealed
        )  # moved to another owner
    with pytest.raises(DecryptionError):
        envelope.open_sealed(key, mine, field="config", sealed=sealed)  # moved to another field
    with pytest.raises(DecryptionError):
        envelope.open_sealed(envelope.new_data_key(), mine, field="credentials", sealed=sealed)
    again = [envelope.seal(key, mine, field="credentials", plaintext="x") for _ in range(2)]
    assert again[0] != again[1]  # a fresh nonce each time


def test_a_wrapped_data_key_unwraps_only_with_its_version_and_owner() -> None:
    keks = KeyEncryptionKeys.from_settings(SECRET, f"2:{'t' * 40}")
    data_key, mine = envelope.new_data_key(), owner()
    wrapped = envelope.wrap(keks.key(2), 2, owner=mine, data_key=data_key)
    assert envelope.unwrap(keks.key(2), 2, owner=mine, wrapped=wrapped) == data_key
    with pytest.raises(DecryptionError):
        envelope.unwrap(keks.key(1), 1, owner=mine, wrapped=wrapped)
    with pytest.raises(DecryptionError):
        envelope.unwrap(keks.key(2), 2, owner=owner(), wrapped=wrapped)
    with pytest.raises(DecryptionError):
        envelope.unwrap(keks.key(2), 2, owner=mine, wrapped="not base64 at all!")


def test_versions_come_from_the_settings() -> None:
    keks = KeyEncryptionKeys.from_settings(SECRET, None)
    assert (keks.versions, keks.current) == ([1], 1)
    keks = KeyEncryptionKeys.from_settings(SECRET, f" 3:{'c' * 40} , 2:{'b' * 40}")
    assert (keks.versions, keks.current) == ([1, 2, 3], 3)
    assert keks.key(1) == derive_kek(SECRET, 1) != derive_kek(SECRET, 2)
    staged = KeyEncryptionKeys.from_settings(SECRET, f"2:{'b' * 40}", current=1)
    assert (staged.versions, staged.current) == ([1, 2], 1)
    with pytest.raises(ConfigurationError, match="version 4 is not configured"):
        KeyEncryptionKeys.from_settings(SECRET, None, current=4)
    with pytest.raises(ConfigurationError, match="no longer lists"):
        keks.key(7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2", "each entry is <version>:<secret>"),
        ("1:" + "a" * 40, "versions from 2"),
        ("x:" + "a" * 40, "each entry"),
        ("2:short", "shorter than 32"),
        (f"2:{'a' * 40},2:{'b' * 40}", "listed twice"),
    ],
)
def test_bad_versions_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_versions(text)
