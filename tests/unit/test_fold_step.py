"""The fold step's routing rules, with in-memory tables and outputs: literal cases, a crash that loses
outputs but keeps table writes, and a whole pipeline in memory whose profiles equal the reference's."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from prefstream.core.dlq import read_headers
from prefstream.core.kafka import partition_for
from prefstream.core.topics import CUSTOMER_EVENTS, DLQ, EVENTS, IDENTITY_LINKS, PROFILES
from processors.domain.step import FoldStep, Released
from schemas.codec import decode_profile, encode_event
from tests import factories as f
from tests import reference

PARTITIONS = 3
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class Record:
    """A source record as the step reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float = NOW.timestamp()
    headers: list[tuple[str, bytes]] | None = None
    generation_id: int = 1

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


class MemoryTable:
    """A table as a dict of (partition, key) -> value."""

    def __init__(self) -> None:
        self.data: dict[tuple[int, str], bytes] = {}

    def get(self, key: str, partition: int) -> bytes | None:
        return self.data.get((partition, key))

    def set(self, key: str, value: bytes, partition: int) -> None:
        self.data[(partition, key)] = value

    def delete(self, key: str, partition: int) -> None:
        self.data.pop((partition, key), None)


@dataclass
class Pipeline:
    """The processor's topics and tables in memory; `send` is the step's sink, partitioning by key like Kafka."""

    log: dict[str, list[list[Record]]] = field(default_factory=lambda: {
        topic: [[] for _ in range(PARTITIONS)] for topic in (EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS, PROFILES, DLQ)})
    read: Counter[tuple[str, int]] = field(default_factory=Counter)
    tables: tuple[MemoryTable, ...] = field(default_factory=lambda: (MemoryTable(), MemoryTable(), MemoryTable()))

    def __post_init__(self) -> None:
        self.step = FoldStep(*self.tables, self, lambda: NOW)

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any = None) -> None:
        partition = partition_for(key, PARTITIONS) if key else 0
        records = self.log[topic][partition]
        records.append(Record(topic, partition, len(records), key, value, headers=list(headers) if headers else None))

    def publish(self, event: dict[str, Any]) -> None:
        self.send(EVENTS, event["subject"].encode(), encode_event(event))

    def unread(self) -> list[tuple[str, int]]:
        return [(topic, p) for topic in (EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS) for p in range(PARTITIONS)
                if self.read[(topic, p)] < len(self.log[topic][p])]

    def run(self, rng: random.Random) -> None:
        """Fold every source record, partitions interleaved at random, until nothing is left to read."""
        while unread := self.unread():
            topic, partition = rng.choice(unread)
            record = self.log[topic][partition][self.read[(topic, partition)]]
            self.read[(topic, partition)] += 1
            self.step.fold(record, None)
            self.step.forget(self.step.take_released(), lambda tp, generation: True)

    def latest(self, topic: str) -> dict[bytes, bytes | None]:
        return {r.key: r.value for records in self.log[topic] for r in records if r.key is not None}


def profile_of(pipeline: Pipeline, key: str) -> dict[str, Any] | None:
    value = pipeline.latest(PROFILES).get(key.encode(), ...)
    assert value is not ..., f"no profile for {key}"
    return None if value is None else decode_profile(value)


def test_a_customers_event_is_folded_and_its_profile_sent() -> None:
    pipeline = Pipeline()
    pipeline.publish(f.event("ann", [f.consent("SMS", "OPTED_IN")], f.at(0), event_id="1"))
    pipeline.run(random.Random(0))
    assert profile_of(pipeline, "ann")["consents"][0]["status"] == "OPTED_IN"
    assert pipeline.step.take_counts().folded == 1


def test_an_unclaimed_identifiers_event_waits_until_a_customer_claims_it() -> None:
    pipeline = Pipeline()
    optin = f.event("email:ann@x.com", [f.consent("EMAIL", "OPTED_IN")], f.at(1), event_id="1")
    pipeline.publish(optin)
    pipeline.run(random.Random(0))
    assert pipeline.latest(PROFILES) == {} and pipeline.step.take_counts().parked == 1
    claim = f.event("ann", [f.contact("EMAIL", "Ann@x.com")], f.at(0), event_id="2")
    pipeline.publish(claim)
    pipeline.run(random.Random(0))
    assert profile_of(pipeline, "ann") == reference.profile("ann", [optin, claim])
    assert pipeline.tables[2].data == {}  # released, then forgotten
    assert pipeline.latest(IDENTITY_LINKS) == {b"email:ann@x.com": b"ann"}


