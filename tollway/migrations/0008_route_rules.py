from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tollway', '0007_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StoredRouteRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=120)),
                ('path', fields.CharField(max_length=500)),
                ('methods', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('scopes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('cost', fields.IntField(default=1)),
                ('rate_limits', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('public', fields.BooleanField(default=False)),
                ('priority', fields.IntField(default=100)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'route_rules', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'A method + path pattern with its required scopes, cost, extra windows and publicness.'},
            bases=['Model'],
        ),
    ]
