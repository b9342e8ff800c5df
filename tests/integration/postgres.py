"""A real PostgreSQL server for the SQL sink's tests: Debian's binaries, a cluster initdb'd in a
temporary folder, on a free loopback port, run as the unprivileged `postgres` user when we are
root, and stopped by its PID at the end of the session. Import `postgres` into a test module."""

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
from pathlib import Path

import pytest

from tests.kafka_for_tests import free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        pytest.fail("PostgreSQL is not installed (deploy/install-system-deps.sh installs Debian's postgresql)")
    return Path(found[-1]).parent


def _as_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The DSN of a fresh PostgreSQL server on 127.0.0.1, alive for the session."""
    import psycopg

    bin_dir, folder = _bin_dir(), Path(tempfile.mkdtemp(prefix="prefstream-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, port = folder / "data", free_port()
    subprocess.run([*_as_user(), str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    log = (folder / "server.log").open("ab")
    server = subprocess.Popen(
        [*_as_user(), str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(folder), "-F", "-c", "fsync=off"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (folder / "server.log").read_text()[-2000:]
            try:
                psycopg.connect(dsn, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield dsn
    finally:
        postmaster = data / "postmaster.pid"
        if postmaster.exists():  # the server itself, not the runuser wrapper
            os.kill(int(postmaster.read_text().split()[0]), signal.SIGINT)  # fast shutdown
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
