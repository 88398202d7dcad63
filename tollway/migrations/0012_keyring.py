from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tollway', '0011_tenant_data_policy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DataKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('owner_type', fields.CharField(max_length=40)),
                ('owner_id', fields.UUIDField()),
                ('tenant_id', fields.UUIDField(null=True)),
                ('kek_version', fields.IntField(db_index=True)),
                ('wrapped', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('rewrapped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'data_keys', 'app': 'tollway', 'unique_together': (('owner_type', 'owner_id'),), 'pk_attr': 'id', 'table_description': 'The data key of one owner (an integration, a webhook endpoint), wrapped.'},
            bases=['Model'],
        ),
    ]
