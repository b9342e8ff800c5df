"""prefstream.core.kafka.position: a record's (topic, partition, offset), which confluent-kafka types
as optional; a message that lacks any of them (an error event) is refused, never passed on as None."""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from prefstream.core.kafka import position


def test_a_record_gives_its_topic_partition_and_offset() -> None:
    assert position(Message(topic="customer-profiles", partition=3, offset=41)) == ("customer-profiles", 3, 41)


def test_partition_and_offset_zero_are_a_position() -> None:
    assert position(Message(topic="t", partition=0, offset=0)) == ("t", 0, 0)


@pytest.mark.parametrize("missing", ["topic", "partition", "offset"])
def test_a_message_without_one_of_them_is_refused(missing: str) -> None:
    fields: dict[str, object] = {"topic": "t", "partition": 0, "offset": 0}
    del fields[missing]
    with pytest.raises(ValueError, match="error event"):
        position(Message(**fields))
