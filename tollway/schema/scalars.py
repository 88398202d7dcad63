"""Custom scalars, registered on the schema by `SCALARS`."""

from __future__ import annotations

from typing import Any, NewType

import strawberry

BigInt = NewType("BigInt", int)
"""An integer that may exceed 32 bits (counts, bytes, units)."""

SCALARS: dict[object, Any] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer that may exceed 32 bits (counts, bytes, units), a JSON number.",
        serialize=int,
        parse_value=int,
    )
}
