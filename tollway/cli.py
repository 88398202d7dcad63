"""`tollway serve | migrate | worker | makemigrations | token create | keys rotate`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from uuid import UUID

from tollway.auth.principal import Role
from tollway.errors import ConfigurationError, TollwayError
from tollway.settings import Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollway", description="Tollway API management")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the admin API")
    serve.add_argument("--host", default=None, help="bind address (TOLLWAY_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (TOLLWAY_PORT)")
    serve.add_argument("--no-worker", action="store_true", help="do not run background jobs")

    commands.add_parser("migrate", help="apply migrations to TOLLWAY_DATABASE_URL")
    commands.add_parser("worker", help="run background jobs only")
    make = commands.add_parser("makemigrations", help="write migrations for model changes")
    make.add_argument("--name", default=None)
    make.add_argument("--check", action="store_true", help="exit 1 if a migration is missing")

    token = commands.add_parser("token", help="admin tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a signed admin JWT")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--tenant", default=None, help="tenant id (required unless SUPER_ADMIN)")
    create.add_argument("--ttl", default="1h", help="lifetime, e.g. 30m, 1h, 7d (default 1h)")
    create.add_argument("--subject", default="cli", help="who the token is for")

    keys = commands.add_parser("keys", help="the keyring that encrypts stored secrets")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_commands.add_parser(
        "rotate", help="re-wrap every data key under the current key-encryption key"
    )
    rotate.add_argument("--dry-run", action="store_true", help="only count what would move")
    return parser


async def _preflight(settings: Settings) -> None:
    """Prove the database and Redis answer before the server starts."""
    from tollway.db import close_database, open_database
    from tollway.redis_client import check_redis, make_redis

    await open_database(settings)
    await close_database()
    redis = make_redis(settings)
    try:
        await check_redis(settings, redis)
    finally:
        if redis is not None:
            await redis.aclose()


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from tollway.app import build_app

    host = args.host or settings.host
    port = args.port or settings.port
    asyncio.run(_preflight(settings))
    app = build_app(settings, run_worker=not args.no_worker)
    shown = "localhost" if host in {"0.0.0.0", "::"} else host
    print(f"Tollway admin API: http://{shown}:{port}/graphql", flush=True)
    # uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1; Tollway resolves client
    # addresses itself, believing only TOLLWAY_TRUSTED_PROXIES.
    uvicorn.run(
        app, host=host, port=port, log_level="info", ws="websockets-sansio", proxy_headers=False
    )


async def _run_worker(settings: Settings) -> None:
    from tollway.app import build_services
    from tollway.db import close_database, open_database
    from tollway.jobs import background_jobs
    from tollway.worker import Worker

    await open_database(settings)
    services = build_services(settings)
    await services.connections.open()
    services.signals.start()
    worker = Worker(settings.worker_heartbeat_seconds)
    await services.alert_rules.seed_builtins()
    for job in background_jobs(settings, services):
        worker.add_job(job)
    worker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Tollway worker {worker.worker_id} running", flush=True)
    try:
        await stop.wait()
    finally:
        await worker.stop()
        await services.signals.stop()
        await services.webhooks.aclose()
        await services.connections.aclose()
        await close_database()


def _token(settings: Settings, args: argparse.Namespace) -> str:
    from tollway.auth.tokens import parse_ttl, token_authority

    try:
        tenant_id = UUID(args.tenant) if args.tenant else None
    except ValueError:
        raise ConfigurationError(f"--tenant: not a valid tenant id: {args.tenant!r}") from None
    authority = token_authority(settings, bootstrap=False)
    ttl = parse_ttl(args.ttl, authority.max_lifetime)
    return authority.issue(Role(args.role), tenant_id, ttl=ttl, subject=args.subject)


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("tortoise", "httpx"):  # one line per query or request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        if args.command == "serve":
            _serve(settings, args)
        elif args.command == "migrate":
            from tollway.db import migrate

            asyncio.run(migrate(settings))
            print("migrations applied", flush=True)
        elif args.command == "worker":
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_run_worker(settings))
        elif args.command == "makemigrations":
            return _makemigrations(args)
        elif args.command == "token":
            print(_token(settings, args))
        elif args.command == "keys":
            from tollway.cli_keys import rotate_keys

            print(asyncio.run(rotate_keys(settings, dry_run=args.dry_run)), flush=True)
    except (ConfigurationError, TollwayError) as exc:
        print(f"tollway: {exc}", file=sys.stderr)
        return 2
    return 0


def _makemigrations(args: argparse.Namespace) -> int:
    from tollway.db import make_migrations, pending_model_changes

    if args.check:
        pending = asyncio.run(pending_model_changes())
        for writer in pending:
            print(f"missing migration: {writer.name}")
        return 1 if pending else 0
    for path in asyncio.run(make_migrations(args.name)):
        print(f"created {path}")
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
