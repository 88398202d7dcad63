"""Free-text inputs (names, descriptions, reasons), trimmed and bounded."""

from __future__ import annotations

from tollway.errors import BadUserInput


def clean_text(value: str, field: str, *, maximum: int, required: bool = True) -> str:
    """Trimmed text of bounded length."""
    cleaned = value.strip()
    if required and not cleaned:
        raise BadUserInput(f"{field} must not be empty")
    if len(cleaned) > maximum:
        raise BadUserInput(f"{field} must be at most {maximum} characters")
    return cleaned


def camel_case(name: str) -> str:
    """`snake_case` as the GraphQL API spells it (`camelCase`), for error messages."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)
