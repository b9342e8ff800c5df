"""Builders of PreferenceEvent dicts for the adapters, and parsing of JSON changes and times.

Parsers return `Problem`s naming the field path and the rule, never the value (personal data).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.validation import Problem

# uuid5 namespace of deterministic event ids (a resent input yields the same id)
EVENT_NAMESPACE = uuid.UUID("4f0b6c1e-7a52-5d8e-9c33-2b1f0e6a9d47")


def stable_id(*parts: str) -> str:
    """A deterministic event id from the parts that identify an input at its source."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "\x1f".join(parts)))


def new_event(
    event_id: str,
    subject: str,
    occurred_at: datetime,
    recorded_at: datetime,
    *,
    touchpoint: str,
    system: str,
    actor: str,
    actor_id: str | None,
    interaction_id: str | None,
    proof: dict[str, Any] | None,
    changes: list[dict[str, Any]],
) -> dict[str, Any]:
    """A complete PreferenceEvent dict, as the codec encodes it."""
    return {
        "event_id": event_id,
        "subject": subject,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "source": {"touchpoint": touchpoint, "system": system,
                   "actor": {"type": actor, "id": actor_id}, "interaction_id": interaction_id},
        "proof": proof,
        "changes": changes,
    }


def proof(method: str, *, notice_version: str | None = None, locale: str | None = None, ip: str | None = None,
          user_agent: str | None = None, recording_ref: str | None = None, legal_basis: str = "CONSENT") -> dict[str, Any]:
    """A Proof record."""
    return {"method": method, "notice_version": notice_version, "locale": locale, "ip": ip,
            "user_agent": user_agent, "recording_ref": recording_ref, "legal_basis": legal_basis}


def consent(channel: str, status: str, *, purpose: str = "marketing", contact_point: str | None = None,
            expires_at: datetime | None = None) -> dict[str, Any]:
    """A ChannelConsent change."""
    return {"channel": channel, "contact_point": contact_point, "purpose": purpose, "status": status, "expires_at": expires_at}


def topic(name: str, subscribed: bool, channels: list[str] | None = None) -> dict[str, Any]:
    """A TopicSubscription change."""
    return {"topic": name, "subscribed": subscribed, "channels": channels or []}


def contact(kind: str, value: str, action: str = "ADD") -> dict[str, Any]:
    """A ContactPointChange."""
    return {"kind": kind, "value": value, "action": action}


def suppression(channel: str | None, active: bool = True, reason: str = "CUSTOMER_REQUEST") -> dict[str, Any]:
    """A Suppression change (channel None = everywhere)."""
    return {"channel": channel, "active": active, "reason": reason}


def time_field(value: Any, path: str, problems: list[Problem]) -> datetime | None:
    """An ISO 8601 time with an offset ('Z' allowed), or None with a problem appended."""
    if not isinstance(value, str):
        problems.append(Problem(path, "must be an ISO 8601 time string"))
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        problems.append(Problem(path, "not an ISO 8601 time"))
        return None
    if moment.tzinfo is None:
        problems.append(Problem(path, "needs a time zone offset (e.g. Z or +01:00)"))
        return None
    return moment.astimezone(UTC)


def text_field(body: dict[str, Any], name: str, problems: list[Problem], *, required: bool = True,
               max_length: int = 200, path: str | None = None) -> str | None:
    """A non-empty string field of a JSON object (stripped), or None with a problem appended."""
    path = path or name
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Problem(path, "required"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(path, "must be a string"))
        return None
    if len(value) > max_length:
        problems.append(Problem(path, f"longer than {max_length} characters"))
        return None
    return value.strip()


# JSON change: {"type": <kind>, ...fields}; each kind's fields with their defaults
_CHANGE_FIELDS: dict[str, dict[str, Any]] = {
    "consent": {"channel": ..., "contact_point": None, "purpose": "marketing", "status": ..., "expires_at": None},
    "topic": {"topic": ..., "subscribed": ..., "channels": []},
    "frequency": {"channel": None, "topic": None, "cadence": None, "max_per_week": None},
    "pause": {"channels": [], "until": None},
    "quiet_hours": {"start": None, "end": None, "time_zone": "UTC"},
    "contact": {"kind": ..., "value": ..., "action": "ADD"},
    "attribute": {"key": ..., "value": None, "question": None},
    "suppression": {"channel": None, "active": True, "reason": "CUSTOMER_REQUEST"},
    "erasure": {"reason": None},
}
_TIME_FIELDS = {"expires_at", "until"}
_TYPES: dict[str, type] = {"subscribed": bool, "active": bool, "max_per_week": int, "channels": list}


def parse_change(item: Any, path: str, problems: list[Problem]) -> dict[str, Any] | None:
    """A change from its JSON form `{"type": "consent", "channel": "EMAIL", ...}`, defaults filled in.

    Enum symbols are checked later by `validate_event`; here only shape and types.
    """
    if not isinstance(item, dict):
        problems.append(Problem(path, "must be an object"))
        return None
    kind = item.get("type")
    fields = _CHANGE_FIELDS.get(kind) if isinstance(kind, str) else None  # a list is no key: a problem, not a crash
    if fields is None:
        problems.append(Problem(f"{path}.type", f"must be one of {', '.join(_CHANGE_FIELDS)}"))
        return None
    change: dict[str, Any] = {}
    count = len(problems)
    for name in sorted(set(item) - set(fields) - {"type"}):
        problems.append(Problem(f"{path}.{name}", "unknown field"))
    for name, default in fields.items():
        value = item.get(name, default)
        if value is ...:
            problems.append(Problem(f"{path}.{name}", "required"))
        elif value is None:
            change[name] = None
        elif name in _TIME_FIELDS:
            change[name] = time_field(value, f"{path}.{name}", problems)
        elif name in _TYPES:
            expected = _TYPES[name]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                problems.append(Problem(f"{path}.{name}", f"must be {'a list' if expected is list else expected.__name__}"))
            elif isinstance(value, list) and not all(isinstance(entry, str) for entry in value):
                problems.append(Problem(f"{path}.{name}", "must be a list of strings"))
            else:
                change[name] = value
        elif not isinstance(value, str):
            problems.append(Problem(f"{path}.{name}", "must be a string"))
        else:
            change[name] = value
    if fields is _CHANGE_FIELDS["suppression"] and change.get("reason") is None:
        change["reason"] = "CUSTOMER_REQUEST"
    return change if len(problems) == count else None


def parse_changes(value: Any, path: str, problems: list[Problem], max_changes: int = 50) -> list[dict[str, Any]]:
    """A non-empty list of JSON changes."""
    if not isinstance(value, list) or not value:
        problems.append(Problem(path, "must be a non-empty list of changes"))
        return []
    if len(value) > max_changes:
        problems.append(Problem(path, f"more than {max_changes} changes"))
        return []
    parsed = [parse_change(item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    return [change for change in parsed if change is not None]
