"""Test harness: one real Kafka broker for the whole session, started only if a test needs it.

With KAFKA_BOOTSTRAP set, that cluster is used and nothing is started. Otherwise the broker runs
from the project's jars with its data in a temporary folder, on free loopback ports, and is
stopped by its PID at the end of the session.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefstream.broker import LocalBroker
from prefstream.settings import Settings, load_settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration needs the broker."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a running broker: an external one, or ours for this session."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield load_settings()
        return
    home = tmp_path_factory.mktemp("kafka-home")
    port = free_port()
    env = {
        "PREFSTREAM_HOME": str(home),
        "PREFSTREAM_KAFKA_PORT": str(port),
        "PREFSTREAM_CONTROLLER_PORT": str(free_port()),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    settings = load_settings()
    broker = LocalBroker(settings)
    broker.start(timeout=90)
    try:
        yield settings
    finally:
        broker.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names, so tests never see each other's data."""
    return uuid.uuid4().hex[:8]
