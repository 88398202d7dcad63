"""Rate limits and quotas over a storage interface (Redis + Lua, or in memory).

Imports neither models nor web code.
"""

from tollway.clock import wall_clock_ms
from tollway.ratelimit.decision import Decision
from tollway.ratelimit.limiter import Limiter
from tollway.ratelimit.memory import MemoryStorage
from tollway.ratelimit.types import Algorithm, Quota, QuotaPeriod, Window

__all__ = [
    "Algorithm",
    "Decision",
    "Limiter",
    "MemoryStorage",
    "Quota",
    "QuotaPeriod",
    "Window",
    "wall_clock_ms",
]
