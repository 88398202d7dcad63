"""The catalog of metered services: the own API (`api`) and the third parties teams pay for."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from tollway.audit.service import AuditService
from tollway.auth.principal import SUPER_ADMIN_ONLY, Principal
from tollway.errors import BadUserInput, Conflict, NotFound
from tollway.models import MeteredService
from tollway.text import clean_text

OWN_API = "api"
"""Requests through the middleware are usage of this service (units: route weight)."""
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
UNIT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


def check_currency(value: str, field: str = "currency") -> str:
    """An ISO 4217 code in upper case."""
    code = value.strip().upper()
    if not CURRENCY.match(code):
        raise BadUserInput(f"{field}: {value!r} is not an ISO 4217 currency code (e.g. USD)")
    return code


@dataclass(frozen=True, slots=True)
class NewService:
    """Fields of `createMeteredService`."""

    name: str
    unit_type: str = "requests"
    currency: str = "USD"
    description: str = ""


async def ensure_own_api_service() -> None:
    """The `api` service exists (seeded at start-up)."""
    with contextlib.suppress(IntegrityError):
        await MeteredService.get_or_create(
            name=OWN_API,
            defaults={"description": "Requests through the enforcement middleware"},
        )


class ServiceCatalog:
    """Metered services are global: SUPER_ADMIN defines them, every role reads them."""

    def __init__(self, audit: AuditService) -> None:
        self.audit = audit

    async def create(self, principal: Principal, new: NewService) -> MeteredService:
        """Register a service."""
        principal.require_role(SUPER_ADMIN_ONLY, "define metered services")
        name = new.name.strip().lower()
        if not SERVICE_NAME.match(name):
            raise BadUserInput("name: 1-100 lower-case letters, digits or ._- (e.g. openai)")
        if not UNIT_TYPE.match(new.unit_type):
            raise BadUserInput("unitType: lower-case letters, digits and _ (e.g. tokens)")
        currency = check_currency(new.currency)
        description = clean_text(new.description, "description", maximum=500, required=False)
        try:
            row = await MeteredService.create(
                name=name, unit_type=new.unit_type, currency=currency, description=description
            )
        except IntegrityError:
            raise Conflict(f"a service named {name!r} exists") from None
        entry = await self.audit.record(
            principal,
            "metered_service.created",
            target_type="metered_service",
            target_id=row.id,
            tenant_id=None,
            changes={"name": name, "unit_type": new.unit_type, "currency": currency},
        )
        self.audit.announce(entry)
        return row

    async def list(self) -> list[MeteredService]:
        """Every service, by name."""
        return await MeteredService.all().order_by("name")

    async def get(self, name: str) -> MeteredService:
        """One service by name."""
        row = await MeteredService.get_or_none(name=name)
        if row is None:
            raise NotFound(f"unknown service {name!r}")
        return row
