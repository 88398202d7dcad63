"""Metered service, price rate, cost, budget and recommendation types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tollway.models import MeteredService as MeteredServiceModel


@strawberry.type
class MeteredService:
    """A service whose usage is counted and priced (`api` is the own API)."""

    id: strawberry.ID
    name: str
    description: str
    unit_type: str
    currency: str
    created_at: datetime

    @classmethod
    def from_model(cls, row: MeteredServiceModel) -> MeteredService:
        """From the stored row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            description=row.description,
            unit_type=row.unit_type,
            currency=row.currency,
            created_at=row.created_at,
        )


@strawberry.input
class CreateMeteredServiceInput:
    """A third-party (or internal) service to meter, e.g. `openai` in `tokens`."""

    name: str
    unit_type: str = "requests"
    currency: str = "USD"
    description: str = ""
