"""Keyset pagination over Tortoise querysets, with opaque cursors (Relay connections)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from tollway.errors import BadUserInput

M = TypeVar("M", bound=Model)
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    """One page of rows, each with its cursor."""

    items: list[M]
    cursors: list[str]
    total_count: int
    has_next_page: bool
    has_previous_page: bool


def _encode(value: Any, pk: Any) -> str:
    raw = value.isoformat() if isinstance(value, datetime) else value
    payload = json.dumps([raw, str(pk)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode(cursor: str, is_datetime: bool) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = datetime.fromisoformat(raw) if is_datetime else raw
        if not isinstance(pk, str):
            raise TypeError(pk)
        return value, pk
    except (ValueError, TypeError, json.JSONDecodeError):
        raise BadUserInput(f"invalid cursor {cursor!r}") from None


def check_page_size(first: int | None, maximum: int) -> int:
    """`first` validated against 1..maximum (default 20)."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}, got {size}")
    return size


async def paginate(
    query: QuerySet[M],
    *,
    first: int | None,
    after: str | None,
    sort_field: str,
    descending: bool,
    max_page_size: int,
) -> Page[M]:
    """Fetch one page of `query` ordered by (`sort_field`, pk) and positioned after `after`."""
    size = check_page_size(first, max_page_size)
    model = query.model
    pk_name = model._meta.pk_attr
    is_datetime = isinstance(model._meta.fields_map[sort_field], _datetime_field_type())
    total = await query.count()
    page_query = query
    if after:
        value, pk = _decode(after, is_datetime)
        pk_value: Any = UUID(pk) if _is_uuid_pk(model) else pk
        op = "lt" if descending else "gt"
        page_query = page_query.filter(
            Q(**{f"{sort_field}__{op}": value})
            | Q(**{sort_field: value, f"{pk_name}__{op}": pk_value})
        )
    prefix = "-" if descending else ""
    rows = await page_query.order_by(f"{prefix}{sort_field}", f"{prefix}{pk_name}").limit(size + 1)
    items = rows[:size]
    return Page(
        items=items,
        cursors=[_encode(getattr(row, sort_field), row.pk) for row in items],
        total_count=total,
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


def _datetime_field_type() -> type:
    from tortoise.fields import DatetimeField

    return DatetimeField


def _is_uuid_pk(model: type[Model]) -> bool:
    from tortoise.fields import UUIDField

    return isinstance(model._meta.pk, UUIDField)
