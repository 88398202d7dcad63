"""Pure ASGI enforcement: never imports GraphQL code."""

from tollway.enforcement.middleware import EnforcementMiddleware
from tollway.enforcement.problems import DenialCode
from tollway.enforcement.routes import RouteRule

__all__ = ["DenialCode", "EnforcementMiddleware", "RouteRule"]
