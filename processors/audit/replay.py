"""Replay: the log's records into the profiles the processor emits. Pure: no I/O, no clock.

The routing rule (the live processor's, see processors/domain/routing.py):
- a record of `preference-events` keyed by a customer id belongs to that customer;
- a record of `prefstream-customer-events` (identifier events resolved by the processor, keyed by
  the customer) belongs to its key's customer;
- a record of `preference-events` keyed by an identifier that restricts contact also belongs to
  the identifier's own profile.
Records that do not decode or validate went to the DLQ and belong to no profile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from processors.domain.admission import admit, admit_for_fold
from processors.domain.fold import State, apply, empty_state, is_erased, profile_time
from processors.domain.profile_encoding import profile_bytes
from processors.domain.routing import restricts_contact
from schemas.codec import CodecError, decode_profile
from schemas.subjects import is_customer_id

Role = Literal["events", "customer_events"]


class LogRecord(NamedTuple):
    """One record read from the log, with where it was read from."""

    role: Role
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes | None
    timestamp_ms: int


class Entry(NamedTuple):
    """An admitted event and the record that carried it."""

    event: dict[str, Any]
    record: LogRecord


def profile_keys(role: Role, key: str, event: dict[str, Any]) -> tuple[str, ...]:
    """The profiles (customer ids or identifiers) an admitted event of a record is folded into."""
    if role == "customer_events" or is_customer_id(key):
        return (key,)
    return (key,) if restricts_contact(event) else ()


def entries_for(key: str, records: Iterable[LogRecord]) -> tuple[list[Entry], int]:
    """The admitted events of the records keyed `key`, each event once (the first record wins), in
    time order; and how many of those records were rejected (went to the DLQ)."""
    found: dict[str, Entry] = {}
    rejected = 0
    for record in records:
        if record.key != key:
            continue
        event = admit(record.value, record.timestamp_ms)
        if event is None:
            rejected += 1
        else:
            found.setdefault(event["event_id"], Entry(event, record))
    return in_time_order(found.values()), rejected


def in_time_order(entries: Iterable[Entry]) -> list[Entry]:
    """Entries by (occurred_at, event_id): the order a reader expects, not the fold's."""
    return sorted(entries, key=lambda entry: (entry.event["occurred_at"], entry.event["event_id"]))


def as_of(entries: Iterable[Entry], moment: datetime) -> list[Entry]:
    """The entries whose event occurred at or before `moment`."""
    return [entry for entry in entries if entry.event["occurred_at"] <= moment]


def fold_entries(profile_key: str, entries: Iterable[Entry]) -> State:
    """The state of a profile's entries."""
    state = empty_state(profile_key)
    for entry in entries:
        state = apply(state, entry.event)
    return state


def emitted_value(state: State) -> bytes | None:
    """The record the processor emits for a state: the profile bytes, or None (a tombstone) when erased."""
    return None if is_erased(state) else profile_bytes(state, profile_time(state))


@dataclass
class Rebuild:
    """Every profile of the whole log, folded record by record in any order."""

    states: dict[str, State] = field(default_factory=dict)
    rejected: int = 0
    records: int = 0

    def add(self, role: Role, key: str, value: bytes | None, timestamp_ms: int) -> None:
        """Fold one record of the log (admitted as `admit` admits it; times as epoch ms, see admit_for_fold)."""
        self.records += 1
        event = admit_for_fold(value, timestamp_ms)
        if event is None:
            self.rejected += 1
            return
        states = self.states
        for profile_key in profile_keys(role, key, event):
            state = states.get(profile_key)
            states[profile_key] = apply(state if state is not None else empty_state(profile_key), event)

    def expected(self) -> dict[str, bytes | None]:
        """What `customer-profiles` should hold per key: profile bytes, or None for a tombstone."""
        return {key: emitted_value(state) for key, state in self.states.items()}


class Difference(NamedTuple):
    """A key where the profiles topic disagrees with the log: missing, extra or different."""

    key: str
    kind: Literal["missing", "extra", "different"]
    expected: bytes | None
    actual: bytes | None


def same_profile(expected: bytes | None, actual: bytes | None) -> bool:
    """Equal records, or records of different schema versions that decode to the same profile."""
    if expected == actual:
        return True
    if expected is None or actual is None:
        return False
    try:
        return decode_profile(expected) == decode_profile(actual)
    except CodecError:
        return False


def differences(expected: dict[str, bytes | None], actual: dict[str, bytes | None]) -> list[Difference]:
    """Compare rebuilt profiles with the topic's latest value per key (None = tombstone), by key.

    An erased profile matches a tombstone or an absent key (compaction removes tombstones).
    """
    found = []
    for key in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(key), actual.get(key)
        if same_profile(want, got):
            continue
        if want is None and key not in expected:
            found.append(Difference(key, "extra", None, got))
        elif got is None:
            found.append(Difference(key, "missing", want, None))
        else:
            found.append(Difference(key, "different", want, got))
    return found
