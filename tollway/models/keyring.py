"""Data keys of the keyring: one per owner, stored wrapped by a key-encryption key."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class DataKey(Model):
    """The data key of one owner (an integration, a webhook endpoint), wrapped."""

    id = fields.UUIDField(primary_key=True)
    owner_type = fields.CharField(max_length=40)
    owner_id = fields.UUIDField()
    tenant_id = fields.UUIDField(null=True)
    kek_version = fields.IntField(db_index=True)
    """The key-encryption key that wraps it: rotation moves every row to the current one."""
    wrapped = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    rewrapped_at = fields.DatetimeField(null=True)

    class Meta:
        table = "data_keys"
        unique_together = (("owner_type", "owner_id"),)
