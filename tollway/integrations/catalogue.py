"""The provider catalogue: known providers with their base URL, auth style and default health
probe, seeded at start-up and editable; `custom` stands for anything else."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, SUPER_ADMIN_ONLY, Principal
from tollway.errors import BadUserInput, NotFound
from tollway.integrations.probes import check_probe_fields
from tollway.models import CredentialType, IntegrationProvider, IntegrationType
from tollway.text import camel_case
from tollway.webhooks.guard import clean_url

CUSTOM = "custom"
B, K, H = CredentialType.BASIC, CredentialType.BEARER, CredentialType.HMAC


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A built-in provider as seeded."""

    name: str
    display_name: str
    type: IntegrationType
    base_url: str | None
    auth_style: CredentialType | None
    probe_path: str | None
    probe_statuses: list[int] = field(default_factory=lambda: [200])
    probe_method: str = "GET"
    api_key_header: str | None = None
    api_key_query: str | None = None


BUILT_IN: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "stripe", "Stripe", IntegrationType.PAYMENT, "https://api.stripe.com", K, "/v1/balance"
    ),
    ProviderSpec(
        "razorpay",
        "Razorpay",
        IntegrationType.PAYMENT,
        "https://api.razorpay.com",
        B,
        "/v1/payments?count=1",
    ),
    ProviderSpec(
        "twilio",
        "Twilio",
        IntegrationType.SMS,
        "https://api.twilio.com",
        B,
        "/2010-04-01/Accounts.json",
    ),
    ProviderSpec(
        "sendgrid", "SendGrid", IntegrationType.EMAIL, "https://api.sendgrid.com", K, "/v3/scopes"
    ),
    ProviderSpec("openai", "OpenAI", IntegrationType.AI, "https://api.openai.com", K, "/v1/models"),
    ProviderSpec(
        "google_maps",
        "Google Maps",
        IntegrationType.CUSTOM,
        "https://maps.googleapis.com",
        CredentialType.API_KEY,
        "/maps/api/geocode/json?address=0",
        api_key_query="key",
    ),
    ProviderSpec(
        "s3",
        "Amazon S3",
        IntegrationType.STORAGE,
        "https://s3.amazonaws.com",
        H,
        "/",
        probe_statuses=[200, 403],
        probe_method="HEAD",
    ),
    ProviderSpec(
        "segment", "Segment", IntegrationType.ANALYTICS, "https://api.segment.io", B, None
    ),
    ProviderSpec(CUSTOM, "Custom", IntegrationType.CUSTOM, None, None, None, probe_statuses=[]),
)


async def ensure_default_providers() -> None:
    """Seed the built-in providers that are missing (an edited one is left as it is)."""
    existing = {str(n) for n in await IntegrationProvider.all().values_list("name", flat=True)}
    for spec in BUILT_IN:
        if spec.name not in existing:
            await IntegrationProvider.create(**asdict(spec), built_in=True)


async def provider(name: str) -> IntegrationProvider:
    """The catalogue entry `name`, or BAD_USER_INPUT naming the known ones."""
    found = await IntegrationProvider.get_or_none(name=name.strip().lower())
    if found is None:
        known = sorted(
            str(n) for n in await IntegrationProvider.all().values_list("name", flat=True)
        )
        raise BadUserInput(f"provider: unknown provider {name!r}; known: {', '.join(known)}")
    return found


class ProviderCatalogue:
    """Reading the catalogue (any reader) and editing it (SUPER_ADMIN, audited)."""

    def __init__(self, audit: AuditService) -> None:
        self._audit = audit

    async def list(self, principal: Principal) -> list[IntegrationProvider]:
        """Every provider, by name."""
        principal.require_role(READ_ROLES, "read the provider catalogue")
        return await IntegrationProvider.all().order_by("name")

    async def update(
        self, principal: Principal, name: str, *, changes: dict[str, Any]
    ) -> IntegrationProvider:
        """Change a provider's base URL, auth style or default probe."""
        principal.require_role(SUPER_ADMIN_ONLY, "edit the provider catalogue")
        _check_probe(changes)
        async with in_transaction():
            row = await IntegrationProvider.get_or_none(name=name)
            if row is None:
                raise NotFound(f"provider {name!r} not found")
            row.update_from_dict(changes)
            await row.save()
            entry = await self._audit.record(
                principal,
                "integration_provider.update",
                target_type="integration_provider",
                target_id=name,
                tenant_id=None,
                changes=changes,
            )
        self._audit.announce(entry)
        return row


def _check_probe(changes: dict[str, Any]) -> None:
    if changes.get("base_url") is not None:
        changes["base_url"] = clean_url(changes["base_url"])
    check_probe_fields({k: v for k, v in changes.items() if v is not None}, label=camel_case)
