from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tollway.models.webhooks import AttemptTrigger, MessageStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tollway', '0006_alerts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('tollway.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2048)),
                ('description', fields.TextField(default='', unique=False)),
                ('event_types', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('headers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rate_limit_per_second', fields.IntField(null=True)),
                ('enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.CharField(null=True, max_length=300)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('secret', fields.TextField(unique=False)),
                ('previous_secret', fields.TextField(null=True, unique=False)),
                ('previous_secret_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('secret_rotated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_success_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_endpoints', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'Where a tenant wants its events POSTed. Secrets are stored encrypted.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.UUIDField(db_index=True)),
                ('type', fields.CharField(max_length=60)),
                ('data', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_events', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'One event in the outbox, written in the transaction of the change that caused it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookMessage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('tollway.WebhookEvent', source_field='event_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.ForeignKeyField('tollway.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('tenant_id', fields.UUIDField()),
                ('event_type', fields.CharField(max_length=60)),
                ('status', fields.CharEnumField(default=MessageStatus.PENDING, description='PENDING: PENDING\nDELIVERED: DELIVERED\nFAILED: FAILED', enum_type=MessageStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('step', fields.IntField(default=0)),
                ('trigger', fields.CharEnumField(default=AttemptTrigger.SCHEDULED, description='SCHEDULED: SCHEDULED\nREPLAY: REPLAY\nRECOVER: RECOVER', enum_type=AttemptTrigger, max_length=10)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'webhook_messages', 'app': 'tollway', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['endpoint_id', 'created_at']), Index(fields=['tenant_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One event for one endpoint: what is delivered, retried and replayed.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('tollway.WebhookMessage', source_field='message_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('endpoint_id', fields.UUIDField()),
                ('tenant_id', fields.UUIDField()),
                ('attempted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('trigger', fields.CharEnumField(description='SCHEDULED: SCHEDULED\nREPLAY: REPLAY\nRECOVER: RECOVER', enum_type=AttemptTrigger, max_length=10)),
                ('succeeded', fields.BooleanField()),
                ('status_code', fields.IntField(null=True)),
                ('latency_ms', fields.FloatField()),
                ('response_headers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('response_body', fields.TextField(default='', unique=False)),
                ('error', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'webhook_attempts', 'app': 'tollway', 'indexes': [Index(fields=['message_id', 'attempted_at']), Index(fields=['endpoint_id', 'attempted_at'])], 'pk_attr': 'id', 'table_description': 'One HTTP delivery attempt and what came back.'},
            bases=['Model'],
        ),
    ]
