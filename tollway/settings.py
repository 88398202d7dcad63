"""Typed settings read from `TOLLWAY_*` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tollway.errors import ConfigurationError

DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg"}
REDIS_SCHEMES = {"redis", "rediss", "unix"}


class Settings(BaseSettings):
    """Everything Tollway reads from its environment. Bad values stop start-up."""

    model_config = SettingsConfigDict(env_prefix="TOLLWAY_", extra="ignore", frozen=True)

    database_url: str = "sqlite://./tollway.db"
    redis_url: str | None = None
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    encryption_keys: SecretStr | None = None
    """Further key-encryption key versions, `"2:<secret>,3:<secret>"` (version 1 comes from
    the secret key); the highest wraps new data keys (docs/keyring.md)."""
    encryption_key_version: int | None = Field(default=None, ge=1)
    """The version that wraps new data keys, when not the highest."""
    webhook_allow_private_networks: bool = False

    state_dir: Path = Path(".tollway")
    """Where development state (the generated secret key) lives when nothing is configured."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    """Where users' browsers reach this Tollway (`https://tollway.example.com`): the base of
    the OAuth2 callback providers redirect to. Unset: `http://<host>:<port>`."""
    allowed_origins: tuple[str, ...] = ()
    """Origins allowed to open cross-origin websocket connections to `/graphql`."""

    jwt_issuer: str = "tollway"
    jwt_audience: str = "tollway-admin"

    graphql_max_depth: int = Field(default=12, ge=2, le=64)
    graphql_max_aliases: int = Field(default=30, ge=1, le=1000)
    graphql_max_tokens: int = Field(default=2000, ge=100, le=100_000)
    graphql_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=10_000, le=1024**3)
    graphql_introspection: Literal["authenticated", "public", "off"] = "authenticated"
    """Who may introspect the schema and open GraphiQL: principals with a valid token,
    anyone, or nobody. Field suggestions in errors follow the same rule."""
    graphql_max_introspection_depth: int = Field(default=16, ge=4, le=64)
    """The standard introspection query nests 15 levels; deeper introspection is refused."""
    graphql_max_subscriptions_per_connection: int = Field(default=100, ge=1, le=10_000)
    """Operations one websocket may have in flight; past it a subscribe gets a coded error."""
    graphql_max_input_depth: int = Field(default=64, ge=4, le=500)
    """How deep a request body, its variables or a value in the query may nest."""
    """Larger HTTP bodies are refused before parsing (1,000 usage events take about 300 KB)."""
    graphql_page_size_max: int = Field(default=100, ge=1, le=1000)

    ratelimit_failure_mode: Literal["open", "closed"] = "open"
    """When Redis is unreachable: `open` limits per instance in memory, `closed` answers 503."""
    ratelimit_reserve_units: int = Field(default=128, ge=0, le=100_000)
    """Units an instance may lease ahead from Redis for a busy key and hand out locally
    (never more than 1/32 of what a window has left, none near a limit; units not handed out
    go back); 0 counts every request in Redis."""
    trusted_proxies: tuple[str, ...] = ()
    """CIDRs of proxies whose X-Forwarded-For is believed when finding the client address."""
    key_cache_seconds: float = Field(default=60.0, gt=0, le=3600)
    admin_auth_failures_per_minute: int = Field(default=10, ge=0, le=1_000_000)
    """Failed admin logins one client address may make per minute before its credentialed
    requests are refused (429) until the minute ends; 0: no limit."""
    admin_token_max_days: float = Field(default=30.0, gt=0, le=3660)
    """The longest an admin JWT may live; longer ones are neither issued nor accepted."""
    key_cache_keep_seconds: float = Field(default=900.0, ge=0, le=86400)
    """A cached key unused this long past its cache time is dropped (never while the
    database is unreachable: stale records serve their keys then)."""
    invalid_key_budget: int = Field(default=20, ge=0, le=1_000_000)
    """Unknown secrets one client address may present per minute before its requests with
    uncached secrets are refused at once (429); 0: no budget."""

    usage_raw_retention_days: int = Field(default=30, ge=1, le=3650)
    """Raw usage events (the request log) are deleted after this many days."""
    usage_minute_retention_days: int = Field(default=2, ge=1, le=3650)
    usage_hour_retention_days: int = Field(default=90, ge=1, le=36500)
    usage_day_retention_days: int | None = Field(default=None, ge=1)
    """Day rollups are kept forever unless this is set."""
    usage_anonymize_ips: bool = False
    """Store client addresses truncated to their /24 (IPv4) or /48 (IPv6) network, in usage
    and security events alike (a tenant may choose otherwise through its data policy)."""
    security_event_retention_days: int = Field(default=90, ge=1, le=3650)
    """Security events (denied requests, failed admin logins) are deleted after this many days."""
    usage_writer: Literal["auto", "inline", "process"] = "auto"
    """Who writes usage events: the serving event loop itself (`inline`), or a child process
    of each serving process (`process`: the rows and database writes leave the event loop,
    which raises throughput where a core is free for the child). `auto`: `process` on
    PostgreSQL, `inline` on the embedded SQLite (one writer per database file)."""
    rollup_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    budget_interval_seconds: float = Field(default=30.0, gt=0, le=86400)
    alert_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    retention_interval_seconds: float = Field(default=3600.0, gt=0, le=86400)
    integration_auth_failed_after_seconds: float = Field(default=900.0, gt=0, le=7 * 86400)
    """How long renewing an integration's OAuth2 tokens may fail (backed off from 5 s to 10
    minutes) before the integration is AUTH_FAILED, with its alert and event."""
    integration_probe_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    """How often the worker looks for integrations whose health probe is due (each is
    probed at its own interval, 60 s unless its provider or config says otherwise)."""
    integration_probes: bool = True
    """Probe integrations in this process's worker (false: leave it to other workers)."""

    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    webhook_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    """Seconds before each retry of a failed delivery (JSON list); the first try is at once."""
    webhook_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    """How long a claimed delivery is reserved; must exceed the timeout."""
    webhook_disable_after_days: float = Field(default=5.0, gt=0, le=365)
    """An endpoint whose every delivery failed for this long is disabled."""
    webhook_poll_seconds: float = Field(default=0.2, gt=0, le=3600)
    """The first wait after an empty claim; it doubles up to a minute while the outbox is
    empty (new messages are announced, so they do not wait for it)."""
    webhook_dispatch: bool = True
    """Run the dispatcher in this process's worker (false: leave delivery to other workers)."""
    webhook_max_in_flight: int = Field(default=256, ge=1, le=10_000)

    dependency_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    worker_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3600)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme or '(none)'!r}; use postgres://user:pass@host:port/db "
                "or sqlite://path"
            )
        if scheme != "sqlite" and not urlsplit(value).hostname:
            raise ValueError("no host in the URL; use postgres://user:pass@host:port/db")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in REDIS_SCHEMES:
            raise ValueError(
                f"unsupported scheme {parts.scheme or '(none)'!r}; use redis://host:port/db"
            )
        if parts.scheme != "unix":
            try:
                _ = parts.port
            except ValueError as exc:
                raise ValueError(f"bad port: {exc}") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("use http(s)://host[:port][/path], without a query")
        return value.rstrip("/")

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) > 50 or any(not 0 <= delay <= 7 * 86400 for delay in value):
            raise ValueError("at most 50 delays, each between 0 and 604800 seconds")
        return value

    @model_validator(mode="after")
    def _check_lease(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "TOLLWAY_WEBHOOK_LEASE_SECONDS must exceed TOLLWAY_WEBHOOK_TIMEOUT_SECONDS, or a "
                "slow delivery would be sent twice"
            )
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP address or CIDR block") from None
        return value

    @property
    def is_postgres(self) -> bool:
        """True when the database is PostgreSQL rather than the embedded SQLite."""
        return urlsplit(self.database_url).scheme != "sqlite"

    @property
    def usage_in_process(self) -> bool:
        """True when a child process writes usage events (see `usage_writer`)."""
        if self.usage_writer == "auto":
            return self.is_postgres
        return self.usage_writer == "process"

    @property
    def base_url(self) -> str:
        """Where browsers reach this Tollway (`public_url`, else the bind address)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def broadcast_url(self) -> str:
        """Live events travel over Redis when it is configured, in memory otherwise."""
        return self.redis_url or "memory://"

    def signing_key(self) -> str:
        """The key that signs admin JWTs: configured, or generated once into `state_dir`."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.state_dir / "secret-key"
        try:
            if path.exists():
                return path.read_text(encoding="utf-8").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(key + "\n")
            return key
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"TOLLWAY_SECRET_KEY: not set, and {path} cannot be used to keep a generated "
                f"one ({exc.strerror})"
            ) from exc


def describe_address(url: str) -> str:
    """`host:port` of a database or Redis URL, for error messages (never the password)."""
    parts = urlsplit(url)
    if parts.scheme in {"sqlite", "unix"}:
        return parts.netloc + parts.path
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.hostname or '?'}:{port or '(default port)'}"


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation failure into one clear ConfigurationError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across several settings names them itself
            raise ConfigurationError(message) from None
        raise ConfigurationError(f"TOLLWAY_{str(first['loc'][0]).upper()}: {message}") from None
