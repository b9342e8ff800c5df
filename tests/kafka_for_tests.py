"""A Kafka broker for tests and benchmarks: the cluster in KAFKA_BOOTSTRAP, or a local one.

The local broker runs from the project's jars with its data in a folder given by the caller,
on free loopback ports, and is stopped by its PID when the context ends; the environment
variables that point prefstream at it are restored afterwards.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefstream.broker import LocalBroker
from prefstream.settings import Settings, load_settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_block(size: int = 8) -> int:
    """The first of `size` consecutive free loopback ports."""
    for base in range(31000 + os.getpid() % 500 * 40, 64000, 40):
        try:
            probes = []
            for port in range(base, base + size):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no free port block")


@contextmanager
def kafka_broker(home: Path | None = None) -> Iterator[Settings]:
    """Settings of a running broker: KAFKA_BOOTSTRAP's, or a local one under `home` (a temp folder if None)."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield load_settings()
        return
    with tempfile.TemporaryDirectory(prefix="prefstream-kafka-") as scratch:
        env = {
            "PREFSTREAM_HOME": str(home or scratch),
            "PREFSTREAM_KAFKA_PORT": str(free_port()),
            "PREFSTREAM_CONTROLLER_PORT": str(free_port()),
        }
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            settings = load_settings()
            broker = LocalBroker(settings)
            broker.start(timeout=90)
            try:
                yield settings
            finally:
                broker.stop()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
