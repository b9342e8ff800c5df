"""What the customer has said (from the processor's profile), what they now ask for (a form or a
JSON body), and the changes between the two. Pure: no I/O, no clock.

A request is a `Desired` mapping whose keys name what it sets: `consent:<CHANNEL>` (bool),
`topic:<key>` (bool), `cadence` (str or None), `pause` ("keep", "resume" or days), `quiet`
((start, end, zone) or None), `email` / `phone` (str or None), `answer:<key>` (str). A key that is
absent keeps the current value. A form sets every key it shows; the JSON API only those given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from producers.web.config import Question, WebConfig
from schemas.subjects import E164, EMAIL
from schemas.validation import HH_MM, Problem
from schemas.vocabulary import CADENCES

PURPOSE = "marketing"
MAX_ANSWER = 200
Desired = dict[str, Any]


@dataclass(frozen=True)
class Current:
    """The current values the page shows; unknown consents and topics count as not given."""

    consents: dict[str, str] = field(default_factory=dict)
    email_consent_address: str | None = None
    topics: dict[str, bool] = field(default_factory=dict)
    cadence: str | None = None
    paused_until: datetime | None = None
    quiet: tuple[str, str, str] | None = None
    email: str | None = None
    phone: str | None = None
    answers: dict[str, str] = field(default_factory=dict)

    def consented(self, channel: str) -> bool:
        """Whether the channel is opted in or awaiting confirmation (shown ticked)."""
        return self.consents.get(channel) in ("OPTED_IN", "PENDING")


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _contact(profile: dict[str, Any], kind: str) -> str | None:
    points = [p for p in profile.get("contact_points", []) if p["kind"] == kind]
    primary = [p for p in points if p.get("primary")]
    return (primary or points or [{"value": None}])[0]["value"]


def current_from_profile(profile: dict[str, Any] | None, now: datetime) -> Current:
    """The current values in a profile as the processor's query API renders it (None: unknown customer)."""
    if profile is None:
        return Current()
    consents, address = {}, None
    for consent in profile.get("consents", []):
        if consent["purpose"] == PURPOSE:
            consents[consent["channel"]] = consent["status"]
            if consent["channel"] == "EMAIL":
                address = consent.get("contact_point")
    cadence = next((f["cadence"] for f in profile.get("frequencies", []) if f["channel"] is None and f["topic"] is None), None)
    until = next((_time(p["until"]) for p in profile.get("pauses", []) if p["channel"] is None), None)
    quiet = profile.get("quiet_hours")
    return Current(
        consents=consents,
        email_consent_address=address,
        topics={t["topic"]: bool(t["subscribed"]) for t in profile.get("topics", [])},
        cadence=cadence,
        paused_until=until if until and until > now else None,
        quiet=(quiet["start"], quiet["end"], quiet["time_zone"]) if quiet and quiet.get("start") else None,
        email=_contact(profile, "EMAIL"),
        phone=_contact(profile, "PHONE"),
        answers={a["key"]: a["value"] for a in profile.get("attributes", []) if a.get("value")},
    )


