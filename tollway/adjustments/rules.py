"""Which adjustments apply to a key at a moment, and what they make of its windows.

Pure and synchronous: the enforcement hot path calls `AdjustmentTable.windows_for` on every
request, so an empty table costs one attribute check.

Resolution, for one key at one moment:
- an active OVERRIDE of the key replaces the key's own windows (route windows still apply);
- otherwise the most specific active BOOST and the most specific active THROTTLE
  (KEY, then PLAN, then TENANT, then GLOBAL; the newest wins a tie) multiply every rate
  window the request meets, floored, never below 1. Keys and plans named as exempt skip
  the throttle. Quotas are never adjusted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from tollway.models.adjustments import AdjustmentKind, AdjustmentScope
from tollway.ratelimit import Window

SPECIFICITY = {
    AdjustmentScope.KEY: 3,
    AdjustmentScope.PLAN: 2,
    AdjustmentScope.TENANT: 1,
    AdjustmentScope.GLOBAL: 0,
}


class Subject(Protocol):
    """What an adjustment can match a request on (a `KeyRecord` is one)."""

    @property
    def key_id(self) -> str | None: ...

    @property
    def tenant_id(self) -> str | None: ...

    @property
    def plan(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class KeyTraits:
    """What an adjustment can match a request on. All None for public (per-IP) routes."""

    key_id: str | None
    tenant_id: str | None
    plan: str | None


PUBLIC = KeyTraits(None, None, None)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One stored adjustment, as the hot path reads it."""

    id: str
    kind: AdjustmentKind
    scope: AdjustmentScope
    starts_ms: int
    ends_ms: int
    created_ms: int
    tenant_id: str | None = None
    key_id: str | None = None
    plan: str | None = None
    multiplier: float = 1.0
    override: Window | None = None
    exempt_key_ids: frozenset[str] = frozenset()
    exempt_plans: frozenset[str] = frozenset()

    def active(self, now_ms: int) -> bool:
        """Between its start (inclusive) and end (exclusive)."""
        return self.starts_ms <= now_ms < self.ends_ms

    def covers(self, key: Subject) -> bool:
        """True when this adjustment's scope includes the key."""
        if self.tenant_id is not None and self.tenant_id != key.tenant_id:
            return False
        if self.scope is AdjustmentScope.KEY:
            return key.key_id is not None and self.key_id == key.key_id
        if self.scope is AdjustmentScope.PLAN:
            return key.plan is not None and self.plan == key.plan
        if self.scope is AdjustmentScope.TENANT:
            return key.tenant_id is not None
        return True

    def exempts(self, key: Subject) -> bool:
        """True when the key is named as exempt from this (throttle)."""
        return key.key_id in self.exempt_key_ids or key.plan in self.exempt_plans

    @property
    def rank(self) -> tuple[int, int]:
        """Most specific first, then newest."""
        return SPECIFICITY[self.scope], self.created_ms


def _scaled(value: int, factor: float) -> int:
    # The epsilon keeps 100 x 0.29 at 29, not 28.999...
    return max(1, math.floor(value * factor + 1e-9))


def scale(windows: Sequence[Window], factor: float) -> tuple[Window, ...]:
    """Every window's limit (and burst) times `factor`, floored, at least 1."""
    return tuple(
        replace(
            w,
            limit=_scaled(w.limit, factor),
            burst=None if w.burst is None else _scaled(w.burst, factor),
        )
        for w in windows
    )


@dataclass(frozen=True, slots=True)
class Effect:
    """What the adjustments in force make of one request's windows."""

    windows: tuple[Window, ...]
    route_windows: tuple[Window, ...]
    applied: tuple[Adjustment, ...] = ()


class AdjustmentTable:
    """The current and scheduled adjustments of this instance, replaced whole on reload."""

    def __init__(self, adjustments: Iterable[Adjustment] = ()) -> None:
        self._items: tuple[Adjustment, ...] = ()
        self.empty = True
        self.replace(adjustments)

    def replace(self, adjustments: Iterable[Adjustment]) -> None:
        """Swap in a fresh set (atomic for readers: one attribute assignment)."""
        self._items = items = tuple(adjustments)
        self.empty = not items
        """True when there is nothing to apply (read on every request: a plain attribute)."""

    def __len__(self) -> int:
        return len(self._items)

    def in_force(self, key: Subject, now_ms: int) -> list[Adjustment]:
        """The active adjustments covering `key`."""
        return [a for a in self._items if a.active(now_ms) and a.covers(key)]

    def apply(
        self,
        key: Subject,
        windows: tuple[Window, ...],
        *,
        route_windows: tuple[Window, ...],
        now_ms: int,
    ) -> Effect:
        """The windows this request is held to."""
        if not self._items:
            return Effect(windows, route_windows)
        matching = self.in_force(key, now_ms)
        if not matching:
            return Effect(windows, route_windows)
        best: dict[AdjustmentKind, Adjustment] = {}
        for adjustment in matching:
            if adjustment.kind is AdjustmentKind.THROTTLE and adjustment.exempts(key):
                continue
            current = best.get(adjustment.kind)
            if current is None or adjustment.rank > current.rank:
                best[adjustment.kind] = adjustment
        override = best.get(AdjustmentKind.OVERRIDE)
        if override is not None and override.override is not None:
            return Effect((override.override,), route_windows, (override,))
        applied = tuple(
            best[k] for k in (AdjustmentKind.BOOST, AdjustmentKind.THROTTLE) if k in best
        )
        if not applied:
            return Effect(windows, route_windows)
        factor = 1.0
        for adjustment in applied:
            factor *= adjustment.multiplier
        return Effect(scale(windows, factor), scale(route_windows, factor), applied)
