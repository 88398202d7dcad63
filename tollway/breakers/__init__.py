"""Circuit breakers: stop calling a dependency that is down, and probe it back one call at a
time."""

from tollway.breakers.local import Breaker

__all__ = ["Breaker"]
