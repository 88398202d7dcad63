"""Deliveries end to end: real HTTP to a loopback receiver that verifies every signature with
the `standardwebhooks` package, the retry schedule walked with a controllable clock,
Retry-After, 410, five days of failure, secret rotation, replay, recovery, rate limits and
the SSRF guard at send time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tests.webhooks.conftest import add_endpoint
from tests.webhooks.receiver import Received, Reply, receiving
from tollway.alerts.lifecycle import Condition
from tollway.app import build_services
from tollway.auth.principal import Role
from tollway.models import Alert, MessageStatus, Severity, WebhookEndpoint, WebhookMessage
from tollway.services import Services

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
MESSAGES = """query($f: WebhookMessageFilterInput) { webhookMessages(filter: $f, first: 100) {
  totalCount edges { node { id webhookId eventType status attempts nextAttemptAt lastStatusCode
  lastError payload } } } }"""
ATTEMPTS = """query($f: WebhookAttemptFilterInput) { webhookAttempts(filter: $f, first: 100) {
  totalCount edges { node { id statusCode succeeded trigger latencyMs responseHeaders
  responseBody error } } } }"""
SEND_TEST = "mutation($e: ID!) { sendTestWebhook(endpointId: $e) { message { id webhookId } } }"


def verified(request: Received, secret: str) -> dict[str, Any]:
    """The body, after the standardwebhooks verifier accepted the signature."""
    body: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return body


async def messages(gql: GraphQL, **flt: Any) -> list[dict[str, Any]]:
    data = await gql.data(MESSAGES, {"f": flt})
    return [e["node"] for e in data["webhookMessages"]["edges"]]


async def attempts(gql: GraphQL, **flt: Any) -> list[dict[str, Any]]:
    data = await gql.data(ATTEMPTS, {"f": flt})
    return [e["node"] for e in data["webhookAttempts"]["edges"]]


async def send_test(gql: GraphQL, endpoint_id: object) -> str:
    data = await gql.data(SEND_TEST, {"e": str(endpoint_id)})
    message_id: str = data["sendTestWebhook"]["message"]["id"]
    return message_id


async def message(message_id: str) -> WebhookMessage:
    return await WebhookMessage.get(id=message_id)


async def test_key_events_are_signed_filtered_and_logged(gql: GraphQL, hooks: Services) -> None:
    tenant = await gql.create_tenant("hooks")
    async with receiving() as receiver:
        receiver.default = Reply(200, {"x-receiver": "yes"}, "thanks " + "x" * 5000)
        endpoint, secret = await add_endpoint(
            hooks, tenant, receiver.url + "/keys", event_types=["api_key.*"],
            headers={"X-Team": "billing"},
        )  # fmt: skip
        _, alerts_secret = await add_endpoint(hooks, tenant, receiver.url + "/alerts",
                                              event_types=["alert.*"])  # fmt: skip
        assert secret.startswith("whsec_") and alerts_secret != secret
        _, key = await create_key(gql, tenant)
        await gql.data('mutation($id: ID!) { revokeApiKey(id: $id, reason: "leaked") { apiKey '
                       "{ id } } }", {"id": key["id"]})  # fmt: skip
        await hooks.webhooks.run_once()

        requests = receiver.at("/keys")
        assert receiver.at("/alerts") == []
        # Deliveries run concurrently: no order across messages (as with Svix).
        bodies = sorted((verified(r, secret) for r in requests), key=lambda b: str(b["type"]))
        assert [b["type"] for b in bodies] == ["api_key.created", "api_key.revoked"]
        assert bodies[1]["data"]["id"] == key["id"] and bodies[1]["data"]["reason"] == "leaked"
        assert bodies[1]["data"]["status"] == "REVOKED"
        assert "secret" not in json.dumps(bodies)
        assert datetime.fromisoformat(bodies[0]["timestamp"]) <= datetime.now(UTC)
        assert requests[0].headers["x-team"] == "billing"
        assert requests[0].headers["content-type"] == "application/json"
        with pytest.raises(WebhookVerificationError):
            verified(requests[0], alerts_secret)

    listed = await messages(gql, endpointId=str(endpoint.id))
    assert {m["status"] for m in listed} == {"DELIVERED"}
    assert {m["webhookId"] for m in listed} == {r.headers["webhook-id"] for r in requests}
    assert all(m["attempts"] == 1 and m["lastStatusCode"] == 200 for m in listed)
    logged = await attempts(gql, endpointId=str(endpoint.id))
    assert len(logged) == 2 and all(a["succeeded"] and a["trigger"] == "SCHEDULED" for a in logged)
    assert logged[0]["responseHeaders"]["x-receiver"] == "yes"
    assert len(logged[0]["responseBody"]) == 4096 and logged[0]["latencyMs"] > 0
    stats = await gql.data(
        "query($id: ID!) { webhookEndpoint(id: $id) { lastSuccessAt stats { attempts "
        "succeeded successRate pendingMessages } } }", {"id": str(endpoint.id)})  # fmt: skip
    assert stats["webhookEndpoint"]["stats"] == {
        "attempts": 2, "succeeded": 2, "successRate": 1.0, "pendingMessages": 0}  # fmt: skip


async def test_message_walks_the_whole_retry_schedule_then_recovers(
    gql: GraphQL, hooks: Services
) -> None:
    tenant = await gql.create_tenant("retries")
    async with receiving() as receiver:
        receiver.default = Reply(500, body="broken")
        endpoint, secret = await add_endpoint(hooks, tenant, receiver.url + "/r")
        message_id = await send_test(gql, endpoint.id)
        now = datetime.now(UTC)
        await hooks.webhooks.run_once(now)
        for number, delay in enumerate(SCHEDULE, start=2):
            row = await message(message_id)
            assert row.status is MessageStatus.PENDING
            assert row.next_attempt_at == now + timedelta(seconds=delay)
            await hooks.webhooks.run_once(now + timedelta(seconds=delay - 1))  # not yet due
            assert len(receiver.received) == number - 1
            now += timedelta(seconds=delay)
            await hooks.webhooks.run_once(now)
            assert len(receiver.received) == number
        row = await message(message_id)
        assert row.status is MessageStatus.FAILED and row.attempts == 8
        assert row.last_status_code == 500 and row.next_attempt_at is None
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert len(ids) == 1  # every retry is the same message
        for request in receiver.received:
            assert verified(request, secret)["type"] == "webhook.test"
        logged = await attempts(gql, messageId=message_id)
        assert len(logged) == 8 and not any(a["succeeded"] for a in logged)
        assert logged[0]["error"] == "HTTP 500" and logged[0]["responseBody"] == "broken"

        receiver.default = Reply(204, body="")
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        recovered = await gql.data(
            "mutation($e: ID!, $s: DateTime!) { recoverWebhookMessages(endpointId: $e, "
            "since: $s) { count } }", {"e": str(endpoint.id), "s": since})  # fmt: skip
        assert recovered["recoverWebhookMessages"]["count"] == 1
        await hooks.webhooks.run_once()
        row = await message(message_id)
        assert row.status is MessageStatus.DELIVERED and row.attempts == 9
        logged = await attempts(gql, messageId=message_id)
        assert [(a["trigger"], a["succeeded"]) for a in logged if a["trigger"] == "RECOVER"] == [
            ("RECOVER", True)
        ]


@pytest.mark.parametrize(
    ("status", "header", "wait"),
    [(429, "120", 120), (503, "Thu, 01 Jan 2099 00:00:00 GMT", None), (500, "120", 5)],
)
async def test_retry_after_is_honoured_on_429_and_503(
    gql: GraphQL, hooks: Services, status: int, header: str, wait: int | None
) -> None:
    tenant = await gql.create_tenant("retry-after")
    async with receiving() as receiver:
        receiver.script = [Reply(status, {"Retry-After": header})]
        endpoint, _ = await add_endpoint(hooks, tenant, receiver.url + "/ra")
        message_id = await send_test(gql, endpoint.id)
        now = datetime.now(UTC)
        await hooks.webhooks.run_once(now)
        row = await message(message_id)
        assert row.next_attempt_at is not None
        if wait is None:  # an HTTP date far away: capped at 24 hours
            assert row.next_attempt_at == now + timedelta(hours=24)
        else:
            assert row.next_attempt_at == now + timedelta(seconds=wait)
        await hooks.webhooks.run_once(row.next_attempt_at)
        assert (await message(message_id)).status is MessageStatus.DELIVERED


async def test_410_disables_the_endpoint_with_an_event_and_an_alert(
    gql: GraphQL, hooks: Services
) -> None:
    tenant = await gql.create_tenant("gone")
    async with receiving() as receiver:
        receiver.by_path["/gone"] = Reply(410)
        gone, _ = await add_endpoint(hooks, tenant, receiver.url + "/gone")
        watcher, secret = await add_endpoint(hooks, tenant, receiver.url + "/watch",
                                             event_types=["endpoint.disabled"])  # fmt: skip
        first = await send_test(gql, gone.id)
        second = await send_test(gql, gone.id)
        await hooks.webhooks.run_once()
        endpoint = await WebhookEndpoint.get(id=gone.id)
        assert not endpoint.enabled and "410" in str(endpoint.disabled_reason)
        rows = [await message(first), await message(second)]
        assert {r.status for r in rows} == {MessageStatus.FAILED}
        await hooks.webhooks.run_once()
        (notice,) = receiver.at("/watch")
        body = verified(notice, secret)
        assert body["type"] == "endpoint.disabled"
        assert body["data"]["endpointId"] == str(gone.id) and "410" in body["data"]["reason"]
        alert = await Alert.get(subject=f"webhook_endpoint:{gone.id}")
        assert alert.kind == "WEBHOOK_ENDPOINT_DISABLED" and str(alert.tenant_id) == tenant
        assert await gql.error_code(SEND_TEST, {"e": str(gone.id)}) == "CONFLICT"
        assert len(receiver.at("/gone")) == 2  # both were in flight together

        enable = """mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true})
          { enabled disabledReason } }"""
        back = await gql.data(enable, {"id": str(gone.id)})
        assert back["updateWebhookEndpoint"] == {"enabled": True, "disabledReason": None}
        assert watcher.enabled


async def test_endpoint_failing_for_five_days_is_disabled(gql: GraphQL, hooks: Services) -> None:
    tenant = await gql.create_tenant("five-days")
    async with receiving() as receiver:
        receiver.default = Reply(500)
        endpoint, _ = await add_endpoint(hooks, tenant, receiver.url + "/f")
        await send_test(gql, endpoint.id)
        start = datetime.now(UTC)
        await hooks.webhooks.run_once(start)
        assert (await WebhookEndpoint.get(id=endpoint.id)).failing_since == start

        await send_test(gql, endpoint.id)
        await hooks.webhooks.run_once(start + timedelta(days=4))  # failing, not yet 5 days
        assert (await WebhookEndpoint.get(id=endpoint.id)).enabled

        await send_test(gql, endpoint.id)
        await hooks.webhooks.run_once(start + timedelta(days=5, minutes=1))
        row = await WebhookEndpoint.get(id=endpoint.id)
        assert not row.enabled and "5 days" in str(row.disabled_reason)
        assert await Alert.exists(subject=f"webhook_endpoint:{endpoint.id}")


async def test_a_success_resets_the_failure_clock(gql: GraphQL, hooks: Services) -> None:
    tenant = await gql.create_tenant("flaky")
    async with receiving() as receiver:
        receiver.script = [Reply(500), Reply(200)]
        receiver.default = Reply(500)
        endpoint, _ = await add_endpoint(hooks, tenant, receiver.url + "/f")
        await send_test(gql, endpoint.id)
        start = datetime.now(UTC)
        await hooks.webhooks.run_once(start)
        await send_test(gql, endpoint.id)
        await hooks.webhooks.run_once(
            start + timedelta(days=3)
        )  # the retry fails, the new one succeeds
        row = await WebhookEndpoint.get(id=endpoint.id)
        assert row.failing_since is None and row.last_success_at is not None
        await send_test(gql, endpoint.id)
        await hooks.webhooks.run_once(start + timedelta(days=6))
        row = await WebhookEndpoint.get(id=endpoint.id)
        assert row.enabled and row.failing_since == start + timedelta(days=6)


async def test_secret_rotation_signs_with_both_secrets_during_the_overlap(
    gql: GraphQL, hooks: Services
) -> None:
    tenant = await gql.create_tenant("rotation")
    async with receiving() as receiver:
        endpoint, old = await add_endpoint(hooks, tenant, receiver.url + "/rot")
        rotate = """mutation($id: ID!, $o: Int!) { rotateWebhookSecret(id: $id,
          overlapSeconds: $o) { secret endpoint { previousSecretExpiresAt } } }"""
        data = (await gql.data(rotate, {"id": str(endpoint.id), "o": 3600}))["rotateWebhookSecret"]
        new = data["secret"]
        assert new.startswith("whsec_") and new != old
        assert data["endpoint"]["previousSecretExpiresAt"] is not None
        await send_test(gql, endpoint.id)
        await hooks.webhooks.run_once()
        (during,) = receiver.received
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verified(during, old) == verified(during, new)

        await send_test(gql, endpoint.id)
        await hooks.webhooks.run_once(datetime.now(UTC) + timedelta(hours=2))
        after = receiver.received[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        verified(after, new)
        with pytest.raises(WebhookVerificationError):
            verified(after, old)


async def test_replay_sends_the_same_message_again(gql: GraphQL, hooks: Services) -> None:
    tenant = await gql.create_tenant("replay")
    async with receiving() as receiver:
        endpoint, secret = await add_endpoint(hooks, tenant, receiver.url + "/rp")
        message_id = await send_test(gql, endpoint.id)
        await hooks.webhooks.run_once()
        replay = """mutation($id: ID!) { replayWebhookMessage(id: $id) { message { id status
          attempts } } }"""
        queued = (await gql.data(replay, {"id": message_id}))["replayWebhookMessage"]["message"]
        assert queued["status"] == "PENDING" and queued["attempts"] == 1
        await hooks.webhooks.run_once()
        first, again = receiver.received
        assert first.headers["webhook-id"] == again.headers["webhook-id"]
        assert verified(first, secret) == verified(again, secret)
        triggers = [a["trigger"] for a in await attempts(gql, messageId=message_id)]
        assert triggers == ["REPLAY", "SCHEDULED"]

        viewer = gql.token(Role.ADMIN, await gql.create_tenant("elsewhere"))
        assert await gql.error_code(replay, {"id": message_id}, token=viewer) == "FORBIDDEN"
        assert await gql.error_code(replay, {"id": "nope"}) == "BAD_USER_INPUT"


async def test_per_endpoint_rate_limit_defers_without_losing(gql: GraphQL, hooks: Services) -> None:
    tenant = await gql.create_tenant("paced")
    async with receiving() as receiver:
        endpoint, _ = await add_endpoint(hooks, tenant, receiver.url + "/p",
                                         rate_limit_per_second=2)  # fmt: skip
        ids = [await send_test(gql, endpoint.id) for _ in range(5)]
        now = datetime.now(UTC)
        results = await hooks.webhooks.run_once(now)
        assert len(receiver.received) == 2
        assert sum(r.outcome is None for r in results) == 3
        rows = [await message(i) for i in ids]
        assert sorted(r.status.value for r in rows).count("PENDING") == 3
        assert all(r.attempts == 0 for r in rows if r.status is MessageStatus.PENDING)
        for _ in range(40):
            if len(receiver.received) == 5:
                break
            await hooks.webhooks.run_once(datetime.now(UTC) + timedelta(seconds=1))
            await asyncio.sleep(0.3)
        assert len(receiver.received) == 5


async def test_guard_refuses_loopback_at_send_time(
    gql: GraphQL, hooks: Services, server: Any
) -> None:
    tenant = await gql.create_tenant("guarded")
    guarded = build_services(server.settings)  # TOLLWAY_WEBHOOK_ALLOW_PRIVATE_NETWORKS off
    try:
        async with receiving() as receiver:
            port = receiver.url.rsplit(":", 1)[1]
            literal, _ = await add_endpoint(hooks, tenant, receiver.url + "/ssrf")
            # A name is checked by the resolver the connection itself uses (no rebinding).
            named, _ = await add_endpoint(hooks, tenant, f"http://localhost:{port}/ssrf")
            ids = [await send_test(gql, literal.id), await send_test(gql, named.id)]
            await guarded.webhooks.run_once()
            assert receiver.received == []
            for message_id in ids:
                (attempt,) = await attempts(gql, messageId=message_id)
                assert attempt["statusCode"] is None and "resolves to" in attempt["error"]
                assert "loopback" in attempt["error"]
                assert (await message(message_id)).status is MessageStatus.PENDING
    finally:
        await guarded.webhooks.aclose()


async def test_alert_and_quota_events_are_delivered(gql: GraphQL, hooks: Services) -> None:
    tenant = await gql.create_tenant("alerting")
    async with receiving() as receiver:
        endpoint, secret = await add_endpoint(
            hooks, tenant, receiver.url + "/a",
            event_types=["alert.*", "quota.*", "security.detected"],
        )  # fmt: skip
        _, key = await create_key(gql, tenant)
        now = datetime.now(UTC)
        quota = Condition(
            source="quota", kind="QUOTA_THRESHOLD", subject=f"key:{key['id']}",
            severity=Severity.CRITICAL, message="quota used up", tenant_id=UUID(tenant),
            key_id=UUID(key["id"]), value=100.0, threshold=100.0,
        )  # fmt: skip
        security = Condition(
            source="security.revoked_key_use", kind="REVOKED_KEY_USED",
            subject=f"key:{key['id']}", severity=Severity.CRITICAL, message="revoked key used",
            tenant_id=UUID(tenant), key_id=UUID(key["id"]),
        )  # fmt: skip
        await hooks.alerts.apply([quota, security], {"quota", "security.revoked_key_use"}, now=now)
        opened = await Alert.get(source="quota", subject=f"key:{key['id']}")
        ack = 'mutation($id: ID!) { acknowledgeAlert(id: $id, note: "on it") { status } }'
        await gql.data(ack, {"id": str(opened.id)})
        await hooks.webhooks.run_once()
        bodies = [verified(r, secret) for r in receiver.received]
        # 80% and 100% crossed at once: both quota events.
        assert sorted(b["type"] for b in bodies) == [
            "alert.acknowledged", "alert.opened", "alert.opened", "quota.exceeded",
            "quota.warning", "security.detected",
        ]  # fmt: skip
        (exceeded,) = [b for b in bodies if b["type"] == "quota.exceeded"]
        assert exceeded["data"]["keyId"] == key["id"] and exceeded["data"]["value"] == 100.0
        (acked,) = [b for b in bodies if b["type"] == "alert.acknowledged"]
        assert (
            acked["data"]["alertId"] == str(opened.id) and acked["data"]["status"] == "ACKNOWLEDGED"
        )
        assert await messages(gql, endpointId=str(endpoint.id), status="PENDING") == []
