"""Standard Webhooks secrets and signatures (the `standardwebhooks` library signs)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def generate_secret() -> str:
    """A new endpoint secret: `whsec_` and 24 random bytes in base64 (as Svix issues)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_id(message_uuid: object) -> str:
    """The `webhook-id` of a message: the same on every retry and replay."""
    return f"msg_{getattr(message_uuid, 'hex', message_uuid)}"


class Signer:
    """Signs with one or more secrets (two during a rotation overlap)."""

    def __init__(self) -> None:
        self._keys: dict[str, Webhook] = {}

    def _webhook(self, secret: str) -> Webhook:
        webhook = self._keys.get(secret)
        if webhook is None:
            if len(self._keys) > 10_000:
                self._keys.clear()
            webhook = self._keys[secret] = Webhook(secret)
        return webhook

    def headers(
        self, msg_id: str, timestamp: datetime, *, body: str, secrets_: list[str]
    ) -> dict[str, str]:
        """`webhook-id`, `webhook-timestamp` and `webhook-signature` (space-separated
        `v1,<sig>` for each secret)."""
        signatures = [self._webhook(s).sign(msg_id, timestamp, body) for s in secrets_]
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": " ".join(signatures),
        }
