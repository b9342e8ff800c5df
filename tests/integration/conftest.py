"""Fixtures shared by the integration tests of the touchpoint adapters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prefstream.core.settings import Settings
from prefstream.core.topics import create_topics
from producers.publisher import Publisher

PUBLISHER_SOURCE = "integration-test"


@pytest.fixture(scope="module")
def publisher(kafka: Settings) -> Iterator[Publisher]:
    """A publisher on the test broker (topics created), closed after the module's tests."""
    create_topics(kafka)
    publisher = Publisher(kafka, PUBLISHER_SOURCE)
    yield publisher
    publisher.close()
