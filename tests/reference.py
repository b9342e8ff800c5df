"""A deliberately simple reference of the profile contract, for tests: no import of the code under test.

Written from the contract (docs/architecture.md, "Merge semantics"), not from `processors/domain/fold.py`: every field
is a last-writer-wins register ordered by (occurred_at, rank, event_id, change index); at an equal
time the least permissive statement ranks higher; an erasure removes every register it is newer
than. It gives the profile as `schemas.codec.decode_profile` returns it (None for an erased
customer), so a test can compare what the pipeline wrote with what the contract says, field by field.
Slow and plain on purpose: it keeps every register's candidates and picks the winner at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

CHANNELS = ("EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP")
SECTIONS = ("contact_points", "consents", "topics", "frequencies", "pauses", "attributes", "suppressions")
CONSENT_RANK = {"OPTED_IN": 0, "PENDING": 1, "OPTED_OUT": 2}
ERASURE_RANK = 9


def ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


def _writes(change: dict[str, Any]) -> list[tuple[tuple[str, ...], int, dict[str, Any]]]:
    """(register key, rank, value) for every register a change sets, per the contract."""
    if "status" in change:
        return [(("consent", change["channel"], change["purpose"]), CONSENT_RANK[change["status"]],
                 {"status": change["status"], "contact_point": change["contact_point"], "expires_at": change["expires_at"]})]
    if "subscribed" in change:
        return [(("topic", change["topic"]), 0 if change["subscribed"] else 1,
                 {"subscribed": change["subscribed"], "channels": sorted(set(change["channels"]))})]
    if "cadence" in change:
        return [(("frequency", change["channel"] or "", change["topic"] or ""), 0,
                 {"cadence": change["cadence"], "max_per_week": change["max_per_week"]})]
    if "until" in change:
        rank = 0 if change["until"] is None else 1  # a pause is less permissive than a resume
        return [(("pause", channel), rank, {"until": change["until"]}) for channel in sorted(set(change["channels"])) or [""]]
    if "time_zone" in change:
        return [(("quiet_hours",), 0, {"start": change["start"], "end": change["end"], "time_zone": change["time_zone"]})]
    if "action" in change:
        value = change["value"].lower() if change["kind"] == "EMAIL" else change["value"]
        if change["action"] == "REMOVE":
            return [(("contact", change["kind"], value), 1, {"present": False})]
        writes = [(("contact", change["kind"], value), 0, {"present": True})]
        if change["action"] == "MAKE_PRIMARY":
            writes.append((("primary", change["kind"]), 0, {"value": value}))
        return writes
    if "question" in change:
        return [(("attribute", change["key"]), 0, {"value": change["value"], "question": change["question"]})]
    if "active" in change:
        return [(("suppression", change["channel"] or ""), 1 if change["active"] else 0,
                 {"active": change["active"], "reason": change["reason"]})]
    return [(("erasure",), ERASURE_RANK, {})]


def _provenance(event: dict[str, Any]) -> dict[str, Any]:
    source = event["source"]
    return {"event_id": event["event_id"], "occurred_at": event["occurred_at"], "touchpoint": source["touchpoint"],
            "system": source["system"], "actor_type": source["actor"]["type"], "actor_id": source["actor"]["id"],
            "interaction_id": source["interaction_id"], "proof": event["proof"]}


def registers(events: Iterable[dict[str, Any]]) -> tuple[dict[tuple[str, ...], tuple[tuple, dict, dict]], tuple | None, int, datetime]:
    """(winning registers: key -> (clock, value, provenance), the erasure clock, distinct events, latest occurred_at)."""
    unique = {event["event_id"]: event for event in events}
    candidates: dict[tuple[str, ...], list[tuple[tuple, dict, dict]]] = {}
    for event in unique.values():
        for index, change in enumerate(event["changes"]):
            for key, rank, value in _writes(change):
                clock = (ms(event["occurred_at"]), rank, event["event_id"], index)
                candidates.setdefault(key, []).append((clock, value, _provenance(event)))
    erasure = max((clock for clock, _, _ in candidates.pop(("erasure",), [])), default=None)
    winners = {key: max(found, key=lambda c: c[0]) for key, found in candidates.items()}
    if erasure is not None:
        winners = {key: won for key, won in winners.items() if won[0] > erasure}
    latest = max(event["occurred_at"] for event in unique.values())
    return winners, erasure, len(unique), latest


def _quiet(hours: dict[str, Any], at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(hours["time_zone"]))
    now = f"{local.hour:02d}:{local.minute:02d}"
    if hours["start"] <= hours["end"]:
        return hours["start"] <= now < hours["end"]
    return now >= hours["start"] or now < hours["end"]


def reason(values: dict[tuple[str, ...], dict[str, Any]], channel: str, at: datetime, purpose: str = "marketing") -> str:
    """Why a channel may or may not be used at `at`: the first of the documented checks that applies, else OK."""
    for scope in ("", channel):
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
    if consent["expires_at"] is not None and consent["expires_at"] <= at:
        return "EXPIRED"
    for scope in ("", channel):
        pause = values.get(("pause", scope))
        if pause and pause["until"] is not None and pause["until"] > at:
            return "PAUSED"
    hours = values.get(("quiet_hours",))
    if hours and hours["start"] is not None and _quiet(hours, at):
        return "QUIET_HOURS"
    return "OK"


def reachable(events: Iterable[dict[str, Any]], at: datetime, purpose: str = "marketing") -> dict[str, str]:
    """Per channel, the reason (OK = allowed) at `at`."""
    winners, _, _, _ = registers(events)
    values = {key: value for key, (_, value, _) in winners.items()}
    return {channel: reason(values, channel, at, purpose) for channel in CHANNELS}


def profile(customer_id: str, events: Iterable[dict[str, Any]], at: datetime | None = None) -> dict[str, Any] | None:
    """The CustomerProfile the contract gives for the events, evaluated at `at` (default: the latest
    occurred_at, as the processor emits it); None when the customer is erased and said nothing since."""
    winners, erasure, count, latest = registers(events)
    if erasure is not None and not winners:
        return None
    at = at or latest
    out: dict[str, Any] = {"customer_id": customer_id, "version": count, "updated_at": latest, "evaluated_at": at,
                           **{section: [] for section in SECTIONS}, "quiet_hours": None}
    primary = {key[1]: value["value"] for key, (_, value, _) in winners.items() if key[0] == "primary"}
    for key in sorted(winners):
        _, value, prov = winners[key]
        kind = key[0]
        if kind == "contact" and value["present"]:
            out["contact_points"].append({"kind": key[1], "value": key[2], "primary": primary.get(key[1]) == key[2],
                                          "provenance": prov})
        elif kind == "consent":
            out["consents"].append({"channel": key[1], "purpose": key[2], **value, "provenance": prov})
        elif kind == "topic":
            out["topics"].append({"topic": key[1], **value, "provenance": prov})
        elif kind == "frequency":
            out["frequencies"].append({"channel": key[1] or None, "topic": key[2] or None, **value, "provenance": prov})
        elif kind == "pause":
            out["pauses"].append({"channel": key[1] or None, **value, "provenance": prov})
        elif kind == "attribute":
            out["attributes"].append({"key": key[1], **value, "provenance": prov})
        elif kind == "suppression":
            out["suppressions"].append({"channel": key[1] or None, **value, "provenance": prov})
        elif kind == "quiet_hours" and value["start"] is not None:
            out["quiet_hours"] = {**value, "provenance": prov}
    values = {key: value for key, (_, value, _) in winners.items()}
    out["reachable"] = [{"channel": c, "allowed": (r := reason(values, c, at)) == "OK", "reason": r} for c in CHANNELS]
    return out


def utc(moment: datetime) -> datetime:
    """`moment` in UTC, to the millisecond: how a timestamp-millis field decodes."""
    return datetime.fromtimestamp(ms(moment) / 1000, UTC)
