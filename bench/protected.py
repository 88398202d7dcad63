"""The protected app the fault and load benches serve: `tests/metering/usage_app.py`, one
route (`/hello`) behind the middleware, migrated and with a key that never hits its limits."""

from __future__ import annotations

import subprocess
import sys

from bench.enforcement import ROOT, Served
from tests.metering.usage_app import seed_with

TARGET = "tests.metering.usage_app:app"


def seed(env: dict[str, str]) -> str:
    """Migrate the database `env` names and create the key; its secret."""
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    migrate = [sys.executable, "-c", "from tollway.cli import main; main()", "migrate"]
    subprocess.run(migrate, **run)  # type: ignore[call-overload]
    return seed_with(env)


def serve(env: dict[str, str]) -> Served:
    """The app under one uvicorn worker (uvloop, httptools), ready."""
    return Served("", env, target=TARGET)
