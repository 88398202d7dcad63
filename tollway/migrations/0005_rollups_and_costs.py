from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tollway.models.costs import BudgetPeriod, BudgetScope
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tollway', '0004_usage_events')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Budget',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('scope', fields.CharEnumField(description='GLOBAL: GLOBAL\nTENANT: TENANT\nSERVICE: SERVICE', enum_type=BudgetScope, max_length=10)),
                ('tenant_id', fields.UUIDField(null=True, db_index=True)),
                ('service', fields.CharField(null=True, max_length=100)),
                ('period', fields.CharEnumField(description='DAY: DAY\nWEEK: WEEK\nMONTH: MONTH', enum_type=BudgetPeriod, max_length=10)),
                ('amount', fields.DecimalField(max_digits=20, decimal_places=6)),
                ('currency', fields.CharField(max_length=3)),
                ('thresholds', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'budgets', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'A spending limit for a scope and period, with alert thresholds in percent.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BudgetEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('budget_id', fields.UUIDField(db_index=True)),
                ('tenant_id', fields.UUIDField(null=True)),
                ('period_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('threshold', fields.IntField()),
                ('spend', fields.DecimalField(max_digits=20, decimal_places=6)),
                ('amount', fields.DecimalField(max_digits=20, decimal_places=6)),
                ('currency', fields.CharField(max_length=3)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'budget_events', 'app': 'tollway', 'unique_together': (('budget_id', 'period_start', 'threshold'),), 'pk_attr': 'id', 'table_description': 'A threshold crossed, recorded once per budget, period and threshold.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MeteredService',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('description', fields.CharField(default='', max_length=500)),
                ('unit_type', fields.CharField(default='requests', max_length=32)),
                ('currency', fields.CharField(default='USD', max_length=3)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'metered_services', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'Something whose usage is counted and priced: the own API (`api`) or a third party.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PriceRate',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('service', fields.CharField(db_index=True, max_length=100)),
                ('route', fields.CharField(null=True, max_length=200)),
                ('plan', fields.CharField(null=True, max_length=64)),
                ('unit_price', fields.DecimalField(max_digits=24, decimal_places=12)),
                ('currency', fields.CharField(max_length=3)),
                ('tiers', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('effective_from', fields.DateField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('created_by', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'price_rates', 'app': 'tollway', 'unique_together': (('service', 'route', 'plan', 'effective_from'),), 'pk_attr': 'id', 'table_description': 'One version of a price: per unit of a service, optionally only for one route or plan.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RollupCursor',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('watermark', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'rollup_cursors', 'app': 'tollway', 'pk_attr': 'name', 'table_description': 'How far rollups are complete: every minute before `watermark` is rolled up.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UsageDirtyMinute',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('minute', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'usage_dirty_minutes', 'app': 'tollway', 'pk_attr': 'id', 'table_description': 'A minute that received events after it was rolled up (a replay, a late report).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UsageRollup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('granularity', fields.CharField(max_length=6)),
                ('cube', fields.CharField(max_length=10)),
                ('bucket', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('tenant_id', fields.CharField(default='', max_length=36)),
                ('key_id', fields.CharField(default='', max_length=36)),
                ('route', fields.CharField(default='', max_length=200)),
                ('method', fields.CharField(default='', max_length=10)),
                ('status_class', fields.SmallIntField(default=0)),
                ('error_code', fields.CharField(default='', max_length=40)),
                ('api_version', fields.CharField(default='', max_length=40)),
                ('service', fields.CharField(default='', max_length=100)),
                ('unit_type', fields.CharField(default='', max_length=32)),
                ('requests', fields.BigIntField(default=0)),
                ('errors', fields.BigIntField(default=0)),
                ('server_errors', fields.BigIntField(default=0)),
                ('rejected', fields.BigIntField(default=0)),
                ('request_bytes', fields.BigIntField(default=0)),
                ('response_bytes', fields.BigIntField(default=0)),
                ('units', fields.BigIntField(default=0)),
                ('unpriced_units', fields.BigIntField(default=0)),
                ('cost_units', fields.BigIntField(default=0)),
                ('reported_cost_micros', fields.BigIntField(default=0)),
                ('latency_count', fields.BigIntField(default=0)),
                ('latency_sum', fields.FloatField(default=0)),
                ('sketch', fields.TextField(default='{}', unique=False)),
            ],
            options={'table': 'usage_rollups', 'app': 'tollway', 'unique_together': (('granularity', 'cube', 'bucket', 'tenant_id', 'key_id', 'route', 'method', 'status_class', 'error_code', 'api_version', 'service', 'unit_type'),), 'indexes': [Index(fields=['granularity', 'cube', 'tenant_id', 'bucket'])], 'pk_attr': 'id', 'table_description': 'Usage summed per bucket (minute, hour, day), cube and group of dimensions.'},
            bases=['Model'],
        ),
    ]
