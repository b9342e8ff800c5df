"""The contract every target keeps: write a batch, return only when it is acknowledged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from prefstream.errors import PrefstreamError
from sinks.delivery import Delivery


class TargetError(PrefstreamError):
    """A target could not be opened (unreachable database, unwritable file); one line, no secrets."""


@dataclass(frozen=True)
class Failure:
    """A delivery the target gave up on: it goes to the business unit's dead-letter topic."""

    delivery: Delivery
    reason: str
    error: str


class Target(Protocol):
    """A business unit's destination.

    `write` returns once every delivery of the batch is durably acknowledged or given up on
    (returned as a Failure); it raises if the batch could not be written at all, and then nothing
    is committed. Deliveries of one customer arrive in order; targets keep that order. The runner
    calls `write` from its worker thread, and the other methods from its own thread.
    """

    name: str

    def open(self) -> None:
        """Connect and create what the target needs (tables, topics, folders)."""

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        """Write a batch; return the deliveries given up on."""

    def interrupt(self) -> None:
        """Make a write running in another thread give up soon and raise (a rebalance or a
        shutdown); a target whose writes are bounded by its own timeouts may ignore it."""

    def close(self) -> None:
        """Release connections."""
