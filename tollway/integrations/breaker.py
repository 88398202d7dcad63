"""Circuit breakers per integration, one state shared by every instance: CLOSED while calls
succeed; OPEN after too many failures (consecutive, or a share of at least `min_requests` in
the window), for a backoff that doubles with each failed trial up to a cap; then HALF_OPEN,
letting one trial call through at a time, CLOSED again once one succeeds.

The transitions are pure functions of the state and a clock reading; the stores only keep the
state (in memory when embedded, in Redis when shared, updated under WATCH so that concurrent
instances never lose a transition)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import NamedTuple, Protocol

from redis.asyncio import Redis
from redis.exceptions import WatchError


class BreakerStatus(StrEnum):
    """Where a breaker stands."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long."""

    consecutive_failures: int = 5
    failure_ratio: float = 0.5
    min_requests: int = 20
    window_ms: int = 60_000
    first_open_ms: int = 5_000
    max_open_ms: int = 300_000
    trial_ms: int = 10_000
    """How long one half-open trial may take before another is let through."""


DEFAULT_POLICY = BreakerPolicy()


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A breaker's shared state (all times in the breaker clock's milliseconds)."""

    status: BreakerStatus = BreakerStatus.CLOSED
    consecutive: int = 0
    window_start_ms: int = 0
    window_requests: int = 0
    window_failures: int = 0
    open_until_ms: int = 0
    opened_times: int = 0
    """Failed trials since the breaker last closed: the backoff doubles with each."""
    trial_until_ms: int = 0
    changed_at_ms: int = 0


class Admission(NamedTuple):
    """Whether a call may go ahead now; how long to wait when not."""

    allowed: bool
    status: BreakerStatus
    retry_after_ms: int = 0
    previous: BreakerStatus | None = None
    """The status before this admission (the stores fill it in)."""


class Observed(NamedTuple):
    """A breaker's state after counting an outcome, and its status before."""

    previous: BreakerStatus
    state: BreakerState


class Admitted(NamedTuple):
    """A breaker's state after `admit`, and its answer."""

    state: BreakerState
    admission: Admission


def admit(state: BreakerState, policy: BreakerPolicy, *, now_ms: int) -> Admitted:
    """Let a call through, or refuse it while the breaker is open or a trial is under way."""
    if state.status is BreakerStatus.CLOSED:
        return Admitted(state, Admission(True, state.status))
    if state.status is BreakerStatus.OPEN and now_ms < state.open_until_ms:
        return Admitted(state, Admission(False, state.status, state.open_until_ms - now_ms))
    if state.status is BreakerStatus.HALF_OPEN and now_ms < state.trial_until_ms:
        return Admitted(state, Admission(False, state.status, state.trial_until_ms - now_ms))
    trial = replace(
        state,
        status=BreakerStatus.HALF_OPEN,
        trial_until_ms=now_ms + policy.trial_ms,
        changed_at_ms=now_ms if state.status is BreakerStatus.OPEN else state.changed_at_ms,
    )
    return Admitted(trial, Admission(True, BreakerStatus.HALF_OPEN))


def observe(state: BreakerState, policy: BreakerPolicy, *, ok: bool, now_ms: int) -> BreakerState:
    """The state after a call's outcome."""
    if state.status is BreakerStatus.HALF_OPEN:
        if ok:
            return BreakerState(window_start_ms=now_ms, changed_at_ms=now_ms)
        return _opened(state, policy, now_ms, state.opened_times + 1)
    if state.status is BreakerStatus.OPEN:
        return state  # an answer to a call let through before it opened
    if now_ms - state.window_start_ms >= policy.window_ms:
        state = replace(state, window_start_ms=now_ms, window_requests=0, window_failures=0)
    counted = replace(
        state,
        consecutive=0 if ok else state.consecutive + 1,
        window_requests=state.window_requests + 1,
        window_failures=state.window_failures + (0 if ok else 1),
    )
    too_many = counted.consecutive >= policy.consecutive_failures or (
        counted.window_requests >= policy.min_requests
        and counted.window_failures >= policy.failure_ratio * counted.window_requests
    )
    return _opened(counted, policy, now_ms, 0) if too_many else counted


def _opened(state: BreakerState, policy: BreakerPolicy, now_ms: int, times: int) -> BreakerState:
    backoff = min(policy.first_open_ms * 2**times, policy.max_open_ms)
    return replace(
        state,
        status=BreakerStatus.OPEN,
        open_until_ms=now_ms + backoff,
        opened_times=times,
        trial_until_ms=0,
        changed_at_ms=now_ms,
    )


class BreakerStore(Protocol):
    """Keeps breaker states, applying each transition atomically."""

    async def read(self, name: str) -> BreakerState: ...

    async def admit(self, name: str, policy: BreakerPolicy, *, now_ms: int) -> Admission: ...

    async def observe(
        self, name: str, policy: BreakerPolicy, *, ok: bool, now_ms: int
    ) -> Observed: ...


