"""Price arithmetic, in Decimal only: rate versions, graduated tiers, the rate for a day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tollway.errors import BadUserInput

MAX_TIERS = 20


@dataclass(frozen=True, slots=True)
class Tier:
    """Units up to `up_to` (cumulative within the month; None: unbounded) cost `unit_price`."""

    up_to: int | None
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Rate:
    """One price version for a service, optionally narrowed to a route or a plan."""

    id: str
    service: str
    route: str | None
    plan: str | None
    unit_price: Decimal
    currency: str
    tiers: tuple[Tier, ...]
    effective_from: date

    @property
    def specificity(self) -> int:
        """Route and plan rates beat general ones."""
        return (2 if self.route else 0) + (1 if self.plan else 0)

    def charge(self, units: int, units_before: int = 0) -> Decimal:
        """The price of `units` more units after `units_before` this month."""
        if not self.tiers:
            return self.unit_price * units
        return graduated(self.tiers, units_before + units) - graduated(self.tiers, units_before)


def graduated(tiers: Sequence[Tier], units: int) -> Decimal:
    """Total price of the first `units` units of a month under graduated tiers."""
    total, floor = Decimal(0), 0
    for tier in tiers:
        ceiling = units if tier.up_to is None else min(units, tier.up_to)
        if ceiling > floor:
            total += tier.unit_price * (ceiling - floor)
        if tier.up_to is None or tier.up_to >= units:
            return total
        floor = tier.up_to
    return total  # units beyond the last bounded tier are not priced (validated against)


def check_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Ascending bounds, the last one open, non-negative prices."""
    if len(tiers) > MAX_TIERS:
        raise BadUserInput(f"tiers: at most {MAX_TIERS}")
    previous = 0
    for index, tier in enumerate(tiers):
        if tier.unit_price < 0 or not tier.unit_price.is_finite():
            raise BadUserInput(f"tiers[{index}].unitPrice must not be negative")
        last = index == len(tiers) - 1
        if tier.up_to is None and not last:
            raise BadUserInput(f"tiers[{index}]: only the last tier may be open-ended")
        if tier.up_to is not None and tier.up_to <= previous:
            raise BadUserInput(f"tiers[{index}].upTo must be larger than the tier before")
        if last and tier.up_to is not None:
            raise BadUserInput("tiers: the last tier must be open-ended (upTo null)")
        previous = tier.up_to or previous
    return tuple(tiers)


def rate_for(
    rates: Iterable[Rate], service: str, route: str | None, plan: str | None, day: date
) -> Rate | None:
    """The rate in force on `day`: the most specific match, then the latest version."""
    best: Rate | None = None
    for rate in rates:
        if rate.service != service or rate.effective_from > day:
            continue
        if (rate.route and rate.route != route) or (rate.plan and rate.plan != plan):
            continue
        if best is None or (rate.specificity, rate.effective_from) > (
            best.specificity,
            best.effective_from,
        ):
            best = rate
    return best