def test_a_restrictive_identifier_event_is_folded_under_the_identifier_at_once() -> None:
    pipeline = Pipeline()
    stop = f.event("phone:+15550001", [f.consent("SMS", "OPTED_OUT")], f.at(0), event_id="1")
    pipeline.publish(stop)
    pipeline.run(random.Random(0))
    assert profile_of(pipeline, "phone:+15550001") == reference.profile("phone:+15550001", [stop])


def test_a_release_unmaps_only_its_own_customers_claim() -> None:
    pipeline = Pipeline()
    pipeline.send(IDENTITY_LINKS, b"email:a@x.com", b"second")
    pipeline.send(IDENTITY_LINKS, b"email:a@x.com", None, [("prefstream-released-by", b"first")])
    pipeline.run(random.Random(0))
    partition = partition_for(b"email:a@x.com", PARTITIONS)
    assert pipeline.tables[1].get("email:a@x.com", partition) == b"second"
    assert [r.value for r in pipeline.log[IDENTITY_LINKS][partition]][-1] == b"second"  # the claim is written again
    pipeline.send(IDENTITY_LINKS, b"email:a@x.com", None, [("prefstream-released-by", b"second")])
    pipeline.run(random.Random(0))
    assert pipeline.tables[1].get("email:a@x.com", partition) is None


def test_records_that_are_no_event_go_to_the_dlq_with_their_reason() -> None:
    pipeline = Pipeline()
    pipeline.send(EVENTS, b"ann", b"not avro")
    pipeline.send(CUSTOMER_EVENTS, None, encode_event(f.event("ann", [f.topic("x", True)], f.at(0))))
    pipeline.send(IDENTITY_LINKS, None, b"ann")
    pipeline.run(random.Random(0))
    dead = [read_headers(r.headers) for records in pipeline.log[DLQ] for r in records]
    assert sorted(h["prefstream.reason"] for h in dead) == ["BadMarkerError", "NoKey", "NoKey"]
    assert all(h["prefstream.rejected_at"] == NOW.isoformat() for h in dead)
    assert pipeline.step.take_counts().rejected == Counter({"BadMarkerError": 1, "NoKey": 2})


def test_a_possible_redelivery_re_emits_a_keys_outputs_once_per_generation() -> None:
    pipeline = Pipeline()
    event = f.event("ann", [f.contact("EMAIL", "a@x.com")], f.at(0), event_id="1")
    pipeline.publish(event)
    pipeline.run(random.Random(0))
    record = pipeline.log[EVENTS][partition_for(b"ann", PARTITIONS)][0]
    sent = sum(len(p) for p in pipeline.log[PROFILES])
    pipeline.step.fold(record, None)  # a duplicate: nothing
    assert sum(len(p) for p in pipeline.log[PROFILES]) == sent
    for _ in range(3):
        pipeline.step.fold(record, 7)  # possibly a redelivery in generation 7: the profile and its claim, once
    pipeline.step.fold(record, 8)
    assert sum(len(p) for p in pipeline.log[PROFILES]) == sent + 2
    assert pipeline.step.take_counts().reemitted == 2
    assert [r.value for records in pipeline.log[IDENTITY_LINKS] for r in records] == [b"ann"] * 3


