"""Test harness: one real Kafka broker for the whole session, started only if a test needs it.

With KAFKA_BOOTSTRAP set, that cluster is used and nothing is started. Otherwise the broker runs
from the project's jars with its data in a temporary folder, on free loopback ports, and is
stopped by its PID at the end of the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefstream.core.settings import Settings
from tests.kafka_for_tests import kafka_broker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration needs the broker."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a running broker: an external one, or ours for this session."""
    with kafka_broker(tmp_path_factory.mktemp("kafka-home")) as settings:
        yield settings


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names, so tests never see each other's data."""
    return uuid.uuid4().hex[:8]
