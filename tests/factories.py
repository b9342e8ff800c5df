"""Concise builders of valid PreferenceEvents, one per change kind, for tests and benchmarks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float = 0, *, hours: float = 0, days: float = 0) -> datetime:
    """A time relative to T0, a fixed moment the tests reason about."""
    return T0 + timedelta(minutes=minutes, hours=hours, days=days)


def event(
    subject: str,
    changes: list[dict[str, Any]],
    occurred_at: datetime = T0,
    *,
    event_id: str | None = None,
    touchpoint: str = "WEB",
    system: str = "web-preference-center",
    actor: str = "CUSTOMER",
    actor_id: str | None = None,
    interaction_id: str | None = None,
    proof: dict[str, Any] | None = None,
    recorded_at: datetime | None = None,
) -> dict[str, Any]:
    """A complete PreferenceEvent dict, as the codec encodes and decodes it."""
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "subject": subject,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at or occurred_at,
        "source": {
            "touchpoint": touchpoint,
            "system": system,
            "actor": {"type": actor, "id": actor_id},
            "interaction_id": interaction_id,
        },
        "proof": proof,
        "changes": changes,
    }


def proof(method: str = "CLICKWRAP", **fields: Any) -> dict[str, Any]:
    """A Proof record; unnamed fields are null."""
    base = {"method": method, "notice_version": None, "locale": None, "ip": None, "user_agent": None,
            "recording_ref": None, "legal_basis": "CONSENT"}
    return base | fields


def consent(channel: str, status: str, *, purpose: str = "marketing", contact_point: str | None = None,
            expires_at: datetime | None = None) -> dict[str, Any]:
    return {"channel": channel, "contact_point": contact_point, "purpose": purpose, "status": status, "expires_at": expires_at}


def topic(name: str, subscribed: bool, channels: list[str] | None = None) -> dict[str, Any]:
    return {"topic": name, "subscribed": subscribed, "channels": channels or []}


def frequency(cadence: str | None = "WEEKLY", *, channel: str | None = None, topic: str | None = None,
              max_per_week: int | None = None) -> dict[str, Any]:
    return {"channel": channel, "topic": topic, "cadence": cadence, "max_per_week": max_per_week}


def pause(until: datetime | None, channels: list[str] | None = None) -> dict[str, Any]:
    return {"channels": channels or [], "until": until}


def quiet_hours(start: str | None, end: str | None, time_zone: str = "UTC") -> dict[str, Any]:
    return {"start": start, "end": end, "time_zone": time_zone}


def contact(kind: str, value: str, action: str = "ADD") -> dict[str, Any]:
    return {"kind": kind, "value": value, "action": action}


def attribute(key: str, value: str | None, question: str | None = "?") -> dict[str, Any]:
    return {"key": key, "value": value, "question": question}


def suppression(channel: str | None = None, active: bool = True, reason: str = "CUSTOMER_REQUEST") -> dict[str, Any]:
    return {"channel": channel, "active": active, "reason": reason}


def erasure(reason: str | None = "customer request") -> dict[str, Any]:
    return {"reason": reason}
