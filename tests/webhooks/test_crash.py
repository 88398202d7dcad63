"""At least once: a `tollway worker` killed while a delivery is in flight loses nothing; the
next worker delivers the message again, with the same `webhook-id`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.conftest import SECRET_KEY, GraphQL, LiveServer
from tests.processes import tollway_bin, tollway_env
from tests.webhooks.conftest import add_endpoint
from tests.webhooks.receiver import Reply, receiving
from tollway.models import MessageStatus, WebhookMessage
from tollway.services import Services


def start_worker(server: LiveServer) -> subprocess.Popen[bytes]:
    settings = server.settings
    env = tollway_env(
        database_url=settings.database_url, redis_url=settings.redis_url,
        secret_key=SECRET_KEY, state_dir=str(settings.state_dir),
        webhook_allow_private_networks="true", webhook_timeout_seconds="5",
        webhook_lease_seconds="6", webhook_poll_seconds="0.1",
        alert_interval_seconds="3600", budget_interval_seconds="3600",
    )  # fmt: skip
    return subprocess.Popen(
        [tollway_bin(), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def test_worker_killed_mid_delivery_loses_nothing(
    gql: GraphQL, hooks: Services, server: LiveServer
) -> None:
    tenant = await gql.create_tenant("crash")
    async with receiving() as receiver:
        receiver.script = [Reply(200, delay=60)]  # the first delivery hangs: kill meanwhile
        endpoint, secret = await add_endpoint(hooks, tenant, receiver.url + "/crash")
        data = await gql.data(
            "mutation($e: ID!) { sendTestWebhook(endpointId: $e) { message { id } } }",
            {"e": str(endpoint.id)},
        )
        message_id = data["sendTestWebhook"]["message"]["id"]
        first = start_worker(server)
        workers: list[subprocess.Popen[Any]] = [first]
        try:
            await asyncio.wait_for(receiver.arrived.wait(), 30)
            os.kill(first.pid, signal.SIGKILL)  # mid-delivery: no response was read
            first.wait(10)
            assert (await WebhookMessage.get(id=message_id)).status is MessageStatus.PENDING
            receiver.arrived.clear()
            workers.append(start_worker(server))
            for _ in range(300):
                row = await WebhookMessage.get(id=message_id)
                if row.status is MessageStatus.DELIVERED:
                    break
                await asyncio.sleep(0.1)
            assert row.status is MessageStatus.DELIVERED, row.last_error
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
                    try:
                        worker.wait(15)
                    except subprocess.TimeoutExpired:
                        worker.kill()
        killed, delivered = receiver.at("/crash")[:2]
        assert killed.headers["webhook-id"] == delivered.headers["webhook-id"]
        assert Webhook(secret).verify(killed.body, killed.headers) == Webhook(secret).verify(
            delivered.body, delivered.headers
        )
        assert row.attempts == 1  # the killed attempt left no record; the delivery did
