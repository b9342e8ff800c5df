"""Outputs: a record the broker never acknowledges makes flush() raise, so nothing is acked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from prefstream.settings import Settings
from processors.outputs import Outputs, OutputsLost
from tests.kafka_for_tests import free_port


def unreachable(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, bootstrap=f"127.0.0.1:{free_port()}", local_port=0, controller_port=0,
                    partitions=1, replication=1, kafka_lib=tmp_path, kafka_properties=tmp_path)


def test_an_unacknowledged_output_fails_the_flush(tmp_path: Path) -> None:
    outputs = Outputs(unreachable(tmp_path), **{"message.timeout.ms": 300})
    outputs.send("customer-profiles", b"c1", b"profile")
    with pytest.raises(OutputsLost, match="not acknowledged"):
        asyncio.run(outputs.flush())


def test_a_flush_with_nothing_queued_returns_at_once(tmp_path: Path) -> None:
    asyncio.run(Outputs(unreachable(tmp_path)).flush())
