"""The keyring on a real database: one audited unwrap per owner and process, rotation while
secrets are being read, legacy webhook secrets moved onto it, and the ways to run it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import SecretStr
from tortoise.transactions import in_transaction

from tests.conftest import SECRET_KEY, GraphQL, LiveServer
from tests.processes import run_tollway
from tests.servers import postgres_bin
from tollway.app import build_services
from tollway.auth.principal import WORKER, Role
from tollway.crypto import SecretBox
from tollway.errors import Conflict
from tollway.keyring.envelope import Owner, is_sealed
from tollway.keyring.kek import KeyEncryptionKeys, derive_kek
from tollway.keyring.rotation import BATCH, KeyRotation, data_keys_by_version
from tollway.keyring.vault import Vault
from tollway.models import AuditEntry, DataKey, WebhookEndpoint
from tollway.services import Services
from tollway.webhooks.endpoints import EndpointFields

V2_SECRET = "version-two-" + "k" * 40


@pytest.fixture
async def services(server: LiveServer) -> AsyncIterator[Services]:
    """Services of the server's settings with key version 2 configured (and current)."""
    settings: Any = server.settings
    built = build_services(
        settings.model_copy(
            update={
                "encryption_keys": SecretStr(f"2:{V2_SECRET}"),
                "webhook_allow_private_networks": True,
            }
        )
    )
    await built.bus.connect()
    try:
        yield built
    finally:
        await restore_version_one(built)
        await built.bus.disconnect()


async def restore_version_one(services: Services) -> None:
    """Re-wrap everything back under version 1, the one the session's server knows."""
    keks = services.keyring.vault.keks
    back = KeyEncryptionKeys({v: keks.key(v) for v in keks.versions}, current=1)
    await KeyRotation(back, services.audit, legacy=[]).run(WORKER)


def fresh_vault(services: Services) -> Vault:
    """Another process's vault: same keys, nothing cached."""
    return Vault(services.keyring.vault.keks, services.audit)


async def seal_many(vault: Vault, count: int) -> list[tuple[Owner, str, str]]:
    sealed = []
    for i in range(count):
        owner = Owner("test-owner", uuid4(), None)
        plain = f"plaintext-credential-{uuid4().hex}-{i}"
        sealed.append((owner, plain, await vault.seal(owner, "credentials", plaintext=plain)))
    return sealed


async def test_concurrent_opens_unwrap_a_data_key_once(services: Services) -> None:
    [(owner, plain, sealed)] = await seal_many(services.keyring.vault, 1)
    reader = fresh_vault(services)
    opened = await asyncio.gather(
        *(reader.open(owner, "credentials", sealed=sealed, purpose="test") for _ in range(50))
    )
    assert opened == [plain] * 50
    unwraps = await AuditEntry.filter(action="data_key.unwrap", target_id=str(owner.id))
    assert len(unwraps) == 1
    assert unwraps[0].changes == {"purpose": "test", "kek_version": 2}


async def test_a_data_key_rolled_back_with_its_transaction_seals_nothing(
    services: Services,
) -> None:
    vault, owner = services.keyring.vault, Owner("test-owner", uuid4(), None)

    async def failing_change() -> None:
        async with in_transaction():
            await vault.seal(owner, "credentials", plaintext="first")
            raise RuntimeError("the change fails after sealing")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert not await DataKey.exists(owner_id=owner.id)
    sealed = await vault.seal(owner, "credentials", plaintext="second")
    assert await DataKey.exists(owner_id=owner.id)
    opened = await fresh_vault(services).open(owner, "credentials", sealed=sealed, purpose="t")
    assert opened == "second"
    await vault.forget(owner)


async def test_rotation_while_secrets_are_read_fails_no_decryption(
    services: Services, server: LiveServer
) -> None:
    before = KeyEncryptionKeys({1: derive_kek(SECRET_KEY, 1)})
    secrets = await seal_many(Vault(before, services.audit), 2 * BATCH + 50)  # three batches
    failures: list[BaseException] = []
    done = asyncio.Event()

    async def read_until_done() -> int:
        reads = 0
        while not done.is_set():
            vault = fresh_vault(services)  # cold: every owner is unwrapped mid-rotation
            for owner, plain, sealed in secrets[reads % 7 :: 7]:
                try:
                    assert (
                        await vault.open(owner, "credentials", sealed=sealed, purpose="t") == plain
                    )
                except BaseException as exc:
                    failures.append(exc)
                reads += 1
        return reads

    readers = [asyncio.create_task(read_until_done()) for _ in range(3)]
    report = await services.keyring.rotation.run(WORKER)
    done.set()
    reads = sum(await asyncio.gather(*readers))
    assert failures == [] and reads > len(secrets)
    assert report.target_version == 2 and report.remaining == 0
    assert report.rewrapped >= len(secrets)
    assert set(await data_keys_by_version()) == {2}
    after = fresh_vault(services)
    for owner, plain, sealed in secrets:
        assert await after.open(owner, "credentials", sealed=sealed, purpose="t") == plain
    dump = await database_dump(server)
    assert not [plain for _, plain, _ in secrets if plain.encode() in dump]
    await DataKey.filter(owner_type="test-owner").delete()


