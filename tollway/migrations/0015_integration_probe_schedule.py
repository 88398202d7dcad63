from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tollway', '0014_integration_checks')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Integration',
            name='next_probe_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='IntegrationCheck',
            index=Index(fields=['at']),
        ),
    ]
