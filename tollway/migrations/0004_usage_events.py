from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tollway', '0003_limit_adjustments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='UsageEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.UUIDField(unique=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('tenant_id', fields.UUIDField(null=True)),
                ('key_id', fields.UUIDField(null=True)),
                ('method', fields.CharField(max_length=10)),
                ('route', fields.CharField(max_length=200)),
                ('path', fields.CharField(max_length=2000)),
                ('status', fields.SmallIntField()),
                ('error_code', fields.CharField(null=True, max_length=40)),
                ('latency_ms', fields.FloatField()),
                ('request_bytes', fields.BigIntField(default=0)),
                ('response_bytes', fields.BigIntField(default=0)),
                ('client_ip', fields.CharField(null=True, max_length=64)),
                ('user_agent', fields.CharField(null=True, max_length=300)),
                ('api_version', fields.CharField(null=True, max_length=40)),
                ('cost_units', fields.IntField(default=1)),
                ('service', fields.CharField(null=True, max_length=100)),
                ('units', fields.BigIntField(default=1)),
                ('unit_type', fields.CharField(default='requests', max_length=32)),
                ('cost', fields.DecimalField(null=True, max_digits=18, decimal_places=6)),
            ],
            options={'table': 'usage_events', 'app': 'tollway', 'indexes': [Index(fields=['tenant_id', 'at']), Index(fields=['key_id', 'at'])], 'pk_attr': 'id', 'table_description': 'One request (or one reported outbound call). `event_id` makes writes idempotent.'},
            bases=['Model'],
        ),
    ]
