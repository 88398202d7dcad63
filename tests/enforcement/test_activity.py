"""Security events and key activity, written in slices off the request path: every denial
stored once, beyond one slice too."""

from __future__ import annotations

import uuid

from tests.conftest import LiveServer
from tollway.enforcement.activity import WRITE_SLICE, ActivityRecorder, Denial
from tollway.models import SecurityEvent
from tollway.privacy import AddressPolicy


async def test_every_denial_is_stored_and_published_once(server: LiveServer) -> None:
    published: list[Denial] = []
    recorder = ActivityRecorder(published.extend)
    marker = f"/{uuid.uuid4().hex}"
    count = 2 * WRITE_SLICE + 50  # three slices
    for n in range(count):
        recorder.denied(
            "API_KEY_INVALID", method="GET", path=f"{marker}/{n}", client_ip="198.51.100.9",
            user_agent="probe/1", key=None,
        )  # fmt: skip
    await recorder.flush()
    await recorder.flush()  # nothing left to write twice
    stored = await SecurityEvent.filter(path__startswith=marker).values_list("path", flat=True)
    assert sorted(stored) == sorted(f"{marker}/{n}" for n in range(count))
    assert len(published) == count


async def test_anonymised_addresses_reach_security_events_too(server: LiveServer) -> None:
    recorder = ActivityRecorder(addresses=AddressPolicy(default=True))
    marker = f"/{uuid.uuid4().hex}"
    for address in ("198.51.100.77", "2001:db8:1234:5678::9"):
        recorder.denied(
            "API_KEY_INVALID", method="GET", path=marker, client_ip=address, user_agent=None,
            key=None,
        )  # fmt: skip
    await recorder.flush()
    stored = await SecurityEvent.filter(path=marker).values_list("client_ip", flat=True)
    assert sorted(stored) == ["198.51.100.0", "2001:db8:1234::"]
