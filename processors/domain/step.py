"""The fold step: the processor's routing rules, one source record at a time.

No Faust and no Kafka client: the runtime implements the tables (`Table`) and the output records
(`Sink`), hands each source record over, and acks it once the sink's batch of outputs is delivered.

- `preference-events`, a customer-id subject: folded into that customer.
- `preference-events`, an identifier subject: re-sent to `prefstream-customer-events` keyed by the
  customer that claims it, or parked under the identifier until one does; an event that restricts
  contact is also folded under the identifier itself.
- `prefstream-customer-events`: folded into its key's customer.
- `prefstream-identity-links`: a claim maps the identifier and re-sends its parked records; a release
  unmaps it only while it points to the releasing customer, else the current claim is written again.

A fold that changes a state sends the profile (a tombstone once erased) and a claim or release for
each identifier gained or lost. An unchanged fold of a record that may be a redelivery sends the
key's whole current outputs again, once per key and rebalance generation (see processors.runtime.redelivery).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prefstream.core.dlq import dlq_headers
from prefstream.core.topics import CUSTOMER_EVENTS, DLQ, IDENTITY_LINKS, PROFILES
from processors.domain import parking
from processors.domain.admission import admit_for_fold, rejection
from processors.domain.fold import apply, empty_state, identities, is_erased, may_change_identities, profile_time, released_identities
from processors.domain.identity import release_applies, release_headers, releaser
from processors.domain.profile_encoding import profile_bytes
from processors.domain.routing import restricts_contact
from processors.domain.state_codec import decode_state, encode_state
from schemas.subjects import is_customer_id

Headers = list[tuple[str, bytes]]  # as the Kafka client takes them: a list (it refuses a tuple)


class Table(Protocol):
    """A table partitioned like the source topics: the step reads and writes the record's partition."""

    def get(self, key: str, partition: int) -> bytes | None: ...

    def set(self, key: str, value: bytes, partition: int) -> None: ...

    def delete(self, key: str, partition: int) -> None: ...


class Sink(Protocol):
    """Where output records go; partitioned by the key's murmur2 hash."""

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None) -> None: ...