def test_a_crash_that_loses_the_re_sent_copies_of_parked_records_loses_no_event() -> None:
    """The claim's copies never reached Kafka, the table did: the claim, read again, re-sends them."""
    pipeline = Pipeline()
    waiting = f.event("email:a@x.com", [f.topic("news", True)], f.at(1), event_id="1")
    pipeline.publish(waiting)
    pipeline.run(random.Random(0))
    claim = Record(IDENTITY_LINKS, partition_for(b"email:a@x.com", PARTITIONS), 0, b"email:a@x.com", b"ann")
    pipeline.step.fold(claim, None)
    copies = [r for records in pipeline.log[CUSTOMER_EVENTS] for r in records]
    assert [r.value for r in copies] == [encode_event(waiting)]
    for records in pipeline.log[CUSTOMER_EVENTS]:
        records.clear()  # the crash: the copies are lost, the released list with them
    assert isinstance(pipeline.step.take_released()[0], Released)
    pipeline.step.fold(claim, 2)  # read again after the restart
    assert [r.value for records in pipeline.log[CUSTOMER_EVENTS] for r in records] == [encode_event(waiting)]
    pipeline.step.forget(pipeline.step.take_released(), lambda tp, generation: True)  # delivered this time
    pipeline.step.fold(claim, None)
    assert len([r for records in pipeline.log[CUSTOMER_EVENTS] for r in records]) == 1  # nothing left to re-send


def test_released_records_stay_parked_when_the_claims_partition_moved() -> None:
    pipeline = Pipeline()
    pipeline.publish(f.event("email:a@x.com", [f.topic("news", True)], f.at(1), event_id="1"))
    pipeline.run(random.Random(0))
    pipeline.step.fold(Record(IDENTITY_LINKS, partition_for(b"email:a@x.com", PARTITIONS), 0, b"email:a@x.com", b"ann"), None)
    pipeline.step.forget(pipeline.step.take_released(), lambda tp, generation: False)
    assert len(pipeline.tables[2].data) == 1


CUSTOMERS = ("ann", "bob", "cid")
identifier_event = st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from(["email", "phone"]),
                             st.sampled_from([f.consent("SMS", "OPTED_OUT"), f.consent("EMAIL", "OPTED_IN"),
                                              f.topic("news", False), f.topic("sale", True), f.attribute("size", "M")]),
                             st.integers(0, 9))
own_event = st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from([f.consent("PUSH", "OPTED_IN"), f.pause(None),
                                                                   f.topic("news", True), f.suppression("SMS", False)]),
                      st.integers(0, 9))


def address(customer: str, kind: str) -> str:
    return f"{customer}@x.com" if kind == "email" else f"+1555000{CUSTOMERS.index(customer)}"


@settings(max_examples=120, deadline=None)
@given(st.lists(own_event, max_size=12), st.lists(identifier_event, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_the_pipeline_in_memory_gives_the_references_profiles_in_any_order(own: list, by_identifier: list, rng: random.Random) -> None:
    """Each customer claims its email and phone; events come under customer ids and identifiers, shuffled and
    duplicated, and the partitions are read in a random interleaving."""
    events: dict[str, list[dict[str, Any]]] = {
        c: [f.event(c, [f.contact("EMAIL", address(c, "email")), f.contact("PHONE", address(c, "phone"))], f.at(0), event_id=f"{c}-claim")]
        for c in CUSTOMERS}
    under: dict[str, list[dict[str, Any]]] = {}
    for n, (customer, change, minute) in enumerate(own):
        events[customer].append(f.event(customer, [change], f.at(minute), event_id=f"own-{n}"))
    for n, (customer, kind, change, minute) in enumerate(by_identifier):
        subject = f"{kind}:{address(customer, kind)}"
        event = f.event(subject, [change], f.at(minute), event_id=f"id-{n}")
        events[customer].append(event)
        under.setdefault(subject, []).append(event)
    sent = [e for mine in events.values() for e in mine]
    sent += rng.sample(sent, len(sent) // 3)
    rng.shuffle(sent)
    pipeline = Pipeline()
    for event in sent:
        pipeline.publish(event)
    pipeline.run(rng)
    for customer, mine in events.items():
        assert profile_of(pipeline, customer) == reference.profile(customer, mine)
    for subject, said in under.items():
        restrictive = [e for e in said if e["changes"][0].get("status") == "OPTED_OUT" or e["changes"][0].get("subscribed") is False]
        if restrictive:
            assert profile_of(pipeline, subject) == reference.profile(subject, restrictive)
        else:
            assert subject.encode() not in pipeline.latest(PROFILES)
