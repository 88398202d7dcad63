"""Running `tollway serve` as a real process, the way an operator does."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import free_port


def tollway_bin() -> str:
    import sys

    return str(Path(sys.executable).with_name("tollway"))


def tollway_env(**values: str | None) -> dict[str, str]:
    """The environment for a `tollway` subprocess, TOLLWAY_* from `values` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    env.update({f"TOLLWAY_{k.upper()}": v for k, v in values.items() if v is not None})
    return env


def run_tollway(
    *args: str, cwd: Path | None = None, **values: str | None
) -> subprocess.CompletedProcess[str]:
    """Run one `tollway` command to completion."""
    return subprocess.run(
        [tollway_bin(), *args],
        env=tollway_env(**values),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def serving(cwd: Path | None = None, **values: str | None) -> Iterator[str]:
    """`tollway serve` on a free port until the block ends; yields its base URL."""
    port = free_port()
    log = open(os.devnull, "w")  # noqa: SIM115
    errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - a pipe nobody reads could fill up
    process = subprocess.Popen(
        [tollway_bin(), "serve", "--port", str(port)],
        env=tollway_env(**values),
        cwd=cwd,
        stdout=log,
        stderr=errors,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                errors.seek(0)
                raise RuntimeError(f"tollway serve exited: {errors.read()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("tollway serve did not start in 30s")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        errors.close()
