"""Credential shapes per type, checked before anything is stored: a coded error names the
field that is missing, of the wrong type or unexpected."""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tollway.errors import BadUserInput
from tollway.models import CredentialType

HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"
Secret = Field(min_length=1, max_length=8192)
ClientAuthStyle = Literal["basic", "post"]
"""How an OAuth2 client authenticates to the token endpoint: HTTP basic (the default of
RFC 6749) or `client_id`/`client_secret` in the form body."""


class CredentialShape(BaseModel):
    """The values of one credential type, checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @abstractmethod
    def secret(self) -> str:
        """The value whose last 4 characters the API may show."""


class ApiKeyCredentials(CredentialShape):
    """A key sent in a header (default `Authorization`, with an optional prefix) or a query
    parameter."""

    key: str = Secret
    header: str | None = Field(default=None, pattern=HEADER_NAME)
    query: str | None = Field(default=None, min_length=1, max_length=100)
    prefix: str = Field(default="", max_length=40)

    @model_validator(mode="after")
    def _one_place(self) -> ApiKeyCredentials:
        if self.header and self.query:
            raise ValueError("give header or query, not both")
        return self

    def secret(self) -> str:
        return self.key


class BasicCredentials(CredentialShape):
    """HTTP basic authentication."""

    username: str = Field(min_length=1, max_length=512)
    password: str = Secret

    def secret(self) -> str:
        return self.password


class BearerCredentials(CredentialShape):
    """A static bearer token."""

    token: str = Secret

    def secret(self) -> str:
        return self.token


class HmacCredentials(CredentialShape):
    """A shared secret signing each request's body into `header`."""

    secret_key: str = Field(min_length=16, max_length=8192, alias="secret")
    header: str = Field(default="X-Signature", pattern=HEADER_NAME)
    algorithm: Literal["SHA256", "SHA512"] = "SHA256"

    def secret(self) -> str:
        return self.secret_key


class OAuth2ClientCredentials(CredentialShape):
    """The OAuth2 client-credentials grant: tokens fetched from `token_url` and renewed."""

    client_id: str = Field(min_length=1, max_length=512)
    client_secret: str = Secret
    token_url: str = Field(min_length=1, max_length=2048)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    audience: str | None = Field(default=None, max_length=512)
    client_auth: ClientAuthStyle = "basic"

    def secret(self) -> str:
        return self.client_secret


class OAuth2AuthorizationCode(CredentialShape):
    """The OAuth2 authorization-code grant with PKCE; tokens arrive through the callback."""

    client_id: str = Field(min_length=1, max_length=512)
    client_secret: str | None = Field(default=None, max_length=8192)
    authorize_url: str = Field(min_length=1, max_length=2048)
    token_url: str = Field(min_length=1, max_length=2048)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    client_auth: ClientAuthStyle = "basic"

    def secret(self) -> str:
        return self.client_secret or self.client_id


SHAPES: dict[CredentialType, type[CredentialShape]] = {
    CredentialType.API_KEY: ApiKeyCredentials,
    CredentialType.BASIC: BasicCredentials,
    CredentialType.BEARER: BearerCredentials,
    CredentialType.HMAC: HmacCredentials,
    CredentialType.OAUTH2_CLIENT_CREDENTIALS: OAuth2ClientCredentials,
    CredentialType.OAUTH2_AUTHORIZATION_CODE: OAuth2AuthorizationCode,
}
MAX_JSON_BYTES = 16_384


def check_credentials(kind: CredentialType, values: Any) -> CredentialShape:
    """`values` as the shape of `kind`, or BAD_USER_INPUT naming each problem."""
    if not isinstance(values, dict):
        raise BadUserInput("credentials.values must be a JSON object")
    if len(json.dumps(values)) > MAX_JSON_BYTES:
        raise BadUserInput(f"credentials.values must be at most {MAX_JSON_BYTES} bytes of JSON")
    try:
        return SHAPES[kind].model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"credentials.values.{'.'.join(str(p) for p in e['loc']) or kind.value}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise BadUserInput(f"{kind.value} credentials: {problems}") from None


HINT_MIN_LENGTH = 12


def hint(shape: CredentialShape) -> str | None:
    """The last 4 characters of the credential's secret; none for a secret too short to
    show a part of."""
    secret = shape.secret()
    return secret[-4:] if len(secret) >= HINT_MIN_LENGTH else None


def to_json(shape: CredentialShape) -> str:
    """The credential values as JSON, ready to seal."""
    return shape.model_dump_json(by_alias=True)
