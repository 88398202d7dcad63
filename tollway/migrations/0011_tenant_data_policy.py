from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tollway', '0010_audit_target_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Tenant',
            name='anonymize_ips',
            field=fields.BooleanField(null=True),
        ),
        ops.AddField(
            model_name='Tenant',
            name='request_log_retention_days',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Tenant',
            name='security_event_retention_days',
            field=fields.IntField(null=True),
        ),
    ]
