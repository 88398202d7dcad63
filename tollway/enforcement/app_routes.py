"""The protected app's route template for a request the app never sees.

An admitted request's usage records the template the app's router matched (Starlette puts
the route in the scope). A refused request never reaches the app, so its template is matched
here, the way Starlette's router would, without calling the app: per-route usage, route
filters and route-scoped alert rules then see refusals per endpoint, apart from real 404s.
Any router whose routes have `matches(scope)` and `path` (Starlette, FastAPI) is understood;
for other apps refusals stay unmatched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tollway.asgi import Scope

logger = logging.getLogger(__name__)

MAX_DEPTH = 32  # wrapped middleware to look through for the router
MAX_CACHED = 10_000


class AppRoutes:
    """Route templates of the app below the middleware, by method and path."""

    def __init__(self, app: Any) -> None:
        self._routes = _find_routes(app)
        self._cache: dict[tuple[str, str], str | None] = {}

    def template(self, scope: Scope) -> str | None:
        """The template the app's router would match for `scope`; None for no route."""
        if not self._routes:
            return None
        key = (scope["method"], scope["path"])
        if key in self._cache:
            return self._cache[key]
        found = _match(self._routes, scope, 0)
        if len(self._cache) >= MAX_CACHED:  # many distinct paths: start afresh
            self._cache.clear()
        self._cache[key] = found
        return found


def _find_routes(app: Any) -> Sequence[Any]:
    """The routes of the first router found through `app` and what it wraps."""
    for _ in range(MAX_DEPTH):
        routes = getattr(app, "routes", None)
        if isinstance(routes, list | tuple):
            return routes
        router = getattr(app, "router", None)
        if router is not None and isinstance(getattr(router, "routes", None), list | tuple):
            return list(router.routes)
        app = getattr(app, "app", None)
        if app is None:
            break
    return ()


def _match(routes: Sequence[Any], scope: Scope, depth: int) -> str | None:
    """As Starlette's router: the first full match, else the first partial one (a route
    for another method); through mounts, the innermost route, as the app records it."""
    partial: tuple[Any, dict[str, Any]] | None = None
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception as exc:  # a route that cannot judge this scope matches nothing
            logger.debug("route %r cannot match %s: %s", route, scope.get("path"), exc)
            continue
        name = getattr(match, "name", "")
        if name == "FULL":
            return _template(route, {**scope, **child}, depth)
        if name == "PARTIAL" and partial is None:
            partial = (route, child)
    if partial is not None:
        return _template(partial[0], {**scope, **partial[1]}, depth)
    return None


def _template(route: Any, scope: Scope, depth: int) -> str | None:
    path = getattr(route, "path", None)
    own = path if isinstance(path, str) and path else None
    inner = getattr(route, "routes", None)
    if inner and depth < MAX_DEPTH:  # a mount: the router inside decides, if it matches
        return _match(inner, scope, depth + 1) or own
    return own
