from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tollway.models.adjustments import AdjustmentKind, AdjustmentScope
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tollway', '0002_api_keys')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LimitAdjustment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='BOOST: BOOST\nTHROTTLE: THROTTLE\nOVERRIDE: OVERRIDE', enum_type=AdjustmentKind, max_length=16)),
                ('scope', fields.CharEnumField(description='KEY: KEY\nPLAN: PLAN\nTENANT: TENANT\nGLOBAL: GLOBAL', enum_type=AdjustmentScope, max_length=16)),
                ('tenant_id', fields.UUIDField(null=True, db_index=True)),
                ('key_id', fields.UUIDField(null=True, db_index=True)),
                ('plan', fields.CharField(null=True, max_length=60)),
                ('multiplier', fields.FloatField(null=True)),
                ('override_window', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('exempt_key_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('exempt_plans', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_by', fields.CharField(null=True, max_length=200)),
                ('reason', fields.TextField(unique=False)),
                ('created_by', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'limit_adjustments', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'A boost or throttle (multiplier) or an override (absolute window) between two times.'},
            bases=['Model'],
        ),
    ]
