"""Throwaway PostgreSQL and Redis servers on free loopback ports, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The server binaries are missing or the server would not start."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerUnavailable(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def postgres_bin() -> Path:
    """The directory of the newest installed PostgreSQL's binaries."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise ServerUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(found[-1]).parent


class PostgresServer:
    """`initdb` + `pg_ctl` in a temporary directory; as the postgres user when we are root.

    `settings` are extra server settings (`-c name=value`)."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.bin = postgres_bin()
        self.settings = settings or {}
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tollway-pg-"))
        self.data = self.dir / "data"
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServerUnavailable(f"{args[0]} failed: {result.stderr.strip()[-500:]}")

    def start(self) -> PostgresServer:
        """Create the cluster (first time) and start it."""
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "tollway",
                "--no-sync",
            )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "30",
            "-l", str(self.dir / "log"), "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (the cluster stays, so it can start again)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop if running and delete everything."""
        with contextlib.suppress(ServerUnavailable):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """Tortoise URL for one database."""
        return f"postgres://tollway@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its Tortoise URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "tollway",
            name,
        )  # fmt: skip
        return self.url(name)


def redis_pid(port: int) -> int | None:
    """The process id of the Redis answering on `port` (from `INFO server`), if one does."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(b"INFO server\r\n")
            reply = b""
            while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return None
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    return None


class RedisServer:
    """`redis-server` with persistence off, restartable on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable("Redis is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart) the server. A first start that finds its free port taken in the
        meantime (by another xdist worker's server, say) moves to another port: a test must
        never talk to, or stop, a Redis that is not its own."""
        for _ in range(5):
            self._process = subprocess.Popen(
                [
                    self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            wait_for_port(self.port)
            if self._process.poll() is None and redis_pid(self.port) == self._process.pid:
                self._started = True
                return self
            self.stop()
            if self._started:
                raise ServerUnavailable(f"port {self.port} was taken while Redis was down")
            self.port = free_port()
        raise ServerUnavailable("no free port for Redis after 5 tries")

    def stop(self) -> None:
        """Stop the server (simulates an outage when followed by `start`)."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
