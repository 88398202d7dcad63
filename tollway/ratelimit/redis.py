"""Redis backend: one EVALSHA of `lua/limits.lua` per request, Redis Cluster-safe keys.

The script runs over a pipelined connection (`pipe.py`); redis-py serves everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from redis.asyncio import Redis

from tollway.ratelimit.checks import RESERVE_MIN_ROOM, RESERVE_SHARE
from tollway.ratelimit.pipe import ScriptPipe, bulk
from tollway.ratelimit.types import Check, CounterState, Lease, StorageAnswer

LUA_SOURCE = resources.files("tollway.ratelimit").joinpath("lua/limits.lua").read_text()
RESERVE_ARGS = bulk(RESERVE_SHARE) + bulk(RESERVE_MIN_ROOM)
NO_LEASE = bulk("") + bulk(0) + bulk(0) + bulk(0) + bulk(0) + bulk(0)


def _lease_args(lease: Lease | None, final: bool) -> bytes:
    if lease is None:
        return NO_LEASE
    values = (lease.counted, lease.reported, lease.keep, lease.until_ms, 1 if final else 0)
    return bulk(lease.lease_id) + b"".join([bulk(v) for v in values])


class RedisStorage:
    """Counters in Redis, changed only by the atomic script."""

    name = "redis"

    def __init__(self, redis: Redis, timeout: float = 1.0) -> None:
        self._redis = redis
        self._pipe = ScriptPipe.from_kwargs(
            LUA_SOURCE, redis.connection_pool.connection_kwargs, timeout=timeout
        )

    async def apply(
        self,
        checks: Sequence[Check],
        cost: int,
        *,
        now_ms: int,
        reserve: int = 0,
        lease: Lease | None = None,
        final: bool = False,
    ) -> StorageAnswer:
        """One round trip: the script tests and counts every check (see `LimitStorage`)."""
        key_count = 0
        key_parts: list[bytes] = []
        arg_parts: list[bytes] = [
            bulk(now_ms),
            bulk(cost),
            bulk(len(checks)),
            bulk(reserve),
            RESERVE_ARGS,
            _lease_args(lease, final),
        ]
        for c in checks:
            wire_keys, wire_args = c.wire_keys, c.wire_args
            if wire_keys is None or wire_args is None:  # once per check: it serves a window
                wire_keys = c.wire_keys = b"".join([bulk(k) for k in (*c.keys, *c.lease_keys)])
                wire_args = c.wire_args = b"".join(
                    [bulk(c.kind.value), bulk(c.limit), bulk(c.interval_ms), bulk(c.burst),
                     bulk(c.reset_ms), bulk(c.expire_at_ms)]
                )  # fmt: skip
            key_parts.append(wire_keys)
            key_count += len(c.keys) + len(c.lease_keys)
            arg_parts.append(wire_args)
        body = b"".join([bulk(key_count), *key_parts, *arg_parts])
        reply = await self._pipe.evalsha_encoded(1 + key_count + 12 + 6 * len(checks), body)
        values = [int(v) for v in reply]
        states = [CounterState(values[2 + 2 * i], values[3 + 2 * i]) for i in range(len(checks))]
        return StorageAnswer(values[0] == 1, values[1], states)

    async def reset(self) -> None:
        """Delete every Tollway counter (SCAN, never KEYS)."""
        async for key in self._redis.scan_iter(match="tw:{*", count=1000):
            await self._redis.delete(key)

    async def aclose(self) -> None:
        """Close the pipelined connection (the redis-py client belongs to the caller)."""
        await self._pipe.aclose()
