"""Custom scalars, registered on the schema by `SCALARS`."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, NewType

import strawberry
from strawberry.schema.types.base_scalars import DecimalDefinition

BigInt = NewType("BigInt", int)
"""An integer that may exceed 32 bits (counts, bytes, units)."""

SCALARS: dict[object, Any] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer that may exceed 32 bits (counts, bytes, units), a JSON number.",
        serialize=int,
        parse_value=int,
    ),
    # Fixed-point text, never exponent form ("0.00000031", not "3.1E-7").
    Decimal: dataclasses.replace(
        DecimalDefinition, description="Decimal (fixed-point text)", serialize=lambda d: f"{d:f}"
    ),
}
