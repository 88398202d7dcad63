"""The invariant at every size: N admits exactly N across instances and clients, a quota is
charged exactly what it admitted, and units leased ahead and not handed out go back."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.ratelimit.conftest import FakeClock
from tollway.ratelimit import Algorithm, Limiter, Quota, QuotaPeriod, Window
from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.redis import RedisStorage
from tollway.ratelimit.reservation import RESERVATION_MS

RESERVE = 128  # the production default
CLIENTS = 200
LIMITS = ["sliding", "fixed", "token-bucket", "quota"]


def configuration(kind: str, limit: int) -> tuple[list[Window], Quota | None]:
    """One limit of `limit` units of the given kind (the others far out of the way)."""
    if kind == "quota":
        return [Window(limit=10**9, seconds=3600)], Quota(limit=limit, period=QuotaPeriod.DAY)
    algorithm = {
        "sliding": Algorithm.SLIDING_WINDOW,
        "fixed": Algorithm.FIXED_WINDOW,
        "token-bucket": Algorithm.TOKEN_BUCKET,
    }[kind]
    return [Window(limit=limit, seconds=3600, algorithm=algorithm)], None


async def clients_until_refused(
    instances: list[Limiter], who: str, windows: list[Window], quota: Quota | None, cost: int
) -> int:
    """CLIENTS concurrent clients, each on one instance, send until each is refused; the
    units admitted in all."""

    async def client(number: int) -> int:
        limiter, admitted = instances[number % len(instances)], 0
        while (await limiter.hit(who, windows, quota=quota, cost=cost)).allowed:
            admitted += cost
        return admitted

    return sum(await asyncio.gather(*[client(n) for n in range(CLIENTS)]))


@pytest.mark.parametrize("kind", LIMITS)
@pytest.mark.parametrize(("limit", "cost"), [(100, 1), (2_000, 1), (50_000, 10)])
async def test_two_instances_and_200_clients_admit_exactly_n(
    storage: LimitStorage, clock: FakeClock, kind: str, limit: int, cost: int
) -> None:
    # A still clock: the window does not roll and a token bucket does not refill meanwhile.
    # On Redis each instance has its own connection.
    storages = [
        storage,
        RedisStorage(storage._redis) if isinstance(storage, RedisStorage) else storage,
    ]
    instances = [Limiter(s, clock, reserve_units=RESERVE) for s in storages]
    who = uuid.uuid4().hex
    windows, quota = configuration(kind, limit)
    admitted = await clients_until_refused(instances, who, windows, quota, cost)
    assert admitted <= limit
    # Leases end (here: the instances stop): what they held goes back, and the clients
    # trying again within the window get exactly the rest.
    for limiter in instances:
        await limiter.aclose()
    admitted += await clients_until_refused(instances, who, windows, quota, cost)
    assert admitted == limit
    for limiter in instances:
        await limiter.aclose()
    fresh = await Limiter(storage, clock).hit(who, windows, quota=quota, cost=0)
    assert [r.remaining for r in fresh.results if r.limit == limit] == [0]
    if storages[1] is not storage:
        await storages[1].aclose()


@pytest.mark.parametrize("spacing_ms", [RESERVATION_MS + 500, 5])
async def test_a_quota_is_charged_exactly_what_it_admitted(
    storage: LimitStorage, clock: FakeClock, spacing_ms: int
) -> None:
    """A quiet key (requests further apart than a lease lasts) and a burst followed by
    silence past a window roll: after K admitted requests the quota has counted K."""
    limiter = Limiter(storage, clock, reserve_units=RESERVE)
    who = uuid.uuid4().hex
    windows = [Window(limit=100_000, seconds=3600), Window(limit=100_000, seconds=60)]
    quota = Quota(limit=100_000, period=QuotaPeriod.MONTH)
    for admitted in range(1, 301):
        decision = await limiter.hit(who, windows, quota=quota)
        assert decision.allowed
        assert decision.results[-1].remaining == 100_000 - admitted  # the RateLimit header's
        clock.advance(spacing_ms)
        limiter.end_expired_reservations()  # what `Limiter.maintain` does four times a second
        await limiter.settle()
    clock.advance(120_000)  # silence past the 60 s window's roll
    limiter.end_expired_reservations()
    await limiter.settle()
    seen = await Limiter(storage, clock).hit(who, windows, quota=quota, cost=0)
    assert seen.results[-1].remaining == 100_000 - 300
    assert (await limiter.hit(who, windows, quota=quota)).results[-1].remaining == 100_000 - 301


async def test_a_lease_given_back_is_counted_once_and_frees_its_units(
    storage: LimitStorage, clock: FakeClock
) -> None:
    holder, other = Limiter(storage, clock, reserve_units=64), Limiter(storage, clock)
    who, windows = uuid.uuid4().hex, [Window(limit=10_000, seconds=60)]
    for _ in range(10):
        await holder.hit(who, windows, quota=None)
    # Leased units count as used for every other request...
    assert (await other.hit(who, windows, quota=None, cost=0)).results[0].remaining < 10_000 - 10
    await holder.aclose()
    await holder.aclose()  # ending twice reports nothing twice
    # ...and once given back, exactly the admitted requests remain counted.
    assert (await other.hit(who, windows, quota=None, cost=0)).results[0].remaining == 10_000 - 10


async def test_a_crashed_instance_never_costs_the_quota_units_it_did_not_hand_out(
    storage: LimitStorage, clock: FakeClock
) -> None:
    crashed, other = Limiter(storage, clock, reserve_units=64), Limiter(storage, clock)
    who, quota = uuid.uuid4().hex, Quota(limit=10_000, period=QuotaPeriod.DAY)
    await crashed.hit(who, [], quota=quota)  # leases 64 units, then the instance dies silently
    clock.advance(2 * RESERVATION_MS)  # past the lease's grace in the storage
    assert (await other.hit(who, [], quota=quota, cost=0)).results[0].remaining == 10_000 - 1


async def test_dropping_check_plans_mid_traffic_keeps_exactly_n(
    storage: LimitStorage, clock: FakeClock
) -> None:
    # The key sweep and the plan-cache overflow drop plans while their leases are live: the
    # leases end and give back what was not handed out, and N still admits exactly N.
    limit = 2_000  # well above a lease of RESERVE units
    instance = Limiter(storage, clock, reserve_units=RESERVE)
    who, windows = uuid.uuid4().hex, [Window(limit=limit, seconds=3600)]

    async def client(number: int) -> int:
        admitted = 0
        while (await instance.hit(who, windows, quota=None)).allowed:
            admitted += 1
            if number % 10 == 0 and admitted % 25 == 0:
                instance.forget_plans()
        return admitted

    admitted = sum(await asyncio.gather(*[client(n) for n in range(CLIENTS)]))
    await instance.aclose()  # every lease given back
    admitted += sum(await asyncio.gather(*[client(n) for n in range(1, CLIENTS, 10)]))
    await instance.aclose()
    assert admitted == limit
