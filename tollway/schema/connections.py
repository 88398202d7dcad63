"""Relay-style connection types shared by every list query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from tollway.pagination import Page

T = TypeVar("T")


@strawberry.type
class PageInfo:
    """Relay page info."""

    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    """One node and its cursor."""

    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    """A page of nodes with the total count of the filtered set."""

    total_count: int
    edges: list[Edge[T]]
    page_info: PageInfo


def to_connection(page: Page[Any], convert: Callable[[Any], T]) -> Connection[T]:
    """Turn a service `Page` of models into a GraphQL connection."""
    edges = [Edge(cursor=c, node=convert(m)) for m, c in zip(page.items, page.cursors, strict=True)]
    return Connection(
        total_count=page.total_count,
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
    )
