"""Audits of the log with the processor's own fold: history, replay as of a time, export, verify.

A customer's or identifier's records are read from the single partition that holds its key in
each topic; `verify` reads every partition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prefstream.errors import EXIT_USAGE, PrefstreamError
from processors.audit.logread import LogReader, Topics
from processors.audit.replay import Difference, Entry, Rebuild, Role, as_of, differences, entries_for, fold_entries, profile_keys
from processors.domain.fold import State, is_erased, to_profile
from schemas.subjects import is_customer_id, subject_problem


class NotFound(PrefstreamError):
    """The log holds nothing for what was asked."""


class BadSubject(PrefstreamError, ValueError):
    """Not a customer id nor an identifier (the message never echoes the value)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class History:
    """The events whose record key is `subject`, in time order, and what else the log says about it."""

    subject: str
    entries: list[Entry]
    rejected: int
    claimed_by: str | None

    def folded(self) -> list[Entry]:
        """The entries folded into the subject's own profile (for an identifier: those restricting contact)."""
        return [e for e in self.entries if self.subject in profile_keys(e.record.role, e.record.key, e.event)]


def check_subject(subject: str) -> str:
    """The subject when it is a customer id or a well-formed identifier; BadSubject otherwise."""
    problem = subject_problem(subject)
    if problem:
        raise BadSubject(f"not a customer id or identifier: {problem}")
    return subject


def history(reader: LogReader, topics: Topics, subject: str) -> History:
    """A customer's (or identifier's) events, read from the one partition that holds the key."""
    check_subject(subject)
    reader.partitions(topics.events)
    records = []
    roles: tuple[Role, ...] = ("events", "customer_events") if is_customer_id(subject) else ("events",)
    for role in roles:
        partition = reader.partition_of(topics.of(role), subject)
        if partition is not None:
            records += [r for r in reader.records(role, topics.of(role), [partition]) if r.key == subject]
    entries, rejected = entries_for(subject, records)
    if not entries and not rejected:
        raise NotFound(f"no events for {subject} in {topics.events}")
    claimed = None if is_customer_id(subject) else claimed_by(reader, topics, subject)
    return History(subject, entries, rejected, claimed)


def claimed_by(reader: LogReader, topics: Topics, identifier: str) -> str | None:
    """The customer that claims an identifier now, per the processor's identity links (None: nobody)."""
    partition = reader.partition_of(topics.identity_links, identifier)
    if partition is None:
        return None
    owner = None
    for _, _, key, value, _ in reader.read(topics.identity_links, [partition]):
        if key == identifier.encode():
            owner = value.decode() if value is not None else None
    return owner


@dataclass(frozen=True)
class Replay:
    """A profile as of a moment: None when erased by then."""

    subject: str
    at: datetime
    state: State
    events: int

    def profile(self) -> dict[str, Any] | None:
        """The CustomerProfile with `reachable` evaluated at `at`, each field with its provenance."""
        return None if is_erased(self.state) else to_profile(self.state, self.at)


def replay(reader: LogReader, topics: Topics, subject: str, at: datetime) -> Replay:
    """Fold the subject's events that occurred at or before `at`."""
    found = as_of(history(reader, topics, subject).folded(), at)
    if not found:
        raise NotFound(f"no events for {subject} at or before {at.isoformat()}")
    return Replay(subject, at, fold_entries(subject, found), len(found))


def export(reader: LogReader, topics: Topics, subject: str, now: datetime) -> tuple[History, Replay | None]:
    """A data-subject access export: the full history and the current profile (None if it has no folded events)."""
    found = history(reader, topics, subject)
    folded = found.folded()
    return found, (Replay(subject, now, fold_entries(subject, folded), len(folded)) if folded else None)


@dataclass(frozen=True)
class Verification:
    """What `verify` found: the counts it read and every difference."""

    records: int
    rejected: int
    profiles: int
    differences: list[Difference]


def verify(reader: LogReader, topics: Topics, progress: Callable[[int, int], None] = lambda done, total: None) -> Verification:
    """Rebuild every profile from the whole log and compare with the profiles topic's latest values.

    `progress(done, total)` is called after every batch; total counts the records of all three topics.
    """
    reader.partitions(topics.events)
    reader.partitions(topics.profiles)
    total = sum(reader.remaining(topic) for topic in (topics.events, topics.customer_events, topics.profiles))
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        progress(done, total)

    rebuild = Rebuild()
    for role in ("events", "customer_events"):
        topic = topics.of(role)
        for record in reader.records(role, topic, list(range(reader.partitions(topic, required=False))), step):
            rebuild.add(record.role, record.key, record.value, record.timestamp_ms)
    actual = reader.latest(topics.profiles, step)
    return Verification(rebuild.records, rebuild.rejected, len(rebuild.states), differences(rebuild.expected(), actual))
