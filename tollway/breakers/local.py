"""A circuit breaker local to one process, for a dependency every instance reaches itself
(the database): closed while calls succeed; after a failure, open for a backoff that doubles
with each failed probe; then one call at a time probes the dependency, closing the breaker
again once one succeeds."""

from __future__ import annotations

import time
from collections.abc import Callable


class Breaker:
    """Whether to call a dependency now (see the module docstring)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        first_backoff: float = 0.25,
        *,
        max_backoff: float = 5.0,
    ) -> None:
        self._clock = clock
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._backoff = 0.0  # 0: closed
        self._retry_at = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        """True while the dependency is considered down."""
        return self._backoff > 0

    def allows(self) -> bool:
        """May a call be made now? While open, only one probe after the backoff (the caller
        must then report `succeeded` or `failed`)."""
        if not self._backoff:
            return True
        if self._probing or self._clock() < self._retry_at:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        """A call succeeded: the dependency is back."""
        self._backoff = 0.0
        self._probing = False

    def failed(self) -> None:
        """A call failed: open (again), waiting longer before the next probe."""
        if self._backoff:
            self._backoff = min(self._backoff * 2, self._max_backoff)
        else:
            self._backoff = self._first_backoff
        self._retry_at = self._clock() + self._backoff
        self._probing = False
