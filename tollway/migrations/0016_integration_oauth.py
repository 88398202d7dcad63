from tortoise import migrations
from tortoise.migrations import operations as ops
from tollway.models.oauth import OAuthState
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tollway', '0015_integration_probe_schedule')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IntegrationAuthorization',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('integration_id', fields.UUIDField(db_index=True)),
                ('tenant_id', fields.UUIDField()),
                ('state_hash', fields.CharField(unique=True, max_length=64)),
                ('code_verifier', fields.TextField(unique=False)),
                ('redirect_uri', fields.CharField(max_length=2048)),
                ('return_url', fields.CharField(null=True, max_length=2048)),
                ('started_by', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'integration_authorizations', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'An authorization code flow started by `startIntegrationAuthorization`, waiting for'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntegrationToken',
            fields=[
                ('integration_id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant_id', fields.UUIDField()),
                ('state', fields.CharEnumField(default=OAuthState.PENDING, description='PENDING: PENDING\nCONNECTED: CONNECTED\nFAILING: FAILING\nFAILED: FAILED', enum_type=OAuthState, max_length=20)),
                ('tokens', fields.TextField(null=True, unique=False)),
                ('token_hint', fields.CharField(null=True, max_length=8)),
                ('scope', fields.CharField(null=True, max_length=2000)),
                ('obtained_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('renewals', fields.IntField(default=0)),
                ('failures', fields.IntField(default=0)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('retry_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=300)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=0)),
            ],
            options={'table': 'integration_tokens', 'app': 'tollway', 'pk_attr': 'integration_id', 'table_description': "An integration's OAuth2 tokens (sealed on the keyring) and how renewing them goes."},
            bases=['Model'],
        ),
    ]
