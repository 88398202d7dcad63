from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Rollups written before this migration get their admitted cost units here: exactly where a
# group had no refused request (all its cost units were admitted) and, for the tenant and key
# cubes' hours and days, from the detail cube's groups without an error code. The minutes of
# the last two days (the minutes still kept) are marked for the rollup job to recompute, which
# also writes the key cube's new minute rollups for them.
ADMITTED_WHERE_NOTHING_REFUSED = (
    "UPDATE usage_rollups SET admitted_cost_units = cost_units WHERE rejected = 0"
)
ADMITTED_FROM_DETAIL = (
    "UPDATE usage_rollups SET admitted_cost_units = ("
    " SELECT COALESCE(SUM(d.cost_units), 0) FROM usage_rollups d"
    " WHERE d.cube = 'detail' AND d.granularity = usage_rollups.granularity"
    " AND d.bucket = usage_rollups.bucket AND d.tenant_id = usage_rollups.tenant_id"
    " AND (usage_rollups.cube = 'tenant' OR d.key_id = usage_rollups.key_id)"
    " AND d.service = usage_rollups.service AND d.unit_type = usage_rollups.unit_type"
    " AND d.error_code = '')"
    " WHERE cube IN ('tenant', 'key') AND rejected > 0 AND granularity IN ('HOUR', 'DAY')"
)
RECOMPUTE_KEPT_MINUTES = (
    "INSERT INTO usage_dirty_minutes (minute) SELECT DISTINCT bucket FROM usage_rollups"
    " WHERE cube = 'tenant' AND granularity = 'MINUTE'"
)


class Migration(migrations.Migration):
    dependencies = [('tollway', '0008_route_rules')]

    initial = False

    operations = [
        ops.AddField(
            model_name='UsageRollup',
            name='admitted_cost_units',
            field=fields.BigIntField(default=0),
        ),
        ops.RunSQL(
            [ADMITTED_WHERE_NOTHING_REFUSED, ADMITTED_FROM_DETAIL, RECOMPUTE_KEPT_MINUTES],
            reverse_sql=[],
        ),
    ]
