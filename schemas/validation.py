"""Validation of PreferenceEvents, called by every adapter and by the processor.

Returns every problem, each with its field path; messages name the rule, never the value
(values may be personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from schemas import vocabulary
from schemas.subjects import subject_problem, value_problem


@cache
def _symbols(name: str) -> frozenset[str]:
    return frozenset(vocabulary.symbols(name))


# UNKNOWN is the symbol a newer writer's channel reads as: never acceptable in a new event.
CHANNELS = frozenset(vocabulary.CHANNELS)
# (path inside a change or event, enum name) of every other enum a producer fills in
_CHANGE_ENUMS = (("status", "ConsentStatus"), ("cadence", "Cadence"), ("action", "ContactAction"))
_EVENT_ENUMS = ((("source", "touchpoint"), "Touchpoint"), (("source", "actor", "type"), "ActorType"),
                (("proof", "method"), "ProofMethod"), (("proof", "legal_basis"), "LegalBasis"))
CONTACT_KINDS = {"EMAIL": "email", "PHONE": "phone", "LOYALTY": "loyalty", "SOCIAL": "social"}
HH_MM = frozenset(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an event: where, and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _channel_problems(path: str, channel: Any) -> list[Problem]:
    if channel is None or channel in CHANNELS:
        return []
    return [Problem(path, f"unknown channel (one of {', '.join(sorted(CHANNELS))})")]


MAX_PER_WEEK = 2**31 - 1  # the largest Avro int


def _change_problems(path: str, change: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if "channel" in change:
        problems += _channel_problems(f"{path}.channel", change["channel"])
    for index, channel in enumerate(change.get("channels") or []):
        problems += _channel_problems(f"{path}.channels[{index}]", channel)
    for field, enum in _CHANGE_ENUMS:
        if change.get(field) is not None and change[field] not in _symbols(enum):
            problems.append(Problem(f"{path}.{field}", f"unknown {enum} symbol"))
    if "active" in change and change.get("reason") not in _symbols("SuppressionReason"):
        problems.append(Problem(f"{path}.reason", "unknown SuppressionReason symbol"))
    if "kind" in change and "action" in change:  # a contact point
        kind = CONTACT_KINDS.get(change["kind"])
        problem = value_problem(kind, change["value"]) if kind else None
        if problem:
            problems.append(Problem(f"{path}.value", problem))
    if "time_zone" in change and change.get("start") is not None:
        for field in ("start", "end"):
            if change.get(field) not in HH_MM:
                problems.append(Problem(f"{path}.{field}", "not a HH:MM time"))
        if change["time_zone"] not in _time_zones():
            problems.append(Problem(f"{path}.time_zone", "not an IANA time zone"))
    if change.get("max_per_week") is not None and change["max_per_week"] < 0:
        problems.append(Problem(f"{path}.max_per_week", "must not be negative"))
    elif change.get("max_per_week") is not None and change["max_per_week"] > MAX_PER_WEEK:
        # beyond an Avro int: the codec would refuse it too, this tells the sender which field
        problems.append(Problem(f"{path}.max_per_week", f"must be at most {MAX_PER_WEEK}"))
    return problems


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def validate_event(event: dict[str, Any], now: datetime, max_future_skew: timedelta = timedelta(minutes=5)) -> list[Problem]:
    """Every problem of `event`; an empty list means it may be published and folded."""
    problems = [Problem(field, "required") for field in _REQUIRED if event.get(field) in (None, "")]
    missing = {problem.path for problem in problems}
    if "event_id" not in missing and len(event["event_id"]) > 200:
        problems.append(Problem("event_id", "longer than 200 characters"))
    problem = None if "subject" in missing else subject_problem(event["subject"])
    if problem:
        problems.append(Problem("subject", problem))
    for field in ("occurred_at", "recorded_at"):
        moment = event.get(field)
        if field in missing:
            continue
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            problems.append(Problem(field, "not a time with a time zone"))
        elif moment > now + max_future_skew:
            problems.append(Problem(field, f"more than {max_future_skew} in the future"))
    problems += _enum_problems(event)
    if "changes" not in missing and not event["changes"]:
        problems.append(Problem("changes", "at least one change is required"))
    if "changes" not in missing:
        for index, change in enumerate(event["changes"]):
            problems += _change_problems(f"changes[{index}]", change)
    return problems


_REQUIRED = ("event_id", "subject", "occurred_at", "recorded_at", "source", "changes")


def _enum_problems(event: dict[str, Any]) -> list[Problem]:
    problems = []
    for path, enum in _EVENT_ENUMS:
        value: Any = event
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value is not None and value not in _symbols(enum):
            problems.append(Problem(".".join(path), f"unknown {enum} symbol"))
    return problems


_STATUSES, _CADENCES, _ACTIONS, _REASONS = (_symbols(name) for name in ("ConsentStatus", "Cadence", "ContactAction", "SuppressionReason"))
_TOUCHPOINTS, _ACTOR_TYPES, _PROOF_METHODS, _LEGAL_BASES = (
    _symbols(name) for name in ("Touchpoint", "ActorType", "ProofMethod", "LegalBasis"))


def _plain_change(change: dict[str, Any]) -> bool:
    """Whether `_change_problems` finds nothing, for the usual changes; False for the others (quiet hours)."""
    if "status" in change:  # a consent
        return change["channel"] in CHANNELS and change["status"] in _STATUSES
    if "subscribed" in change:  # a topic
        return all(channel in CHANNELS for channel in change["channels"])
    if "question" in change:  # an attribute answer: nothing to check
        return True
    if "active" in change:  # a suppression
        return (change["channel"] is None or change["channel"] in CHANNELS) and change["reason"] in _REASONS
    if "action" in change:  # a contact point
        kind = CONTACT_KINDS.get(change["kind"])
        return change["action"] in _ACTIONS and (kind is None or value_problem(kind, change["value"]) is None)
    if "cadence" in change:  # a frequency
        return ((change["channel"] is None or change["channel"] in CHANNELS)
                and (change["cadence"] is None or change["cadence"] in _CADENCES)
                and (change["max_per_week"] is None or change["max_per_week"] >= 0))
    if "until" in change:  # a pause
        return all(channel in CHANNELS for channel in change["channels"])
    return set(change) == {"reason"}  # an erasure; anything else is for validate_event


def plainly_valid(event: dict[str, Any], latest_ms: int) -> bool:
    """A quick check that is sufficient, not necessary: True only when `validate_event` finds no
    problem in the same event with datetimes, at a `now` and `max_future_skew` whose sum is
    `latest_ms` (epoch ms). For an event as `SchemaFamily.decode_millis` gives it (times as epoch
    ms, each change one of the schema's records). False means: ask validate_event."""
    event_id, source, proof, changes = event["event_id"], event["source"], event["proof"], event["changes"]
    subject = event["subject"]
    return (
        0 < len(event_id) <= 200
        and subject != "" and subject_problem(subject) is None
        and event["occurred_at"] <= latest_ms and event["recorded_at"] <= latest_ms
        and source["touchpoint"] in _TOUCHPOINTS and source["actor"]["type"] in _ACTOR_TYPES
        and (proof is None or (proof["method"] in _PROOF_METHODS and proof["legal_basis"] in _LEGAL_BASES))
        and len(changes) > 0
        and _plain_changes(changes)
    )


def _plain_changes(changes: list[dict[str, Any]]) -> bool:
    for change in changes:  # (a loop, not all() over a generator: this runs for every record replayed)
        if not _plain_change(change):
            return False
    return True
