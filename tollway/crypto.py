"""The scheme webhook secrets were sealed with before the keyring: a Fernet key per purpose,
derived from `TOLLWAY_SECRET_KEY` with HKDF. Kept to read (and, on rotation, reseal) values
written then; new secrets go through `tollway.keyring`.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Authenticated encryption of short secrets for one purpose."""

    def __init__(self, master_key: str, purpose: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"tollway:{purpose}".encode()
        ).derive(master_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, plaintext: str) -> str:
        """The ciphertext (URL-safe text) of `plaintext`."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str:
        """The plaintext; raises `ValueError` if the text was not sealed with this key."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "cannot decrypt a stored secret: TOLLWAY_SECRET_KEY differs from the key it "
                "was encrypted with"
            ) from None
