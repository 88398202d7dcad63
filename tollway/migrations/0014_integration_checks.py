from tortoise import migrations
from tortoise.migrations import operations as ops
from tollway.models.integrations import IntegrationStatus
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tollway', '0013_integrations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IntegrationCheck',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('integration_id', fields.UUIDField()),
                ('tenant_id', fields.UUIDField()),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('ok', fields.BooleanField()),
                ('status_code', fields.IntField(null=True)),
                ('latency_ms', fields.FloatField()),
                ('error', fields.CharField(null=True, max_length=300)),
                ('status_after', fields.CharEnumField(description='UNKNOWN: UNKNOWN\nHEALTHY: HEALTHY\nDEGRADED: DEGRADED\nDOWN: DOWN\nAUTH_FAILED: AUTH_FAILED', enum_type=IntegrationStatus, max_length=20)),
            ],
            options={'table': 'integration_checks', 'app': 'tollway', 'indexes': [Index(fields=['integration_id', 'at'])], 'pk_attr': 'id', 'table_description': 'One health probe of an integration: its answer and how long it took.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Integration',
            name='probe_failures',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Integration',
            name='probe_successes',
            field=fields.IntField(default=0),
        ),
    ]
