"""Hypothesis strategies for PreferenceEvents of every change kind, customers' histories, and the
records of an events log: mostly valid, a minority invalid (one rule broken each) or damaged.

A history has several events that write the same registers at few distinct times, so ties and
order matter; a log holds a few customers with several events each, redelivered and shuffled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from hypothesis import strategies as st

from schemas.codec import encode_event
from tests import factories as f

CHANNELS = ["EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP"]
channel = st.sampled_from(CHANNELS)
# few distinct times, so equal-time ties happen often
moment = st.integers(min_value=0, max_value=6).map(lambda m: f.at(minutes=m))
optional_moment = st.none() | moment.map(lambda m: m + timedelta(days=1))
# each kind with a value of its kind; emails differing only in case are one contact point
CONTACTS = [("EMAIL", "a@x.com"), ("EMAIL", "A@x.com"), ("EMAIL", "b@x.com"), ("PHONE", "+15550001"), ("LOYALTY", "L-1")]

contact_change = st.builds(lambda contact, action: f.contact(*contact, action),
                           st.sampled_from(CONTACTS), st.sampled_from(["ADD", "REMOVE", "MAKE_PRIMARY"]))
change = st.one_of(
    st.builds(f.consent, channel, st.sampled_from(["OPTED_IN", "OPTED_OUT", "PENDING"]),
              purpose=st.sampled_from(["marketing", "service"]), expires_at=optional_moment),
    st.builds(f.topic, st.sampled_from(["sale", "news"]), st.booleans(), st.lists(channel, max_size=2)),
    st.builds(f.frequency, st.sampled_from(["DAILY", "WEEKLY", None]), channel=st.none() | channel,
              max_per_week=st.none() | st.integers(0, 3)),
    st.builds(f.pause, optional_moment, st.lists(channel, max_size=2)),
    st.builds(f.quiet_hours, st.sampled_from(["22:00", "08:00", None]), st.just("07:00"),
              st.sampled_from(["UTC", "America/Toronto"])),
    contact_change,
    st.builds(f.attribute, st.sampled_from(["size", "store"]), st.sampled_from(["M", "L", None])),
    st.builds(f.suppression, st.none() | channel, st.booleans()),
)


@st.composite
def _rarely_an_erasure(draw: st.DrawFn, otherwise: st.SearchStrategy[dict[str, Any]], odds: int) -> dict[str, Any]:
    """An erasure once in 2**odds draws, else a change of `otherwise`. (Coin tosses, not an integer:
    Hypothesis draws integers the loaded code mentions more often; and it shrinks away from erasures.)"""
    return f.erasure() if all(draw(st.booleans()) for _ in range(odds)) else draw(otherwise)


rare_erasure = _rarely_an_erasure(change, 5)  # about one history in three holds an erasure
proofs = st.none() | st.builds(f.proof, st.sampled_from(["CLICKWRAP", "VERBAL", "WRITTEN"]),
                               recording_ref=st.none() | st.just("rec-1"))


# for the laws of identities: what changes them (about one history in eight erased)
identity_change = _rarely_an_erasure(contact_change, 7)


@st.composite
def one_event(draw: st.DrawFn, subject: str, event_id: str,
              changes: st.SearchStrategy[dict[str, Any]] = rare_erasure) -> dict[str, Any]:
    """A valid event of `subject`: one to three changes, at one of few times."""
    return f.event(subject, draw(st.lists(changes, min_size=1, max_size=3)), draw(moment), event_id=event_id,
                   touchpoint=draw(st.sampled_from(["WEB", "POS", "SMS", "CALL_CENTER"])), proof=draw(proofs))


@st.composite
def events(draw: st.DrawFn, subject: str = "cust-1", max_size: int = 12, min_size: int = 2, id_prefix: str = "e",
           changes: st.SearchStrategy[dict[str, Any]] = rare_erasure) -> list[dict]:
    """A set of valid events for one customer, with distinct ids."""
    count = draw(st.integers(min_value=min_size, max_value=max_size))
    return [draw(one_event(subject, f"{id_prefix}{index:03d}-{draw(st.integers(0, 9))}", changes))
            for index in range(count)]


# the fields naming what a change is about, by a field only that kind of change has
_TARGETS = {"status": ("channel", "purpose"), "subscribed": ("topic",), "cadence": ("channel", "topic"),
            "until": ("channels",), "time_zone": (), "action": ("kind", "value"), "question": ("key",),
            "active": ("channel",), "reason": ()}


def _target(change: dict[str, Any]) -> tuple[Any, ...]:
    kind = next(field for field in _TARGETS if field in change)
    return (kind, *(str(change[field]).lower() for field in _TARGETS[kind]))


def contested(history: list[dict[str, Any]]) -> bool:
    """Whether two of the events have changes of one kind about one thing (a consent of one channel
    and purpose, one topic, one contact point...): which of them wins depends on the fold's rules."""
    said_by: dict[tuple[Any, ...], set[str]] = {}
    for event in history:
        for change in event["changes"]:
            said_by.setdefault(_target(change), set()).add(event["event_id"])
    return any(len(ids) > 1 for ids in said_by.values())


