"""Route rules: which scopes a route requires, what it costs, extra windows, public routes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tollway.ratelimit import Window

_SEGMENT = re.compile(r"\{[^/{}]+\}")


@dataclass(frozen=True, slots=True)
class RouteRule:
    """One rule. `path` patterns: `/reports/{id}` or `*` match one segment, `**` the rest.

    A public rule needs no key: its `windows` then apply per client IP.
    """

    path: str
    methods: frozenset[str] = frozenset()
    scopes: tuple[str, ...] = ()
    cost: int = 1
    windows: tuple[Window, ...] = ()
    public: bool = False
    name: str = field(default="")

    def __post_init__(self) -> None:
        if self.cost < 1:
            raise ValueError(f"route {self.path}: cost must be at least 1")
        if not self.path.startswith("/"):
            raise ValueError(f"route {self.path}: path must start with /")
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))
        if not self.name:
            object.__setattr__(self, "name", self.path)


def _compile(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment == "**":
            parts.append("(?:/.*)?")
            continue
        if segment == "*" or _SEGMENT.fullmatch(segment):
            parts.append("/[^/]+")
        else:
            parts.append("/" + re.escape(segment))
    return re.compile("".join(parts) + "/?" if parts != ["/"] else "/")


class RouteTable:
    """First matching rule wins; matches are cached per (method, path)."""

    def __init__(self, rules: Iterable[RouteRule] = ()) -> None:
        self._rules: Sequence[tuple[RouteRule, re.Pattern[str]]] = [
            (rule, _compile(rule.path)) for rule in rules
        ]
        self._cache: dict[tuple[str, str], RouteRule | None] = {}

    def match(self, method: str, path: str) -> RouteRule | None:
        """The rule for one request, or None (key required, cost 1, no extra windows)."""
        if not self._rules:
            return None
        cache_key = (method, path)
        try:
            return self._cache[cache_key]
        except KeyError:
            pass
        found = None
        for rule, pattern in self._rules:
            if (not rule.methods or method in rule.methods) and pattern.fullmatch(path):
                found = rule
                break
        if len(self._cache) < 10_000:
            self._cache[cache_key] = found
        return found


def scope_grants(granted: frozenset[str], required: str) -> bool:
    """True when a granted scope (possibly with `*` wildcards) covers `required`."""
    if required in granted or "*" in granted:
        return True
    parts = required.split(":")
    for scope in granted:
        if "*" not in scope:
            continue
        pattern = scope.split(":")
        if pattern[-1] == "*" and len(pattern) <= len(parts):
            if all(p in ("*", r) for p, r in zip(pattern[:-1], parts, strict=False)):
                return True
        elif len(pattern) == len(parts) and all(
            p in ("*", r) for p, r in zip(pattern, parts, strict=True)
        ):
            return True
    return False
