"""Audit results as JSON-ready dicts and as rich text. Pure: builds values, prints nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from prefstream.core.formats import jsonable
from processors.audit.queries import History, Replay, Verification
from processors.audit.replay import Entry
from schemas.codec import CodecError, decode_profile

_SECTIONS = ("contact_points", "consents", "topics", "frequencies", "pauses", "attributes", "suppressions")


def describe_change(change: dict[str, Any]) -> str:
    """One line for one change, e.g. `consent EMAIL/marketing OPTED_OUT`."""
    if "status" in change:
        return f"consent {change['channel']}/{change['purpose']} {change['status']}"
    if "subscribed" in change:
        return f"topic {change['topic']} {'subscribed' if change['subscribed'] else 'unsubscribed'}"
    if "cadence" in change:
        scope = "/".join(part for part in (change["channel"], change["topic"]) if part) or "all"
        cap = f" max {change['max_per_week']}/week" if change["max_per_week"] is not None else ""
        return f"frequency {scope} {change['cadence'] or ''}{cap}".rstrip()
    if "until" in change:
        channels = ",".join(change["channels"]) or "all"
        return f"pause {channels} until {change['until'].isoformat()}" if change["until"] else f"resume {channels}"
    if "time_zone" in change:
        return f"quiet hours {change['start']}-{change['end']} {change['time_zone']}" if change["start"] else "quiet hours off"
    if "action" in change:
        return f"contact {change['action']} {change['kind']} {change['value']}"
    if "question" in change:
        return f"attribute {change['key']} = {change['value']}"
    if "active" in change:
        return f"suppression {change['channel'] or 'all'} {'on' if change['active'] else 'off'} ({change['reason']})"
    return "erasure"


def entry_json(entry: Entry) -> dict[str, Any]:
    """One history line: the event as published, and where in the log it was read."""
    record = entry.record
    return jsonable({**entry.event, "log": {"topic": record.topic, "partition": record.partition, "offset": record.offset}})


def history_json(history: History) -> dict[str, Any]:
    """A history as JSON."""
    return {"subject": history.subject, "claimed_by": history.claimed_by, "rejected_records": history.rejected,
            "events": [entry_json(entry) for entry in history.entries]}


def replay_json(replay: Replay) -> dict[str, Any]:
    """A replayed profile as JSON (profile null when erased)."""
    return jsonable({"subject": replay.subject, "as_of": replay.at, "events_folded": replay.events,
                     "erased": replay.profile() is None, "profile": replay.profile()})


def export_json(history: History, replay: Replay | None, exported_at: datetime) -> dict[str, Any]:
    """A data-subject access export: history and current profile."""
    current = replay_json(replay) if replay else {"erased": False, "profile": None}
    return {"subject": history.subject, "exported_at": exported_at.isoformat(), "claimed_by": history.claimed_by,
            "erased": current["erased"], "profile": current["profile"], "history": history_json(history)["events"]}


def _version(record: bytes | None) -> str:
    if record is None:
        return "none"
    try:
        return str(decode_profile(record)["version"])
    except CodecError:
        return "undecodable"


def verification_json(verification: Verification) -> dict[str, Any]:
    """What verify found, each difference with the expected and actual versions."""
    return {"records": verification.records, "rejected_records": verification.rejected, "profiles": verification.profiles,
            "differences": [{"key": d.key, "kind": d.kind, "expected_version": _version(d.expected),
                             "actual_version": _version(d.actual)} for d in verification.differences]}


def _when(moment: datetime) -> str:
    """A time for a text column: UTC, to the second, e.g. `2026-03-01 12:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _actor(event: dict[str, Any]) -> str:
    actor = event["source"]["actor"]
    return f"{actor['type']}:{actor['id']}" if actor["id"] else actor["type"]


def _proof(proof: dict[str, Any] | None) -> str:
    if not proof:
        return "-"
    details = [f"{name}={proof[name]}" for name in ("notice_version", "recording_ref", "legal_basis") if proof.get(name)]
    return " ".join([proof["method"], *details])


def history_text(history: History) -> RenderableType:
    """A history as a table, one event per row."""
    table = Table(title=f"{history.subject}: {len(history.entries)} events", title_justify="left")
    for column in ("occurred at", "event", "touchpoint / system", "actor", "changes", "proof"):
        table.add_column(column, overflow="fold")
    for entry in history.entries:
        event = entry.event
        via = "" if event["subject"] == history.subject else f"\nvia {event['subject']}"
        table.add_row(_when(event["occurred_at"]), event["event_id"] + via,
                      f"{event['source']['touchpoint']}\n{event['source']['system']}", _actor(event),
                      "\n".join(describe_change(change) for change in event["changes"]), _proof(event["proof"]))
    notes = []
    if history.claimed_by:
        notes.append(Text(f"claimed by customer {history.claimed_by}"))
    elif history.claimed_by is None and ":" in history.subject:
        notes.append(Text("claimed by no customer"))
    if history.rejected:
        notes.append(Text(f"{history.rejected} records of this key were rejected (see the DLQ) and are not shown"))
    return Group(table, *notes)


def _provenance(prov: dict[str, Any]) -> str:
    actor = f"{prov['actor_type']}:{prov['actor_id']}" if prov["actor_id"] else prov["actor_type"]
    return f"{prov['event_id']} {_when(prov['occurred_at'])} {prov['touchpoint']} {actor} {_proof(prov['proof'])}"


def _field(section: str, item: dict[str, Any]) -> tuple[str, str]:
    shown = {k: v for k, v in item.items() if k != "provenance" and v not in (None, [])}
    return section, " ".join(f"{k}={_when(v) if isinstance(v, datetime) else v}" for k, v in shown.items())


def replay_text(replay: Replay) -> RenderableType:
    """A replayed profile: every field with the event that set it, then the reachable view."""
    profile = replay.profile()
    heading = Text(f"{replay.subject} as of {_when(replay.at)} ({replay.events} events folded)", style="bold")
    if profile is None:
        return Group(heading, Text("erased: the customer asked to be forgotten and has said nothing since"))
    fields = Table()
    for column in ("field", "value", "set by (event, occurred at, touchpoint, actor, proof)"):
        fields.add_column(column, overflow="fold")
    items = [(section, item) for section in _SECTIONS for item in profile[section]]
    if profile["quiet_hours"]:
        items.append(("quiet_hours", profile["quiet_hours"]))
    for section, item in items:
        fields.add_row(*_field(section, item), _provenance(item["provenance"]))
    reach = Table("channel", "allowed", "reason", title=f"reachable at {_when(replay.at)}", title_justify="left")
    for row in profile["reachable"]:
        reach.add_row(row["channel"], "yes" if row["allowed"] else "no", row["reason"])
    return Group(heading, fields, reach)


def verification_text(verification: Verification) -> RenderableType:
    """The summary line and, when there are any, a table of the differences."""
    found = verification.differences
    summary = Text(f"{verification.records} records, {verification.rejected} rejected, {verification.profiles} profiles rebuilt: "
                   f"{len(found)} differences", style="red" if found else "green")
    if not found:
        return summary
    table = Table("key", "difference", "expected version", "version on the topic")
    for d in found:
        table.add_row(d.key, d.kind, _version(d.expected), _version(d.actual))
    return Group(summary, table)
