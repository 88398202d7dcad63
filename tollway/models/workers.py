"""Background-worker heartbeats, read by the health check."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class WorkerHeartbeat(Model):
    """The last time a worker process proved it was alive."""

    worker_id = fields.CharField(max_length=120, primary_key=True)
    hostname = fields.CharField(max_length=200)
    started_at = fields.DatetimeField()
    beat_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "worker_heartbeats"
