"""The storage interface both backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tollway.ratelimit.types import Check, Lease, StorageAnswer


class LimitStorage(Protocol):
    """Tests and consumes a set of checks atomically: all consumed, or none."""

    name: str

    async def apply(
        self,
        checks: Sequence[Check],
        cost: int,
        *,
        now_ms: int,
        reserve: int = 0,
        lease: Lease | None = None,
        final: bool = False,
    ) -> StorageAnswer:
        """Count `cost` on every check if every one allows it (none otherwise), and answer
        each check's state before the request.

        With a `lease` (a reservation's request), first add what the lease has handed out
        since it last reported to every count, then lease it `lease.keep` units plus up to
        `reserve` more, granted only to an admitted request, from checks with room to spare
        (`checks.RESERVE_SHARE`, `RESERVE_MIN_ROOM`), never from a GCRA check. Leased units
        count as used for every other request until the lease reports or gives them back;
        `final` ends the lease (units not handed out go back).
        """
        ...

    async def reset(self) -> None:
        """Forget every counter (tests and emergency resets)."""
        ...

    async def aclose(self) -> None:
        """Release connections the storage opened itself."""
        ...