class SourceRecord(Protocol):
    """What the step reads of a source record (a Faust message has it all)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float  # seconds since the epoch, as Faust gives the Kafka timestamp
    headers: Sequence[tuple[str, bytes]] | None
    tp: Hashable
    generation_id: int


@dataclass
class Counts:
    """What the step did since the runtime last took the counts (see `FoldStep.take_counts`)."""

    folded: int = 0
    reemitted: int = 0
    duplicates: int = 0
    profiles: int = 0
    tombstones: int = 0
    parked: int = 0
    released: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Released:
    """Parked records of an identifier that a claim re-sent to its customer; where and when the claim was read."""

    identifier: str
    partition: int
    tp: Hashable
    generation: int
    records: list[bytes]


class FoldStep:
    """Folds source records into the tables and sends their outputs (see the module's rules)."""

    def __init__(self, profiles: Table, identities: Table, parked: Table, sink: Sink, clock: Callable[[], datetime]) -> None:
        self._profiles, self._identities, self._parked = profiles, identities, parked
        self._sink = sink
        self._clock = clock
        self._counts = Counts()
        self._released: list[Released] = []
        self._reemitted: tuple[int, set[str]] = (-1, set())

    def take_counts(self) -> Counts:
        """The counts since the last call; counting starts again."""
        counts, self._counts = self._counts, Counts()
        return counts

    def take_released(self) -> list[Released]:
        """The parked records re-sent since the last call; `forget` them once their copies are delivered."""
        released, self._released = self._released, []
        return released

    def fold(self, record: SourceRecord, redelivery: int | None) -> None:
        """Fold one source record. `redelivery`: the record's generation when it may be a redelivery, else None."""
        if record.topic == IDENTITY_LINKS:
            self._link(record)
            return
        timestamp_ms = round(record.timestamp * 1000)
        event = admit_for_fold(record.value, timestamp_ms)
        if event is None:
            self._dead_letter(record, *rejection(record.value, timestamp_ms))
            return
        if record.topic == CUSTOMER_EVENTS:
            if not record.key:
                self._dead_letter(record, "NoKey", "a resolved event without a key names no customer")
            else:
                self._fold_into(record.key.decode(), event, record.partition, redelivery)
            return
        subject = event["subject"]
        if is_customer_id(subject):
            self._fold_into(subject, event, record.partition, redelivery)
            return
        if restricts_contact(event):
            self._fold_into(subject, event, record.partition, redelivery)  # the bare identifier is suppressed at once
        customer = self._identities.get(subject, record.partition)
        if customer is not None:
            self._sink.send(CUSTOMER_EVENTS, customer, record.value)
            return
        assert record.value is not None, "an admitted event has a value"
        self._counts.parked += 1
        self._parked.set(subject, parking.add(self._parked.get(subject, record.partition), record.value), record.partition)

    def forget(self, released: list[Released], owns: Callable[[Hashable, int], bool]) -> None:
        """Remove re-sent records from the parked table, once the broker acknowledged their copies.

        Removing them in the fold that re-sent them lost them when a crash kept the removal (on the
        table's changelog) but not the copies: the claim, read again, found nothing to re-send. A crash
        between the copies' acknowledgement and this removal leaves them parked until the identifier's
        next claim re-sends them. `owns(tp, generation)`: whether this worker still holds the claim's
        partition in that generation (else the new owner reads the claim again)."""
        for entry in released:
            if not owns(entry.tp, entry.generation):
                continue
            left = [r for r in parking.unpack(self._parked.get(entry.identifier, entry.partition)) if r not in entry.records]
            if left:
                self._parked.set(entry.identifier, parking.pack(left), entry.partition)
            else:
                self._parked.delete(entry.identifier, entry.partition)

    def _dead_letter(self, record: SourceRecord, reason: str, error: str) -> None:
        self._counts.rejected[reason] += 1
        headers = dlq_headers(reason, error, "processor", self._clock(),
                              topic=record.topic, partition=record.partition, offset=record.offset)
        self._sink.send(DLQ, record.key, record.value, headers)

    def _first_reemission(self, generation: int, key: str) -> bool:
        """Whether `key`'s outputs are still to be re-emitted in `generation` (from now on: they were).

        Once is enough, a re-emission sends the key's whole current outputs; more would multiply, since
        every re-emitted claim is itself a record the step reads."""
        if self._reemitted[0] != generation:
            self._reemitted = (generation, set())
        keys = self._reemitted[1]
        if key in keys:
            return False
        keys.add(key)
        return True

    def _fold_into(self, customer: str, event: dict[str, Any], partition: int, redelivery: int | None) -> None:
        raw = self._profiles.get(customer, partition)
        before = decode_state(raw) if raw is not None else empty_state(customer)
        after = apply(before, event)
        changed = after != before
        counts = self._counts
        if changed:
            counts.folded += 1
        elif redelivery is not None and self._first_reemission(redelivery, customer):
            counts.reemitted += 1
        else:
            counts.duplicates += 1
            return
        self._profiles.set(customer, encode_state(after), partition)
        key = customer.encode()
        if is_erased(after):
            counts.tombstones += 1
            self._sink.send(PROFILES, key, None)
        else:
            counts.profiles += 1
            self._sink.send(PROFILES, key, profile_bytes(after, profile_time(after)))
        if changed:
            if not may_change_identities(event):
                return
            old_ids, new_ids = set(identities(before)), set(identities(after))
            claims, releases = new_ids - old_ids, old_ids - new_ids
        else:  # a possible redelivery: the links of its first fold may never have reached Kafka
            claims, releases = set(identities(after)), set(released_identities(after))
        for identifier in sorted(claims):
            self._sink.send(IDENTITY_LINKS, identifier.encode(), key)
        for identifier in sorted(releases):
            self._sink.send(IDENTITY_LINKS, identifier.encode(), None, release_headers(key))

    def _link(self, record: SourceRecord) -> None:
        if not record.key:
            self._dead_letter(record, "NoKey", "an identity link without a key names no identifier")
            return
        identifier, customer, partition = record.key.decode(), record.value, record.partition
        if customer is None:
            current = self._identities.get(identifier, partition)
            if release_applies(current, releaser(record.headers)):
                self._identities.delete(identifier, partition)
            elif current is not None:  # released by a customer it no longer points to: claim it again
                self._sink.send(IDENTITY_LINKS, record.key, current)
            return
        self._identities.set(identifier, customer, partition)
        records = parking.unpack(self._parked.get(identifier, partition))
        for parked in records:
            self._counts.released += 1
            self._sink.send(CUSTOMER_EVENTS, customer, parked)
        if records:
            self._released.append(Released(identifier, partition, record.tp, record.generation_id, records))
