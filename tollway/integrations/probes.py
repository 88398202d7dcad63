"""How an integration's health is probed: method, path, expected statuses, timeout and
interval, from its `config` (`probe_*` keys, checked on save) or else its provider's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tollway.errors import BadUserInput
from tollway.models import Integration, IntegrationProvider

PROBE_PREFIX = "probe_"


class ProbeOverrides(BaseModel):
    """The `probe_*` keys an integration's config may set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probe_method: Literal["GET", "HEAD", "POST", "OPTIONS"] | None = None
    probe_path: str | None = Field(default=None, pattern=r"^/", max_length=2048)
    probe_statuses: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None, max_length=20
    )
    probe_timeout_seconds: float | None = Field(default=None, ge=0.1, le=60)
    probe_interval_seconds: int | None = Field(default=None, ge=10, le=86_400)


class Probe(NamedTuple):
    """One integration's probe, resolved."""

    method: str
    path: str | None
    """None: nothing to probe (a custom integration without `probe_path`)."""
    statuses: frozenset[int]
    timeout_seconds: float
    interval_seconds: int


def check_probe_fields(values: dict[str, Any], *, label: Callable[[str], str]) -> None:
    """BAD_USER_INPUT naming (through `label`) each bad `probe_*` key of `values`; other
    keys are not looked at."""
    given = {k: v for k, v in values.items() if k.startswith(PROBE_PREFIX)}
    try:
        ProbeOverrides.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{label(str(e['loc'][0]))}{''.join(f'[{p}]' for p in e['loc'][1:])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise BadUserInput(problems) from None


def check_probe_config(config: dict[str, Any]) -> None:
    """BAD_USER_INPUT naming each bad `probe_*` key of an integration's config."""
    check_probe_fields(config, label=lambda key: f"config.{key}")


def probe_of(integration: Integration, provider: IntegrationProvider) -> Probe:
    """The probe in force: the integration's overrides over its provider's defaults."""
    given = {k: v for k, v in integration.config.items() if k.startswith(PROBE_PREFIX)}
    try:
        own = ProbeOverrides.model_validate(given)
    except ValidationError:  # saved unchecked (by hand): the provider's defaults alone
        own = ProbeOverrides()
    return Probe(
        method=own.probe_method or provider.probe_method,
        path=own.probe_path or provider.probe_path,
        statuses=frozenset(own.probe_statuses or provider.probe_statuses or [200]),
        timeout_seconds=own.probe_timeout_seconds or provider.probe_timeout_seconds,
        interval_seconds=own.probe_interval_seconds or provider.probe_interval_seconds,
    )
