"""The test suite's server ports: below the ephemeral range, and never handed out twice."""

from __future__ import annotations

from tests.kafka_for_tests import LOWEST_SERVER_PORT, _ephemeral_floor, free_block, free_port


def test_ports_are_never_handed_out_twice_in_a_process() -> None:
    # 400 draws from ~12,800 ports: without the record of handed-out ports a repeat is all but certain (p ~ 0.998).
    ports = [free_port() for _ in range(400)]
    assert len(set(ports)) == len(ports)
    block = free_block(4)
    assert not set(range(block, block + 4)) & set(ports)
    assert all(LOWEST_SERVER_PORT <= port < _ephemeral_floor() for port in [*ports, block + 3])
