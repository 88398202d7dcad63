"""Which adjustments apply to a key, and what they make of its windows (pure)."""

from __future__ import annotations

from tollway.adjustments.rules import PUBLIC, Adjustment, AdjustmentTable, KeyTraits, scale
from tollway.models import AdjustmentKind, AdjustmentScope
from tollway.ratelimit import Algorithm, Window

KEY = KeyTraits("k1", "t1", "FREE")
OTHER = KeyTraits("k2", "t2", "STARTER")
MINUTE = (Window(100, 60),)
ROUTE = (Window(10, 1),)
BOOST, THROTTLE, OVERRIDE = AdjustmentKind.BOOST, AdjustmentKind.THROTTLE, AdjustmentKind.OVERRIDE
S = AdjustmentScope


def adj(kind: AdjustmentKind, scope: AdjustmentScope, created: int = 0, **kw: object) -> Adjustment:
    fields: dict[str, object] = {"starts_ms": 1000, "ends_ms": 2000, "created_ms": created, **kw}
    return Adjustment(id=f"a{created}", kind=kind, scope=scope, **fields)  # type: ignore[arg-type]


def limits(table: AdjustmentTable, key: KeyTraits = KEY, now: int = 1500) -> list[int]:
    effect = table.apply(key, MINUTE, route_windows=ROUTE, now_ms=now)
    return [w.limit for w in effect.windows + effect.route_windows]


def test_nothing_in_force_changes_nothing() -> None:
    assert limits(AdjustmentTable()) == [100, 10]
    table = AdjustmentTable([adj(BOOST, S.GLOBAL, multiplier=2.0)])
    assert limits(table, now=999) == [100, 10]  # not started
    assert limits(table, now=1000) == [200, 20]  # start is inclusive
    assert limits(table, now=2000) == [100, 10]  # end is exclusive


def test_scope_matching() -> None:
    for scope, kw in [
        (S.KEY, {"key_id": "k1", "tenant_id": "t1"}),
        (S.PLAN, {"plan": "FREE"}),
        (S.PLAN, {"plan": "FREE", "tenant_id": "t1"}),
        (S.TENANT, {"tenant_id": "t1"}),
        (S.GLOBAL, {}),
    ]:
        table = AdjustmentTable([adj(BOOST, scope, multiplier=3.0, **kw)])
        assert limits(table) == [300, 30], scope
        expected = [300, 30] if scope is S.GLOBAL else [100, 10]
        assert limits(table, OTHER) == expected, scope
    narrowed = AdjustmentTable([adj(BOOST, S.PLAN, multiplier=3.0, plan="FREE", tenant_id="t9")])
    assert limits(narrowed) == [100, 10]


def test_most_specific_of_each_kind_wins_and_boost_times_throttle() -> None:
    table = AdjustmentTable([
        adj(BOOST, S.GLOBAL, 1, multiplier=10.0),
        adj(BOOST, S.KEY, 2, multiplier=2.0, key_id="k1"),
        adj(THROTTLE, S.TENANT, 3, multiplier=0.5, tenant_id="t1"),
        adj(THROTTLE, S.GLOBAL, 4, multiplier=0.1),
    ])  # fmt: skip
    assert limits(table) == [100, 10]  # key boost x2 times tenant throttle x0.5
    assert limits(table, OTHER) == [100, 10]  # global boost x10 times global throttle x0.1


def test_newest_wins_a_tie() -> None:
    table = AdjustmentTable(
        [adj(BOOST, S.GLOBAL, 1, multiplier=2.0), adj(BOOST, S.GLOBAL, 2, multiplier=4.0)]
    )
    assert limits(table) == [400, 40]


def test_exempt_keys_and_plans_skip_the_throttle() -> None:
    by_key = AdjustmentTable(
        [adj(THROTTLE, S.GLOBAL, multiplier=0.5, exempt_key_ids=frozenset({"k1"}))]
    )
    assert limits(by_key) == [100, 10]
    assert limits(by_key, OTHER) == [50, 5]
    by_plan = AdjustmentTable(
        [adj(THROTTLE, S.GLOBAL, multiplier=0.5, exempt_plans=frozenset({"STARTER"}))]
    )
    assert limits(by_plan) == [50, 5]
    assert limits(by_plan, OTHER) == [100, 10]


def test_override_replaces_the_key_windows_only() -> None:
    table = AdjustmentTable([
        adj(OVERRIDE, S.KEY, 1, key_id="k1", tenant_id="t1", override=Window(5, 3600)),
        adj(BOOST, S.GLOBAL, 2, multiplier=2.0),
    ])  # fmt: skip
    effect = table.apply(
        KEY, (Window(100, 60), Window(1000, 3600)), route_windows=ROUTE, now_ms=1500
    )
    assert effect.windows == (Window(5, 3600),)
    assert effect.route_windows == ROUTE
    assert [a.kind for a in effect.applied] == [OVERRIDE]


def test_public_routes_see_global_adjustments_only() -> None:
    table = AdjustmentTable([adj(THROTTLE, S.TENANT, 1, multiplier=0.5, tenant_id="t1")])
    assert table.apply(PUBLIC, (), route_windows=ROUTE, now_ms=1500).route_windows == ROUTE
    table = AdjustmentTable([adj(THROTTLE, S.GLOBAL, 1, multiplier=0.5)])
    assert table.apply(PUBLIC, (), route_windows=ROUTE, now_ms=1500).route_windows == (
        Window(5, 1),
    )


def test_scaling_floors_at_one_and_scales_burst() -> None:
    bucket = Window(50, 1, Algorithm.TOKEN_BUCKET, 100)
    assert scale([bucket], 0.29) == (Window(14, 1, Algorithm.TOKEN_BUCKET, 29),)
    assert scale([Window(100, 60)], 0.29) == (Window(29, 60),)
    assert scale([Window(3, 60)], 0.01) == (Window(1, 60),)
