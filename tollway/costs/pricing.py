"""Price arithmetic, in Decimal only: rate versions, graduated tiers, the rate for a day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

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
    rates: Iterable[Rate], service: str, *, route: str | None, plan: str | None, day: date
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


MINOR_UNITS = {"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
               "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
               "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
               "XPF": 0}  # fmt: skip
"""ISO 4217 currencies whose minor unit is not the cent (every other has two decimals)."""


def at_currency_scale(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half up to the currency's minor unit, as money is shown."""
    places = MINOR_UNITS.get(currency.upper(), 2)
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def plain(amount: Decimal) -> Decimal:
    """`amount` without trailing zeros, never in exponent form (0.690000 -> 0.69)."""
    normal = amount.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral() else normal
