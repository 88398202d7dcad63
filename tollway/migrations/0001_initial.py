from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tollway.models.tenants import TenantStatus
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.UUIDField(null=True, db_index=True)),
                ('actor', fields.CharField(max_length=200)),
                ('actor_role', fields.CharField(max_length=32)),
                ('action', fields.CharField(db_index=True, max_length=80)),
                ('target_type', fields.CharField(max_length=60)),
                ('target_id', fields.CharField(null=True, max_length=80)),
                ('changes', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_entries', 'app': 'tollway', 'indexes': [Index(fields=['tenant_id', 'at'])], 'pk_attr': 'id', 'table_description': 'Who changed what, when, and which fields (secrets redacted).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tenant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=120)),
                ('status', fields.CharEnumField(default=TenantStatus.ACTIVE, description='ACTIVE: ACTIVE\nSUSPENDED: SUSPENDED', enum_type=TenantStatus, max_length=16)),
                ('metadata', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'tenants', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'An organisation using Tollway. Every key, rule and event belongs to one.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WorkerHeartbeat',
            fields=[
                ('worker_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=120)),
                ('hostname', fields.CharField(max_length=200)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('beat_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'worker_heartbeats', 'app': 'tollway', 'pk_attr': 'worker_id', 'table_description': 'The last time a worker process proved it was alive.'},
            bases=['Model'],
        ),
    ]
