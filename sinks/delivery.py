"""A delivery: one record of `customer-profiles` turned into what a business unit's target writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from prefstream.errors import PrefstreamError
from schemas.codec import CodecError, decode_profile
from sinks.config import SinkConfig
from sinks.projection import passes, project


@dataclass(frozen=True)
class Source:
    """Where a delivery came from: enough to commit past it or dead-letter its original bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True)
class Delivery:
    """An upsert of a projected profile, or a delete (`profile is None`).

    A delete has the version of the profile that no longer passes the filter; an erasure
    (`erased`, from a tombstone) has no version.
    """

    customer_id: str
    version: int | None
    profile: dict[str, Any] | None
    source: Source
    erased: bool = False

    @property
    def deleted(self) -> bool:
        """True when the target must drop the customer."""
        return self.profile is None

    def document(self) -> dict[str, Any]:
        """The JSON document webhooks and files receive."""
        return {"customer_id": self.customer_id, "version": self.version, "deleted": self.deleted,
                "erased": self.erased, "profile": self.profile}

    def body(self) -> bytes:
        """The document as compact UTF-8 JSON."""
        return json.dumps(self.document(), separators=(",", ":"), sort_keys=True).encode()


class Undecodable(PrefstreamError):
    """A record of customer-profiles that is not a CustomerProfile; it goes to the DLQ."""


def to_delivery(source: Source, config: SinkConfig) -> Delivery:
    """The delivery a business unit gets for one record (raises Undecodable for garbage)."""
    try:
        customer_id = source.key.decode()
    except (AttributeError, UnicodeDecodeError):
        raise Undecodable("key is not UTF-8 text") from None
    if source.value is None:
        return Delivery(customer_id, None, None, source, erased=True)
    try:
        profile = decode_profile(source.value)
    except CodecError as error:
        raise Undecodable(str(error)) from None
    if not passes(profile, config.filter):
        return Delivery(customer_id, profile["version"], None, source)
    return Delivery(customer_id, profile["version"], project(profile, config), source)


def latest_per_customer(deliveries: list[Delivery]) -> list[Delivery]:
    """The last delivery of each customer in arrival order (a key's records share a partition,
    so arrival order is the profile's order), preceded by the customer's last erasure when
    something came after it: a target must still erase what it held before."""
    latest: dict[str, tuple[Delivery, ...]] = {}
    for delivery in deliveries:
        before = latest.pop(delivery.customer_id, ())
        erasure = () if delivery.erased else tuple(d for d in before if d.erased)
        latest[delivery.customer_id] = (*erasure, delivery)
    return [delivery for kept in latest.values() for delivery in kept]
