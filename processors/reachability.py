"""May we contact a customer on a channel at a given time, and if not, why. Pure.

Checked in this order, the first that applies is the answer: SUPPRESSED (do-not-contact on the
channel or everywhere), NO_CONSENT, OPTED_OUT, PENDING_CONFIRMATION, EXPIRED, PAUSED, QUIET_HOURS;
otherwise OK.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

CHANNELS = ("EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP")


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _in_quiet_hours(quiet: dict[str, Any], at_ms: int) -> bool:
    local = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(_zone(quiet["time_zone"]))
    now = f"{local.hour:02d}:{local.minute:02d}"
    start, end = quiet["start"], quiet["end"]
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # the window spans midnight


def _reason(values: dict[tuple[str, ...], dict[str, Any]], channel: str, at_ms: int, purpose: str) -> str:
    for scope in (channel, ""):
        suppression = values.get(("suppression", scope))
        if suppression and suppression["active"]:
            return "SUPPRESSED"
    consent = values.get(("consent", channel, purpose))
    if consent is None:
        return "NO_CONSENT"
    if consent["status"] == "OPTED_OUT":
        return "OPTED_OUT"
    if consent["status"] == "PENDING":
        return "PENDING_CONFIRMATION"
    if consent["expires_at"] is not None and consent["expires_at"] <= at_ms:
        return "EXPIRED"
    for scope in (channel, ""):
        pause = values.get(("pause", scope))
        if pause and pause["until"] is not None and pause["until"] > at_ms:
            return "PAUSED"
    quiet = values.get(("quiet_hours",))
    if quiet and quiet["start"] is not None and _in_quiet_hours(quiet, at_ms):
        return "QUIET_HOURS"
    return "OK"


def reasons(values: dict[tuple[str, ...], dict[str, Any]], at_ms: int, purpose: str) -> dict[str, str]:
    """Per channel, the reachability reason ("OK" = allowed), from register values keyed as in the fold."""
    return {channel: _reason(values, channel, at_ms, purpose) for channel in CHANNELS}
