"""A Kafka broker for tests and benchmarks: the cluster in KAFKA_BOOTSTRAP, or a local one.

The local broker runs from the project's jars with its data in a folder given by the caller,
on free loopback ports, and is stopped by its PID when the context ends; the environment
variables that point prefstream at it are restored afterwards.
"""

from __future__ import annotations

import os
import random
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefstream.core.settings import Settings, load_settings
from prefstream.local.broker import LocalBroker

LOWEST_SERVER_PORT = 20000


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED_OUT: set[int] = set()  # ports this process was given: two calls in a row once drew the same one


def free_block(size: int = 8) -> int:
    """The first of `size` consecutive loopback ports nothing listens on, below the ephemeral range.

    Below it, no outgoing connection (a Kafka client of another stage, say) can take one of them
    between this probe and the server's bind: that made a stage fail to start in a CI run. A port
    is handed out once per process, so the servers of one test never get the same port before
    either has bound it.
    """
    slots = range(LOWEST_SERVER_PORT, _ephemeral_floor() - size, size)
    first = random.randrange(len(slots))
    for base in (slots[(first + step) % len(slots)] for step in range(len(slots))):
        block = range(base, base + size)
        if _HANDED_OUT.intersection(block):
            continue
        probes: list[socket.socket] = []
        try:
            for port in block:
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            _HANDED_OUT.update(block)
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no free port block")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the ephemeral range."""
    return free_block(1)


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
