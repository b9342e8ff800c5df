"""Outputs: a batch's delivery completes only when the broker acknowledged every output of it, and
fails when one was refused, so the batch's records are never acked over a lost output."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from prefstream.core.settings import Settings
from processors.runtime.outputs import Delivery, Outputs, OutputsLost
from tests.kafka_for_tests import free_port


def unreachable(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, bootstrap=f"127.0.0.1:{free_port()}", local_port=0, controller_port=0,
                    partitions=1, replication=1, kafka_lib=tmp_path, kafka_properties=tmp_path)


def test_an_unacknowledged_output_fails_its_batch(tmp_path: Path) -> None:
    outputs = Outputs(unreachable(tmp_path), **{"message.timeout.ms": 300})

    async def batch() -> None:
        outputs.send("customer-profiles", b"c1", b"profile")
        await asyncio.wait_for(outputs.seal().wait(), 10)

    with pytest.raises(OutputsLost, match="not acknowledged"):
        asyncio.run(batch())
    outputs.close()


def test_a_batch_with_no_outputs_is_delivered_at_once(tmp_path: Path) -> None:
    outputs = Outputs(unreachable(tmp_path))

    async def batch() -> None:
        await asyncio.wait_for(outputs.seal().wait(), 1)

    asyncio.run(batch())
    outputs.close()


async def settled(delivery: Delivery) -> bool:
    await asyncio.sleep(0.01)  # let the loop run what the report scheduled
    waiter = asyncio.ensure_future(delivery.wait())
    await asyncio.sleep(0.01)
    done = waiter.done()
    waiter.cancel()
    return done


def test_a_delivery_waits_for_every_report_and_keeps_the_first_failure() -> None:
    async def scenario() -> None:
        ok, refused = Delivery(), Delivery()
        for delivery in (ok, refused):
            for _ in range(3):
                delivery.add()
            delivery.report(None, None)  # a report may come before the batch is sealed
            delivery.seal(asyncio.get_running_loop())
            delivery.report(None, None)
        assert not await settled(ok)  # two of three reported
        ok.report(None, None)
        await asyncio.wait_for(ok.wait(), 1)
        # _MSG_TIMED_OUT is confluent-kafka's public name for librdkafka's local error (its leading
        # underscore is librdkafka's marking of a local, not a broker, error)
        refused.report(KafkaError(KafkaError._MSG_TIMED_OUT), None)  # noqa: SLF001
        with pytest.raises(OutputsLost, match="not acknowledged"):
            await asyncio.wait_for(refused.wait(), 1)

    asyncio.run(scenario())