# -- records of the events log, as the processor and replay read them --------------------------

SKEW_MS = 5 * 60 * 1000  # how far ahead of its record's timestamp an event may be (the processor's rule)
SUBJECTS = ["cust-1", "cust-2", "email:a@x.com", "phone:+14155550100", "loyalty:L-1", "social:twitter:ann_b"]
CUSTOMER_KEYS = ["cust-1", "cust-2"]
LOG_KEYS = [*CUSTOMER_KEYS, "email:a@x.com", "phone:+14155550100"]  # a record's key is its event's subject
BAD_SUBJECTS = ["a b", "email:nope", "phone:12", "x:y"]
BAD_CHANGES = [  # each breaks one validation rule
    f.consent("UNKNOWN", "OPTED_IN"), f.contact("PHONE", "0155"), f.contact("EMAIL", "not-an-email"),
    f.contact("LOYALTY", "bad id"), f.frequency("DAILY", max_per_week=-1), f.frequency("DAILY", channel="UNKNOWN"),
    f.topic("sale", True, ["UNKNOWN"]), f.quiet_hours("25:00", "07:00"), f.quiet_hours("22:00", "07:00", "Mars/Base"),
    f.suppression("UNKNOWN"), f.pause(f.at(days=3), ["UNKNOWN"]),
]
# event times of odd milliseconds, one whose float seconds round below its millisecond
ODD_TIMES = [f.at(0) + timedelta(milliseconds=1), f.at(0) + timedelta(milliseconds=999),
             datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=541_169_507_341)]
# Kafka timestamps outside the range the fast admission path reads: before 1970, and after 2096
ODD_TIMESTAMPS = [-5, 5_000_000_000_000]
JUNK = [None, b"", b"not avro", b"\xc3\x01" + bytes(8) + b"\x00"]  # no value, no marker, an unknown schema


