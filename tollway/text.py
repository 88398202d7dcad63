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