class MemoryBreakers:
    """Breaker states of this process (the embedded profile)."""

    def __init__(self) -> None:
        self._states: dict[str, BreakerState] = {}

    async def read(self, name: str) -> BreakerState:
        """The breaker's state (CLOSED when never seen)."""
        return self._states.get(name, BreakerState())

    async def admit(self, name: str, policy: BreakerPolicy, *, now_ms: int) -> Admission:
        """`admit` on the stored state."""
        before = await self.read(name)
        self._states[name], admission = admit(before, policy, now_ms=now_ms)
        return admission._replace(previous=before.status)

    async def observe(self, name: str, policy: BreakerPolicy, *, ok: bool, now_ms: int) -> Observed:
        """`observe` on the stored state."""
        before = await self.read(name)
        state = self._states[name] = observe(before, policy, ok=ok, now_ms=now_ms)
        return Observed(before.status, state)


class RedisBreakers:
    """Breaker states in Redis, shared by every instance (one JSON value per breaker)."""

    TTL_SECONDS = 7 * 86_400

    def __init__(self, redis: Redis, prefix: str = "tollway:breaker:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def read(self, name: str) -> BreakerState:
        """The breaker's state (CLOSED when never seen)."""
        return _decode(await self._redis.get(self._prefix + name))

    async def admit(self, name: str, policy: BreakerPolicy, *, now_ms: int) -> Admission:
        """`admit` on the shared state."""
        admission = Admission(True, BreakerStatus.CLOSED)

        def step(state: BreakerState) -> BreakerState:
            nonlocal admission
            state, admission = admit(state, policy, now_ms=now_ms)
            return state

        updated = await self._update(name, step)
        return admission._replace(previous=updated.previous)

    async def observe(self, name: str, policy: BreakerPolicy, *, ok: bool, now_ms: int) -> Observed:
        """`observe` on the shared state."""
        return await self._update(name, lambda s: observe(s, policy, ok=ok, now_ms=now_ms))

    async def _update(self, name: str, step: _Step) -> Observed:
        key = self._prefix + name
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    before = _decode(await pipe.get(key))
                    after = step(before)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if after != before:
                        pipe.set(key, json.dumps(asdict(after)), ex=self.TTL_SECONDS)
                    await pipe.execute()
                    return Observed(before.status, after)
                except WatchError:
                    await asyncio.sleep(0)  # another instance moved it first: again


class _Step(Protocol):
    def __call__(self, state: BreakerState, /) -> BreakerState: ...


def _decode(raw: bytes | str | None) -> BreakerState:
    if raw is None:
        return BreakerState()
    values = json.loads(raw)
    values["status"] = BreakerStatus(values["status"])
    return BreakerState(**values)


class CircuitOpen(Exception):
    """A call refused without trying: the integration's breaker is open (`CIRCUIT_OPEN`)."""

    code = "CIRCUIT_OPEN"

    def __init__(self, name: str, retry_after_ms: int) -> None:
        super().__init__(f"the circuit breaker of {name} is open; retry in {retry_after_ms} ms")
        self.retry_after_ms = retry_after_ms


class BreakerChange(NamedTuple):
    """A breaker moved from one status to another (as this instance saw it happen)."""

    name: str
    previous: BreakerStatus
    current: BreakerStatus
    at_ms: int


OnChange = Callable[[BreakerChange], Awaitable[None]]


async def _unheard(change: BreakerChange) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Breaker:
    """One integration's breaker, as its outbound calls use it. `on_change` hears of every
    transition made by this instance's calls (each is made by exactly one instance)."""

    store: BreakerStore
    name: str
    policy: BreakerPolicy
    clock: Callable[[], int]
    on_change: OnChange = _unheard

    async def before(self) -> None:
        """Raise `CircuitOpen` unless a call may go ahead now."""
        now = self.clock()
        admission = await self.store.admit(self.name, self.policy, now_ms=now)
        if admission.previous is not None and admission.previous is not admission.status:
            await self.on_change(
                BreakerChange(self.name, admission.previous, admission.status, now)
            )
        if not admission.allowed:
            raise CircuitOpen(self.name, admission.retry_after_ms)

    async def after(self, *, ok: bool) -> None:
        """Count a call's outcome."""
        now = self.clock()
        observed = await self.store.observe(self.name, self.policy, ok=ok, now_ms=now)
        if observed.previous is not observed.state.status:
            await self.on_change(
                BreakerChange(self.name, observed.previous, observed.state.status, now)
            )


def breakers_for(redis: Redis | None) -> BreakerStore:
    """Shared through Redis when there is one, else this process's own."""
    return MemoryBreakers() if redis is None else RedisBreakers(redis)
