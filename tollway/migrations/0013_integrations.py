from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tollway.models.integrations import CredentialType, IntegrationEnvironment, IntegrationStatus, IntegrationType
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tollway', '0012_keyring')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Integration',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.UUIDField(db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('type', fields.CharEnumField(description='PAYMENT: PAYMENT\nSMS: SMS\nEMAIL: EMAIL\nSTORAGE: STORAGE\nAI: AI\nANALYTICS: ANALYTICS\nCUSTOM: CUSTOM', enum_type=IntegrationType, max_length=20)),
                ('provider', fields.CharField(db_index=True, max_length=60)),
                ('base_url', fields.CharField(max_length=2048)),
                ('environment', fields.CharEnumField(default=IntegrationEnvironment.PRODUCTION, description='PRODUCTION: PRODUCTION\nSANDBOX: SANDBOX', enum_type=IntegrationEnvironment, max_length=20)),
                ('config', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('credential_type', fields.CharEnumField(null=True, description='API_KEY: API_KEY\nBASIC: BASIC\nBEARER: BEARER\nHMAC: HMAC\nOAUTH2_CLIENT_CREDENTIALS: OAUTH2_CLIENT_CREDENTIALS\nOAUTH2_AUTHORIZATION_CODE: OAUTH2_AUTHORIZATION_CODE', enum_type=CredentialType, max_length=40)),
                ('credentials', fields.TextField(null=True, unique=False)),
                ('credential_hint', fields.CharField(null=True, max_length=8)),
                ('status', fields.CharEnumField(default=IntegrationStatus.UNKNOWN, description='UNKNOWN: UNKNOWN\nHEALTHY: HEALTHY\nDEGRADED: DEGRADED\nDOWN: DOWN\nAUTH_FAILED: AUTH_FAILED', enum_type=IntegrationStatus, max_length=20)),
                ('status_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'integrations', 'app': 'tollway', 'unique_together': (('tenant_id', 'name'),), 'pk_attr': 'id', 'table_description': 'An integration of a tenant with one provider, its credentials sealed on the keyring.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntegrationProvider',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=60)),
                ('display_name', fields.CharField(max_length=120)),
                ('type', fields.CharEnumField(description='PAYMENT: PAYMENT\nSMS: SMS\nEMAIL: EMAIL\nSTORAGE: STORAGE\nAI: AI\nANALYTICS: ANALYTICS\nCUSTOM: CUSTOM', enum_type=IntegrationType, max_length=20)),
                ('base_url', fields.CharField(null=True, max_length=2048)),
                ('auth_style', fields.CharEnumField(null=True, description='API_KEY: API_KEY\nBASIC: BASIC\nBEARER: BEARER\nHMAC: HMAC\nOAUTH2_CLIENT_CREDENTIALS: OAUTH2_CLIENT_CREDENTIALS\nOAUTH2_AUTHORIZATION_CODE: OAUTH2_AUTHORIZATION_CODE', enum_type=CredentialType, max_length=40)),
                ('api_key_header', fields.CharField(null=True, max_length=100)),
                ('api_key_query', fields.CharField(null=True, max_length=100)),
                ('probe_method', fields.CharField(default='GET', max_length=10)),
                ('probe_path', fields.CharField(null=True, max_length=2048)),
                ('probe_statuses', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('probe_timeout_seconds', fields.FloatField(default=5.0)),
                ('probe_interval_seconds', fields.IntField(default=60)),
                ('built_in', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'integration_providers', 'app': 'tollway', 'pk_attr': 'name', 'table_description': 'A known provider: where it lives, how it authenticates, how to probe its health.'},
            bases=['Model'],
        ),
    ]
