"""The TollwayError tree: every error a client may see carries a stable code (CONTRACT.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable codes placed in GraphQL `extensions.code`."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    INTERNAL = "INTERNAL"


class TollwayError(Exception):
    """Base of every error whose message is safe to show to a client."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthenticated(TollwayError):
    """No credential, or one that is unknown, expired or tampered with."""

    code = ErrorCode.UNAUTHENTICATED


class Forbidden(TollwayError):
    """The principal is known but may not do this."""

    code = ErrorCode.FORBIDDEN


class NotFound(TollwayError):
    """The object does not exist, or is not visible to the principal."""

    code = ErrorCode.NOT_FOUND


class BadUserInput(TollwayError):
    """The input is malformed or out of range."""

    code = ErrorCode.BAD_USER_INPUT


class Conflict(TollwayError):
    """The change collides with existing state (a duplicate name, a stale transition)."""

    code = ErrorCode.CONFLICT


class ServiceUnavailable(TollwayError):
    """A dependency (database, Redis) cannot be reached right now."""

    code = ErrorCode.INTERNAL


class ConfigurationError(Exception):
    """Bad configuration found at start-up; its message is one line naming the variable."""
