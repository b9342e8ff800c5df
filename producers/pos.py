"""Store (POS) exports: consent captured at the till, as preference events.

CSV (header row required) or JSON Lines with these fields:

    store, till, transaction, line   where it was captured; together they make the event id
                                     (uuid5), so re-uploading a file adds nothing
    loyalty_id | phone | email       at least one; the subject is the first given, in this order;
                                     the others are added as the customer's contact points
    captured_at                      ISO 8601 with an offset: the event's occurred and recorded time
                                     (late files keep their original times)
    choices                          ';'-separated `name=in|out`: a channel (email, sms, push, phone,
                                     direct_mail, whatsapp) for marketing consent, or topic:<id>
    notice_version                   optional: the version of the consent text shown at the till
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from producers import events as ev
from schemas.subjects import identifier, value_problem
from schemas.validation import Problem
from schemas.vocabulary import CHANNELS

FIELDS = ("store", "till", "transaction", "line", "loyalty_id", "phone", "email", "captured_at", "choices", "notice_version")
REQUIRED = ("store", "till", "transaction", "line", "captured_at", "choices")
CHANNEL_NAMES = {channel.lower(): channel for channel in CHANNELS}
STATUSES = {"in": True, "out": False}
CONTACT_KIND = {"loyalty_id": ("loyalty", "LOYALTY"), "phone": ("phone", "PHONE"), "email": ("email", "EMAIL")}


@dataclass(frozen=True)
class Line:
    """One line of an export: its line number, raw bytes, and the event or its problems."""

    number: int
    raw: bytes
    event: dict[str, Any] | None
    problems: list[Problem]


def parse_choices(text: str, problems: list[Problem], contact_points: dict[str, str]) -> list[dict[str, Any]]:
    """The changes of a `choices` cell, e.g. `email=in;sms=out;topic:new-arrivals=in`."""
    changes: list[dict[str, Any]] = []
    items = [item.strip() for item in text.split(";") if item.strip()]
    if not items:
        problems.append(Problem("choices", "at least one choice (name=in|out) is required"))
    for index, item in enumerate(items):
        name, sep, value = (part.strip().lower() for part in item.partition("="))
        path = f"choices[{index}]"
        if not sep or value not in STATUSES:
            problems.append(Problem(path, "not name=in or name=out"))
        elif name.startswith("topic:") and _topic_ok(name[6:]):
            changes.append(ev.topic(name[6:], STATUSES[value]))
        elif name in CHANNEL_NAMES:
            channel = CHANNEL_NAMES[name]
            point = (contact_points.get("email") if channel == "EMAIL"
                     else contact_points.get("phone") if channel in ("SMS", "PHONE", "WHATSAPP") else None)
            changes.append(ev.consent(channel, "OPTED_IN" if STATUSES[value] else "OPTED_OUT", contact_point=point))
        else:
            problems.append(Problem(path, f"unknown choice (a channel: {', '.join(CHANNEL_NAMES)}; or topic:<id>)"))
    return changes


def _topic_ok(name: str) -> bool:
    """A topic id: 1-64 characters of letters, digits, '-', '_' or '.'."""
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "-_." for c in name)


def record_event(record: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The event of one export record (a CSV row or a JSON object), or its problems."""
    problems: list[Problem] = []
    for name in sorted(set(record) - set(FIELDS)):
        problems.append(Problem(name, "unknown column"))
    values = {name: _cell(record, name, problems) for name in FIELDS}
    for name in REQUIRED:
        if values[name] is None and not any(p.path == name for p in problems):
            problems.append(Problem(name, "required"))
    contact_points: dict[str, str] = {}
    for name, (kind, _) in CONTACT_KIND.items():
        value = values[name]
        if value is not None:
            problem = value_problem(kind, value)
            if problem:
                problems.append(Problem(name, problem))
            else:
                contact_points[kind] = value.lower() if kind == "email" else value
    if not any(values[name] for name in CONTACT_KIND):
        problems.append(Problem("loyalty_id", "one of loyalty_id, phone or email is required"))
    captured = ev.time_field(values["captured_at"], "captured_at", problems) if values["captured_at"] else None
    changes = parse_choices(values["choices"], problems, contact_points) if values["choices"] else []
    if problems:
        return None, problems
    kind = next(kind for name, (kind, _) in CONTACT_KIND.items() if kind in contact_points)
    subject = identifier(kind, contact_points[kind])
    changes += [ev.contact(contact_kind, contact_points[kind_name]) for name, (kind_name, contact_kind) in CONTACT_KIND.items()
                if kind_name in contact_points and kind_name != kind]
    store, till, transaction, line = values["store"], values["till"], values["transaction"], values["line"]
    assert store is not None and till is not None and transaction is not None and line is not None and captured is not None, (
        "a required column is missing only with a problem")
    event = ev.new_event(
        ev.stable_id("pos", store, till, transaction, line),
        subject, captured, captured,
        touchpoint="POS", system=f"store-{store}/till-{till}", actor="CUSTOMER", actor_id=None,
        interaction_id=transaction, proof=ev.proof("WRITTEN", notice_version=values["notice_version"]), changes=changes,
    )
    return event, []


def _cell(record: dict[str, Any], name: str, problems: list[Problem]) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append(Problem(name, "must be text"))
        return None
    text = str(value).strip()
    if len(text) > 500:
        problems.append(Problem(name, "longer than 500 characters"))
        return None
    return text or None


def read_csv(text: str) -> Iterator[Line]:
    """The lines of a CSV export (header row first); line numbers count from the header (1)."""
    lines = text.splitlines(keepends=True)
    reader = csv.DictReader(io.StringIO(text), restkey="_extra")
    start = 2
    try:
        for row in reader:
            end = reader.line_num
            raw = "".join(lines[start - 1:end]).encode()
            if "_extra" in row or None in row.values():
                yield Line(start, raw, None, [Problem("$", f"expected {len(reader.fieldnames or [])} columns")])
            else:
                event, problems = record_event(row)
                yield Line(start, raw, event, problems)
            start = end + 1
    except csv.Error:
        yield Line(start, "".join(lines[start - 1:start]).encode(), None, [Problem("$", "malformed CSV")])


def read_jsonl(text: str) -> Iterator[Line]:
    """The lines of a JSON Lines export; blank lines are skipped."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield Line(number, line.encode(), None, [Problem("$", "not valid JSON")])
            continue
        if not isinstance(record, dict):
            yield Line(number, line.encode(), None, [Problem("$", "not a JSON object")])
            continue
        event, problems = record_event(record)
        yield Line(number, line.encode(), event, problems)


def read_export(text: str, form: str) -> Iterator[Line]:
    """The lines of an export in `form` ("csv" or "jsonl")."""
    return read_csv(text) if form == "csv" else read_jsonl(text)