def open_questions(current: Current, config: WebConfig) -> list[Question]:
    """The not-yet-answered questions to ask on this visit: at most `config.max_questions`."""
    return [q for q in config.questions if q.key not in current.answers][: config.max_questions]


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_value(key: str, value: Any, config: WebConfig) -> str | None:
    """Why `value` cannot be set at `key`, or None. Messages never echo the value."""
    kind, _, name = key.partition(":")
    questions = {q.key: q for q in config.questions}
    if kind in ("consent", "topic"):
        known = {c.code for c in (config.channels if kind == "consent" else config.topics)}
        if name not in known:
            return f"unknown {'channel' if kind == 'consent' else 'topic'}"
        return None if isinstance(value, bool) else "must be true or false"
    if kind in ("email", "phone", "cadence") and value is not None and not isinstance(value, str):
        return "must be text or null"
    if kind == "cadence":
        return None if value is None or value in CADENCES else f"must be one of {', '.join(CADENCES)} or empty"
    if kind == "pause":
        return None if value in ("keep", "resume") or value in config.pause_days else "must be keep, resume or a pause length offered"
    if kind == "quiet":
        if value is None:
            return None
        start, end, zone = value
        if not all(isinstance(part, str) for part in value):
            return "start, end and time_zone must be text"
        if start not in HH_MM or end not in HH_MM:
            return "start and end must be HH:MM times"
        return None if _valid_zone(zone) else "not an IANA time zone"
    if kind == "email":
        return None if value is None or EMAIL.fullmatch(value) else "not a valid email address"
    if kind == "phone":
        return None if value is None or E164.fullmatch(value) else "not an international phone number (+ and up to 15 digits)"
    if kind == "answer":
        question = questions.get(name)
        if question is None:
            return "unknown question"
        if not isinstance(value, str) or len(value) > MAX_ANSWER:
            return f"must be text of at most {MAX_ANSWER} characters"
        return None if not question.choices or value in question.choices else "not one of the choices offered"
    return "unknown field"


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def parse_form(form: Mapping[str, str], config: WebConfig, asked: list[Question]) -> tuple[Desired, list[Problem]]:
    """The request of a submitted page: every choice the page showed (unticked boxes are False)."""
    desired: Desired = {f"consent:{c.code}": f"consent.{c.code}" in form for c in config.channels}
    desired |= {f"topic:{t.code}": f"topic.{t.code}" in form for t in config.topics}
    desired["cadence"] = _blank(form.get("cadence"))
    pause = form.get("pause", "keep")
    desired["pause"] = int(pause) if pause.isascii() and pause.isdigit() else pause  # "¹" is a digit int() refuses
    start, end = _blank(form.get("quiet_start")), _blank(form.get("quiet_end"))
    desired["quiet"] = (start, end, _blank(form.get("quiet_zone")) or "UTC") if start or end else None
    desired["email"] = _blank(form.get("email"))
    desired["phone"] = _blank(form.get("phone"))
    for question in asked:
        answer = _blank(form.get(f"answer.{question.key}"))
        if answer:
            desired[f"answer:{question.key}"] = answer
    return desired, _problems(desired, config)


def parse_json(body: Any, config: WebConfig) -> tuple[Desired, list[Problem]]:
    """The request of a JSON body: {"consents": {CHANNEL: bool}, "topics": {key: bool}, "cadence",
    "pause", "quiet_hours": {"start", "end", "time_zone"} | null, "email", "phone", "answers": {key: str}}."""
    if not isinstance(body, dict):
        return {}, [Problem("body", "must be a JSON object")]
    desired: Desired = {}
    problems = [Problem(key, "unknown field") for key in body if key not in _JSON_FIELDS]
    for section, prefix in (("consents", "consent"), ("topics", "topic"), ("answers", "answer")):
        items = body.get(section, {})
        if not isinstance(items, dict):
            problems.append(Problem(section, "must be an object"))
            continue
        desired |= {f"{prefix}:{name}": value for name, value in items.items()}
    for key in ("cadence", "pause", "email", "phone"):
        if key in body:
            desired[key] = body[key]
    if "quiet_hours" in body:
        quiet = body["quiet_hours"]
        if quiet is not None and not (isinstance(quiet, dict) and {"start", "end"} <= set(quiet)):
            problems.append(Problem("quiet_hours", "must be null or an object with start, end and time_zone"))
        else:
            desired["quiet"] = None if quiet is None else (quiet["start"], quiet["end"], quiet.get("time_zone") or "UTC")
    return desired, problems + _problems(desired, config)


_JSON_FIELDS = frozenset({"consents", "topics", "cadence", "pause", "quiet_hours", "email", "phone", "answers"})


def _problems(desired: Desired, config: WebConfig) -> list[Problem]:
    problems = []
    for key, value in desired.items():
        message = _check_value(key, value, config)
        if message:
            problems.append(Problem(key, message))
    return problems


