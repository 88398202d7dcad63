from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tollway.models.keys import KeyEnvironment, KeyStatus, OwnerType
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tollway', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Plan',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=60)),
                ('description', fields.TextField(default='', unique=False)),
                ('rate_limits', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quota', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'plans', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'Named defaults (windows and quota) that keys inherit and may override.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('tollway.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=120)),
                ('description', fields.TextField(default='', unique=False)),
                ('owner_type', fields.CharEnumField(default=OwnerType.CUSTOMER, description='CUSTOMER: CUSTOMER\nRESELLER: RESELLER\nADMIN: ADMIN\nSERVICE: SERVICE', enum_type=OwnerType, max_length=16)),
                ('owner_id', fields.CharField(null=True, max_length=200)),
                ('environment', fields.CharEnumField(default=KeyEnvironment.LIVE, description='LIVE: LIVE\nTEST: TEST', enum_type=KeyEnvironment, max_length=8)),
                ('prefix', fields.CharField(db_index=True, max_length=16)),
                ('masked_key', fields.CharField(max_length=40)),
                ('status', fields.CharEnumField(default=KeyStatus.ACTIVE, description='ACTIVE: ACTIVE\nDISABLED: DISABLED\nREVOKED: REVOKED\nEXPIRED: EXPIRED', enum_type=KeyStatus, max_length=16)),
                ('scopes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('allowed_ips', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('allowed_origins', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('plan', fields.ForeignKeyField('tollway.Plan', source_field='plan_id', null=True, db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.SET_NULL)),
                ('rate_limits', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quota', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rotation_period_days', fields.IntField(null=True)),
                ('metadata', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('total_requests', fields.BigIntField(default=0)),
                ('rotated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_reason', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'api_keys', 'app': 'tollway', 'indexes': [Index(fields=['tenant_id', 'created_at']), Index(fields=['tenant_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A key issued by a tenant. Only hashes of its secrets are stored.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiKeySecret',
            fields=[
                ('hash', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('key', fields.ForeignKeyField('tollway.ApiKey', source_field='key_id', db_constraint=True, to_field='id', related_name='secrets', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_key_secrets', 'app': 'tollway', 'pk_attr': 'hash', 'table_description': 'The SHA-256 of one secret. A rotated-out secret keeps working until `expires_at`.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SecurityEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('tenant_id', fields.UUIDField(null=True)),
                ('key_id', fields.UUIDField(null=True)),
                ('key_prefix', fields.CharField(null=True, max_length=16)),
                ('client_ip', fields.CharField(null=True, max_length=64)),
                ('reason', fields.CharField(max_length=40)),
                ('method', fields.CharField(max_length=10)),
                ('path', fields.CharField(max_length=500)),
                ('user_agent', fields.CharField(null=True, max_length=300)),
            ],
            options={'table': 'security_events', 'app': 'tollway', 'indexes': [Index(fields=['tenant_id', 'at']), Index(fields=['client_ip', 'at'])], 'pk_attr': 'id', 'table_description': 'A denied request: who, from where, and why.'},
            bases=['Model'],
        ),
    ]
