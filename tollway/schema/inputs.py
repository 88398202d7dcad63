"""What a request must be before GraphQL reads it: a JSON object (or a batch of them) in
UTF-8, nested at most `max_depth` levels, and every string in it, as in the query's own
literals, free of NUL characters and lone UTF-16 surrogates (which no database column
takes)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, StringValueNode, visit
from graphql.language import Visitor

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InvalidInput(Exception):
    """The request cannot be read; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_body(data: str | bytes, max_depth: int) -> Any:
    """The JSON body, checked; raises InvalidInput."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"the body is not UTF-8 (byte {exc.start} is invalid)") from None
    try:
        value = json.loads(data)
    except RecursionError:
        raise InvalidInput(f"the body is nested more than {max_depth} levels deep") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON ({exc.msg}, at character {exc.pos})") from None
    if not isinstance(value, dict | list):
        raise InvalidInput(
            'the body must be a JSON object such as {"query": "{ health { status } }"}'
        )
    check_value(value, max_depth)
    return value


def check_value(value: Any, max_depth: int, *, where: str = "the body") -> None:
    """Raise InvalidInput for nesting past `max_depth` or a string no column can store."""
    for depth, item in _walk(value):
        if depth > max_depth:
            raise InvalidInput(f"{where} is nested more than {max_depth} levels deep")
        if isinstance(item, str) and UNSTORABLE.search(item):
            raise InvalidInput(f"{where} holds a NUL character or a lone surrogate in a string")


def _walk(value: Any) -> Iterator[tuple[int, Any]]:
    """Every value and dictionary key with its depth, without recursion."""
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack:
        depth, item = stack.pop()
        yield depth, item
        if isinstance(item, dict):
            for key, child in item.items():
                yield depth + 1, key
                stack.append((depth + 1, child))
        elif isinstance(item, list):
            stack.extend((depth + 1, child) for child in item)


class _Literals(Visitor):
    """Finds unstorable strings and the deepest nesting of list and object values."""

    def __init__(self) -> None:
        super().__init__()
        self.unstorable = False
        self.depth = 0
        self.deepest = 0

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if UNSTORABLE.search(node.value):
            self.unstorable = True

    def enter_object_value(self, *_: object) -> None:
        self._enter()

    def leave_object_value(self, *_: object) -> None:
        self.depth -= 1

    def enter_list_value(self, *_: object) -> None:
        self._enter()

    def leave_list_value(self, *_: object) -> None:
        self.depth -= 1

    def _enter(self) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)


def check_document(document: DocumentNode, max_depth: int) -> None:
    """Raise InvalidInput when a literal of the query holds a string no column stores, or
    values nested more than `max_depth` deep."""
    literals = _Literals()
    visit(document, literals)
    if literals.unstorable:
        raise InvalidInput("a string in the query holds a NUL character or a lone surrogate")
    if literals.deepest > max_depth:
        raise InvalidInput(f"a value in the query is nested more than {max_depth} levels deep")
