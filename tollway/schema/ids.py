"""Parsing GraphQL IDs into UUIDs with a clear error."""

from __future__ import annotations

from uuid import UUID

from tollway.errors import BadUserInput


def parse_id(value: str, what: str = "id") -> UUID:
    """A UUID from a GraphQL ID, or BAD_USER_INPUT naming the argument."""
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise BadUserInput(f"{what} is not a valid ID: {value!r}") from None


def parse_optional_id(value: str | None, what: str = "id") -> UUID | None:
    """Like `parse_id`, passing None through."""
    return None if value is None else parse_id(value, what)