async def test_legacy_webhook_secrets_move_onto_the_keyring(
    services: Services, gql: GraphQL
) -> None:
    tenant = UUID(await gql.create_tenant())
    endpoint, secret = await services.webhook_endpoints.create(
        WORKER, tenant, new=EndpointFields(url="http://127.0.0.1:9/hook")
    )
    assert is_sealed(endpoint.secret)
    legacy = SecretBox(SECRET_KEY, "webhook-secrets").seal(secret)
    await WebhookEndpoint.filter(id=endpoint.id).update(secret=legacy)
    stored = await WebhookEndpoint.get(id=endpoint.id)
    signing = await services.webhooks.signing_secrets(stored, stored.created_at)
    assert signing == [secret]  # read as before the keyring
    dry = await services.keyring.rotation.run(WORKER, dry_run=True)
    assert dry.legacy_resealed >= 1 and dry.rewrapped == 0
    assert (await WebhookEndpoint.get(id=endpoint.id)).secret == legacy
    await services.keyring.rotation.run(WORKER)
    stored = await WebhookEndpoint.get(id=endpoint.id)
    assert is_sealed(stored.secret)
    assert await services.webhooks.signing_secrets(stored, stored.created_at) == [secret]
    await services.webhook_endpoints.delete(WORKER, endpoint.id)
    assert not await DataKey.exists(owner_id=endpoint.id)


async def test_a_data_key_of_an_unlisted_version_stops_the_rotation(services: Services) -> None:
    row = await DataKey.create(
        owner_type="test-owner", owner_id=uuid4(), kek_version=9, wrapped="x"
    )
    try:
        with pytest.raises(Conflict, match=r"version\(s\) \[9\]"):
            await services.keyring.rotation.run(WORKER)
    finally:
        await row.delete()


ROTATE = """mutation($dry: Boolean!) { rotateEncryptionKey(dryRun: $dry) {
  targetVersion before { version dataKeys } rewrapped legacyResealed remaining dryRun } }"""


async def test_rotate_encryption_key_is_for_super_admins(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    admin = gql.token(Role.ADMIN, tenant)
    assert await gql.error_code(ROTATE, {"dry": True}, token=admin) == "FORBIDDEN"
    dry = (await gql.data(ROTATE, {"dry": True}))["rotateEncryptionKey"]
    assert (dry["targetVersion"], dry["remaining"], dry["rewrapped"], dry["dryRun"]) == (
        1, 0, 0, True,
    )  # fmt: skip
    done = (await gql.data(ROTATE, {"dry": False}))["rotateEncryptionKey"]
    assert (done["remaining"], done["dryRun"]) == (0, False)
    entries = await gql.data('{ auditLog(filter: {action: "keyring.rotate"}) { totalCount } }')
    assert entries["auditLog"]["totalCount"] >= 1


def test_tollway_keys_rotate_from_the_command_line(tmp_path: Path) -> None:
    assert run_tollway("migrate", cwd=tmp_path).returncode == 0
    dry = run_tollway("keys", "rotate", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: 0 data key(s) to re-wrap to version 1" in dry.stdout
    moved = run_tollway("keys", "rotate", cwd=tmp_path, encryption_keys=f"2:{V2_SECRET}")
    assert moved.returncode == 0, moved.stderr
    assert "re-wrapped 0 data key(s) to version 2" in moved.stdout
    bad = run_tollway("keys", "rotate", cwd=tmp_path, encryption_keys="2:short")
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith("the secret of version 2 is shorter than 32 characters")


SQLITE_DUMP = "import sqlite3, sys; print(*sqlite3.connect(sys.argv[1]).iterdump(), sep=chr(10))"


async def database_dump(server: LiveServer) -> bytes:
    """The database as SQL, from a child process: `pg_dump`, or SQLite's own dump (opening
    the file here would drop this process's SQLite locks, which POSIX ties to any close)."""
    url = server.settings.database_url
    if url.startswith("sqlite"):
        command = [sys.executable, "-c", SQLITE_DUMP, url.split("://", 1)[1]]
    else:
        dsn = url.replace("postgres://", "postgresql://")
        command = [str(postgres_bin() / "pg_dump"), "--dbname", dsn]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err
    return out
