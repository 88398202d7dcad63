"""The local circuit breaker, driven by an injected clock."""

from __future__ import annotations

from tollway.breakers import Breaker


class Seconds:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_open_after_a_failure_then_one_probe_at_a_time_with_growing_backoff() -> None:
    clock = Seconds()
    breaker = Breaker(clock, first_backoff=1.0, max_backoff=3.0)
    assert breaker.allows() and breaker.allows()  # closed: every call
    breaker.failed()
    assert breaker.is_open and not breaker.allows()
    clock.now = 1.0
    assert breaker.allows()  # the probe
    assert not breaker.allows()  # only one at a time
    breaker.failed()  # backoff doubles: 2 s
    clock.now = 2.9
    assert not breaker.allows()
    clock.now = 3.0
    assert breaker.allows()
    breaker.failed()  # capped at 3 s
    clock.now = 5.9
    assert not breaker.allows()
    clock.now = 6.0
    assert breaker.allows()
    breaker.succeeded()
    assert not breaker.is_open and breaker.allows() and breaker.allows()
    breaker.failed()  # back to the first backoff
    clock.now = 7.0
    assert breaker.allows()
