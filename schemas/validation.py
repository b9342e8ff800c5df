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

from schemas.subjects import subject_problem, value_problem

CHANNELS = frozenset({"EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP"})
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


def _change_problems(path: str, change: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if "channel" in change:
        problems += _channel_problems(f"{path}.channel", change["channel"])
    for index, channel in enumerate(change.get("channels") or []):
        problems += _channel_problems(f"{path}.channels[{index}]", channel)
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
    return problems


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def validate_event(event: dict[str, Any], now: datetime, max_future_skew: timedelta = timedelta(minutes=5)) -> list[Problem]:
    """Every problem of `event`; an empty list means it may be published and folded."""
    problems: list[Problem] = []
    for field in ("event_id", "subject", "occurred_at", "recorded_at", "source", "changes"):
        if event.get(field) in (None, ""):
            problems.append(Problem(field, "required"))
    if problems:
        return problems
    if len(event["event_id"]) > 200:
        problems.append(Problem("event_id", "longer than 200 characters"))
    problem = subject_problem(event["subject"])
    if problem:
        problems.append(Problem("subject", problem))
    for field in ("occurred_at", "recorded_at"):
        moment = event[field]
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            problems.append(Problem(field, "not a time with a time zone"))
        elif moment > now + max_future_skew:
            problems.append(Problem(field, f"more than {max_future_skew} in the future"))
    if not event["changes"]:
        problems.append(Problem("changes", "at least one change is required"))
    for index, change in enumerate(event["changes"]):
        problems += _change_problems(f"changes[{index}]", change)
    return problems
