"""The partition of a key (aiokafka's murmur2, as prefstream uses it), against vectors computed with Kafka 4.3.1's own
`Utils.murmur2` and `Utils.toPositive(hash) % partitions`."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2

from prefstream.core.kafka import partition_for

# (key, Utils.murmur2(key.getBytes("UTF-8")), Utils.toPositive(hash) % 12), printed by kafka-clients 4.3.1
VECTORS = [
    ("", 275646681, 9),
    ("a", -1563381124, 4),
    ("ab", 316155434, 2),
    ("abc", 479470107, 3),
    ("21", -973932308, 0),
    ("foobar", -790332482, 6),
    ("cust-42", 1534714832, 8),
    ("email:ann@example.com", 1017109587, 3),
    ("phone:+14155550100", 1731299539, 7),
    ("a-little-bit-long-string", -985981536, 8),
    ("a-little-bit-longer-string", -1486304829, 11),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 5),
    ("social:instagram:ann.b", 212988935, 11),
    ("zoë-ü", 334935118, 10),
]


@pytest.mark.parametrize(("key", "hash_", "partition"), VECTORS)
def test_murmur2_and_partition_match_the_java_client(key: str, hash_: int, partition: int) -> None:
    assert murmur2(key.encode()) == hash_ & 0xFFFFFFFF  # (the Java hash is signed, aiokafka's unsigned)
    assert partition_for(key, 12) == partition
    assert partition_for(key.encode(), 12) == partition


def test_partition_is_in_range_for_any_count() -> None:
    for count in (1, 3, 7, 12, 64):
        assert all(0 <= partition_for(f"k{i}", count) < count for i in range(500))