def millis_of(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime with whole milliseconds."""
    return int(moment.timestamp() * 1000)


def admitting_timestamp(event: dict[str, Any]) -> st.SearchStrategy[int]:
    """A record timestamp at or after the event's times, or up to the skew before them."""
    latest = max(millis_of(event["occurred_at"]), millis_of(event["recorded_at"]))
    return st.sampled_from([0, 1_000, 90_000, 3_600_000, -SKEW_MS]).map(lambda delay: latest + delay)


def _add_change(bad: dict[str, Any], event: dict[str, Any], timestamp: int) -> tuple[dict[str, Any], int]:
    return event | {"changes": [*event["changes"], bad]}, timestamp


def _set(field: str, value: Any, event: dict[str, Any], timestamp: int) -> tuple[dict[str, Any], int]:
    return event | {field: value}, timestamp


def _occurred_too_far_ahead(event: dict[str, Any], _timestamp: int) -> tuple[dict[str, Any], int]:
    return event | {"recorded_at": event["occurred_at"]}, millis_of(event["occurred_at"]) - SKEW_MS - 1


def _recorded_too_far_ahead(event: dict[str, Any], _timestamp: int) -> tuple[dict[str, Any], int]:
    ahead = event["occurred_at"] + timedelta(milliseconds=SKEW_MS + 1)
    return event | {"recorded_at": ahead}, millis_of(event["occurred_at"])


# each takes an event and its record timestamp to the same with one validation rule broken
DEFECTS = [
    *(partial(_add_change, bad) for bad in BAD_CHANGES),
    *(partial(_set, "subject", subject) for subject in BAD_SUBJECTS),
    partial(_set, "event_id", ""), partial(_set, "event_id", "x" * 201), partial(_set, "changes", []),
    _occurred_too_far_ahead, _recorded_too_far_ahead,
]


def defective(event: dict[str, Any], timestamp: int) -> st.SearchStrategy[tuple[dict[str, Any], int]]:
    """The event and its record timestamp with one validation rule broken (each rule alike often)."""
    return st.sampled_from(DEFECTS).map(lambda defect: defect(event, timestamp))


@st.composite
def stamped_event(draw: st.DrawFn, event: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
    """An event (drawn, or the one given) and its record's timestamp: half admissible as they are
    (some just so: a 200-character id, exactly the skew ahead, odd milliseconds), three in eight
    with one rule broken, the rest with a timestamp outside the fast path's range."""
    if event is None:
        event_id = draw(st.sampled_from(["e1", "e2", "x" * 200]))
        event = draw(one_event(draw(st.sampled_from(SUBJECTS)), event_id))
        if draw(st.integers(0, 3)) == 0:
            event |= dict.fromkeys(("occurred_at", "recorded_at"), draw(st.sampled_from(ODD_TIMES)))
    timestamp = draw(admitting_timestamp(event))
    kind = draw(st.integers(0, 7))
    if kind < 4:
        return event, timestamp
    if kind < 7:
        return draw(defective(event, timestamp))
    return event, draw(st.sampled_from(ODD_TIMESTAMPS))


def damaged(data: bytes, how: str, at: int, byte: int) -> bytes:
    """`data` truncated at `at`, with `byte` appended, or with the byte at `at` replaced."""
    if how == "truncate":
        return data[:at]
    if how == "append":
        return data + bytes([byte])
    return data[:at] + bytes([byte]) + data[at + 1:]


@st.composite
def broken_value(draw: st.DrawFn, data: bytes) -> bytes | None:
    """`data` damaged (it may still decode), or a value that is no event at all."""
    if draw(st.booleans()):
        return draw(st.sampled_from(JUNK))
    how = draw(st.sampled_from(["truncate", "append", "byte"]))
    return damaged(data, how, draw(st.integers(0, len(data) - 1)), draw(st.integers(0, 255)))


@st.composite
def record(draw: st.DrawFn, event: dict[str, Any] | None = None) -> tuple[bytes | None, int]:
    """A record's value and timestamp: mostly an admissible event's bytes (see stamped_event), one
    in ten damaged bytes or no event."""
    event, timestamp = draw(stamped_event(event))
    data = encode_event(event)
    if draw(st.integers(0, 9)) == 9:
        return draw(broken_value(data)), timestamp
    return data, timestamp


@st.composite
def rejected_record(draw: st.DrawFn) -> tuple[bytes | None, int]:
    """A record the processor most likely rejects: an event with one rule broken, or damaged bytes."""
    event = draw(one_event(draw(st.sampled_from(SUBJECTS)), "e1"))
    if draw(st.booleans()):
        invalid, timestamp = draw(defective(event, draw(admitting_timestamp(event))))
        return encode_event(invalid), timestamp
    return draw(broken_value(encode_event(event))), draw(admitting_timestamp(event))


@st.composite
def log(draw: st.DrawFn) -> list[tuple[str, bytes | None, int]]:
    """The records of an events log as (key, value, timestamp): a customer and up to two more
    customers or identifiers, with two to eight events each (see `record`), some records
    delivered twice, all shuffled."""
    customers = [draw(st.sampled_from(CUSTOMER_KEYS))]
    customers += draw(st.lists(st.sampled_from([key for key in LOG_KEYS if key not in customers]), max_size=2, unique=True))
    records = [(key, *draw(record(event)))
               for key in customers for event in draw(events(key, max_size=8, id_prefix=f"{key}/"))]
    redelivered = draw(st.lists(st.sampled_from(records), max_size=len(records) // 2))
    return draw(st.permutations(records + redelivered))
