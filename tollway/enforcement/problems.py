"""RFC 9457 problem responses for denied requests."""

from __future__ import annotations

import functools
import json
from enum import StrEnum


class DenialCode(StrEnum):
    """`error_code` of a denied request (CONTRACT.md)."""

    API_KEY_MISSING = "API_KEY_MISSING"
    API_KEY_INVALID = "API_KEY_INVALID"
    API_KEY_REVOKED = "API_KEY_REVOKED"
    API_KEY_EXPIRED = "API_KEY_EXPIRED"
    IP_NOT_ALLOWED = "IP_NOT_ALLOWED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    API_VERSION_SUNSET = "API_VERSION_SUNSET"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTEGRATION_NOT_FOUND = "INTEGRATION_NOT_FOUND"
    INTEGRATION_UNAVAILABLE = "INTEGRATION_UNAVAILABLE"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    INTEGRATION_AUTH_FAILED = "INTEGRATION_AUTH_FAILED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"


STATUS: dict[DenialCode, tuple[int, str]] = {
    DenialCode.API_KEY_MISSING: (401, "API key missing"),
    DenialCode.API_KEY_INVALID: (401, "API key invalid"),
    DenialCode.API_KEY_REVOKED: (401, "API key revoked"),
    DenialCode.API_KEY_EXPIRED: (401, "API key expired"),
    DenialCode.IP_NOT_ALLOWED: (403, "IP address not allowed"),
    DenialCode.ORIGIN_NOT_ALLOWED: (403, "Origin not allowed"),
    DenialCode.PERMISSION_DENIED: (403, "Permission denied"),
    DenialCode.RATE_LIMIT_EXCEEDED: (429, "Rate limit exceeded"),
    DenialCode.QUOTA_EXCEEDED: (429, "Quota exceeded"),
    DenialCode.API_VERSION_SUNSET: (410, "API version sunset"),
    DenialCode.SERVICE_UNAVAILABLE: (503, "Service unavailable"),
    DenialCode.INTEGRATION_NOT_FOUND: (404, "Integration not found"),
    DenialCode.INTEGRATION_UNAVAILABLE: (409, "Integration unavailable"),
    DenialCode.CIRCUIT_OPEN: (503, "Circuit breaker open"),
    DenialCode.INTEGRATION_AUTH_FAILED: (503, "Integration cannot authenticate"),
    DenialCode.UPSTREAM_UNAVAILABLE: (502, "Upstream unavailable"),
    DenialCode.UPSTREAM_TIMEOUT: (504, "Upstream timeout"),
}


@functools.lru_cache(maxsize=4096)
def problem_body(code: DenialCode, detail: str) -> tuple[int, bytes]:
    """Status and the `application/problem+json` body (the same few denials repeat: a flood of
    refusals is answered from the cache)."""
    status, title = STATUS[code]
    body = {
        "type": f"urn:tollway:problem:{code.value.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "error_code": code.value,
    }
    return status, json.dumps(body, separators=(",", ":")).encode()
