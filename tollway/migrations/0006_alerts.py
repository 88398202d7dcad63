from tortoise import migrations
from tortoise.migrations import operations as ops
from tollway.models.alerts import AlertMetric, AlertStatus, Comparator, RuleScope, Severity
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tollway', '0005_rollups_and_costs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Alert',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=300)),
                ('source', fields.CharField(max_length=60)),
                ('rule_id', fields.UUIDField(null=True)),
                ('kind', fields.CharField(max_length=40)),
                ('subject', fields.CharField(max_length=250)),
                ('tenant_id', fields.UUIDField(null=True)),
                ('key_id', fields.UUIDField(null=True)),
                ('severity', fields.CharEnumField(description='INFO: INFO\nWARNING: WARNING\nCRITICAL: CRITICAL', enum_type=Severity, max_length=10)),
                ('status', fields.CharEnumField(default=AlertStatus.OPEN, description='OPEN: OPEN\nACKNOWLEDGED: ACKNOWLEDGED\nRESOLVED: RESOLVED', enum_type=AlertStatus, max_length=12)),
                ('message', fields.TextField(unique=False)),
                ('value', fields.FloatField(null=True)),
                ('threshold', fields.FloatField(null=True)),
                ('occurrences', fields.IntField(default=1)),
                ('cooldown_seconds', fields.IntField(default=300)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('cleared_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_by', fields.CharField(null=True, max_length=200)),
                ('acknowledgement_note', fields.TextField(null=True, unique=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.CharField(null=True, max_length=200)),
            ],
            options={'table': 'alerts', 'app': 'tollway', 'indexes': [Index(fields=['tenant_id', 'status', 'opened_at']), Index(fields=['status', 'source'])], 'pk_attr': 'id', 'table_description': 'One condition that held: opened once, counted while it recurs, resolved once clear.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AlertRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.UUIDField(null=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('metric', fields.CharEnumField(description='REQUEST_RATE: REQUEST_RATE\nERROR_RATE: ERROR_RATE\nP95_LATENCY: P95_LATENCY\nREJECTIONS: REJECTIONS\nQUOTA_USE: QUOTA_USE\nBUDGET_USE: BUDGET_USE\nAUTH_FAILURES: AUTH_FAILURES\nCOST: COST', enum_type=AlertMetric, max_length=20)),
                ('scope', fields.CharEnumField(description='GLOBAL: GLOBAL\nTENANT: TENANT\nKEY: KEY\nROUTE: ROUTE\nSERVICE: SERVICE', enum_type=RuleScope, max_length=10)),
                ('target', fields.CharField(null=True, max_length=200)),
                ('comparator', fields.CharEnumField(default=Comparator.GT, description='GT: GT\nGTE: GTE\nLT: LT\nLTE: LTE', enum_type=Comparator, max_length=4)),
                ('threshold', fields.FloatField()),
                ('window_seconds', fields.IntField(default=300)),
                ('min_requests', fields.IntField(default=0)),
                ('severity', fields.CharEnumField(default=Severity.WARNING, description='INFO: INFO\nWARNING: WARNING\nCRITICAL: CRITICAL', enum_type=Severity, max_length=10)),
                ('cooldown_seconds', fields.IntField(default=300)),
                ('enabled', fields.BooleanField(default=True)),
                ('builtin', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'alert_rules', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'A threshold on a metric over a window, for a scope.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DetectorBaseline',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('detector', fields.CharField(max_length=40)),
                ('subject', fields.CharField(max_length=250)),
                ('slot', fields.SmallIntField()),
                ('mean', fields.FloatField(default=0.0)),
                ('variance', fields.FloatField(default=0.0)),
                ('observations', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'detector_baselines', 'app': 'tollway', 'unique_together': (('detector', 'subject', 'slot'),), 'pk_attr': 'id', 'table_description': 'What a detector learned about one subject: an exponentially weighted mean and'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobClaim',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.CharField(max_length=40)),
                ('tick', fields.BigIntField()),
                ('holder', fields.CharField(max_length=200)),
                ('claimed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'job_claims', 'app': 'tollway', 'unique_together': (('job', 'tick'),), 'pk_attr': 'id', 'table_description': "A job's run for one tick, claimed by exactly one instance (insert wins)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='SecurityEvent',
            name='risk_score',
            field=fields.SmallIntField(default=0),
        ),
        ops.AddField(
            model_name='Tenant',
            name='auto_disable_compromised_keys',
            field=fields.BooleanField(default=False),
        ),
    ]