@dataclass(frozen=True)
class Plan:
    """The changes one request makes, and the address to confirm when EMAIL became PENDING."""

    changes: list[dict[str, Any]]
    problems: list[Problem]
    confirm_email: str | None = None


def consent(channel: str, status: str, contact_point: str | None = None) -> dict[str, Any]:
    """A ChannelConsent change for the marketing purpose."""
    return {"channel": channel, "contact_point": contact_point, "purpose": PURPOSE, "status": status, "expires_at": None}


def _contact_changes(kind: str, old: str | None, new: str | None) -> list[dict[str, Any]]:
    same = (old or "").lower() == (new or "").lower() if kind == "EMAIL" else old == new
    if same:
        return []
    changes = [{"kind": kind, "value": new, "action": "MAKE_PRIMARY"}] if new else []
    return changes + ([{"kind": kind, "value": old, "action": "REMOVE"}] if old else [])


def _email_consent(current: Current, desired: Desired, email: str | None) -> tuple[list[dict[str, Any]], list[Problem], str | None]:
    wants = desired.get("consent:EMAIL", current.consented("EMAIL"))
    if not wants:
        return ([consent("EMAIL", "OPTED_OUT")] if current.consented("EMAIL") else []), [], None
    if email is None:
        if "consent:EMAIL" not in desired:  # consented elsewhere without an address; not asked now
            return [], [], None
        return [], [Problem("email", "an email address is needed for email messages")], None
    same_address = (current.email_consent_address or current.email or "").lower() == email.lower()
    if current.consented("EMAIL") and same_address:
        return [], [], None
    return [consent("EMAIL", "PENDING", email)], [], email


def plan(current: Current, desired: Desired, config: WebConfig, now: datetime) -> Plan:
    """The changes that make `current` what `desired` asks, and nothing that is already so.

    Email consent goes to PENDING (double opt-in) when newly given or moved to a new address.
    """
    changes: list[dict[str, Any]] = []
    email = desired.get("email", current.email)
    changes += _contact_changes("EMAIL", current.email, email)
    changes += _contact_changes("PHONE", current.phone, desired.get("phone", current.phone))
    email_changes, problems, confirm = _email_consent(current, desired, email)
    changes += email_changes
    for choice in config.channels:
        wanted = desired.get(f"consent:{choice.code}")
        if choice.code != "EMAIL" and wanted is not None and wanted != (current.consents.get(choice.code) == "OPTED_IN"):
            changes.append(consent(choice.code, "OPTED_IN" if wanted else "OPTED_OUT"))
    for topic in config.topics:
        wanted = desired.get(f"topic:{topic.code}")
        if wanted is not None and wanted != current.topics.get(topic.code, False):
            changes.append({"topic": topic.code, "subscribed": wanted, "channels": []})
    if "cadence" in desired and desired["cadence"] != current.cadence:
        changes.append({"channel": None, "topic": None, "cadence": desired["cadence"], "max_per_week": None})
    pause = desired.get("pause", "keep")
    if pause == "resume" and current.paused_until is not None:
        changes.append({"channels": [], "until": None})
    elif isinstance(pause, int):
        changes.append({"channels": [], "until": now + timedelta(days=pause)})
    if "quiet" in desired and desired["quiet"] != current.quiet:
        start, end, zone = desired["quiet"] or (None, None, "UTC")
        changes.append({"start": start, "end": end, "time_zone": zone})
    questions = {q.key: q for q in config.questions}
    for key, value in desired.items():
        name = key.removeprefix("answer:")
        if key.startswith("answer:") and value and current.answers.get(name) != value:
            changes.append({"key": name, "value": value, "question": questions[name].question})
    return Plan(changes, problems, confirm)


def unsubscribe_all(config: WebConfig) -> list[dict[str, Any]]:
    """Opt out of every channel and topic: always stated in full, since the shown state may lag."""
    changes = [consent(choice.code, "OPTED_OUT") for choice in config.channels]
    return changes + [{"topic": topic.code, "subscribed": False, "channels": []} for topic in config.topics]
