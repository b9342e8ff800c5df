"""A real PostgreSQL server for the SQL sink's tests and benchmark: Debian's binaries, a cluster
initdb'd in a temporary folder, on a free loopback port, run as the unprivileged `postgres` user
when we are root, and stopped by its PID. A test module that loads this one as a plugin
(`pytest_plugins = ["tests.integration.postgres"]`) gets the `postgres` fixture (one server for the
session) and `postgres_server` (a server of the test's own, which it may stop and start again)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.kafka_for_tests import free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (deploy/install-system-deps.sh installs Debian's postgresql)")
    return Path(found[-1]).parent


def _as_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresServer:
    """One cluster in a temporary folder; `start()` and `stop()` may alternate (same port, same data)."""

    def __init__(self) -> None:
        self.bin_dir, self.folder = _bin_dir(), Path(tempfile.mkdtemp(prefix="prefstream-pg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.data, self.port = self.folder / "data", free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._server: subprocess.Popen[bytes] | None = None
        subprocess.run([*_as_user(), str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        import psycopg

        with (self.folder / "server.log").open("ab") as log:
            self._server = subprocess.Popen(
                [*_as_user(), str(self.bin_dir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                 "-p", str(self.port), "-k", str(self.folder), "-F", "-c", "fsync=off"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            assert self._server.poll() is None, (self.folder / "server.log").read_text()[-2000:]
            try:
                psycopg.connect(self.dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Fast shutdown (open connections are cut), by the postmaster's PID."""
        if self._server is None:
            return
        postmaster = self.data / "postmaster.pid"
        if postmaster.exists():  # the server itself, not the runuser wrapper
            os.kill(int(postmaster.read_text().split()[0]), signal.SIGINT)
        try:
            self._server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self._server.pid, signal.SIGKILL)
            self._server.wait()
        self._server = None

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def postgres_running() -> Iterator[PostgresServer]:
    """A started server, stopped and removed on exit."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The DSN of a fresh PostgreSQL server on 127.0.0.1, alive for the session."""
    try:
        _bin_dir()
    except RuntimeError as error:
        pytest.fail(str(error))
    with postgres_running() as server:
        yield server.dsn


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server of this test's own (it may stop and restart it)."""
    with postgres_running() as server:
        yield server
