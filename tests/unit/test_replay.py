"""The pure parts of replay and audit: routing, ordering, the as-of filter, diffing, rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prefstream.core.formats import parse_time
from processors.audit.queries import BadSubject, History, Replay, Verification, check_subject
from processors.audit.render import describe_change, history_json, replay_json, verification_json
from processors.audit.replay import Difference, LogRecord, Rebuild, as_of, differences, entries_for, fold_entries, profile_keys
from processors.domain.fold import fold, profile_time
from processors.domain.profile_encoding import profile_bytes
from schemas.codec import encode_event
from tests import factories as f

NOW_MS = int((f.T0 + timedelta(days=1)).timestamp() * 1000)


def record(key: str, event: dict | None, role: str = "events", offset: int = 0, value: bytes | None = None, ts: int = NOW_MS) -> LogRecord:
    return LogRecord(role, "t", 0, offset, key, value if value is not None else encode_event(event), ts)


def test_routing_customer_ids_resolved_copies_and_restricting_identifier_events() -> None:
    optin = f.event("email:a@x.com", [f.consent("EMAIL", "OPTED_IN")])
    optout = f.event("email:a@x.com", [f.consent("EMAIL", "OPTED_OUT")])
    assert profile_keys("events", "cust-1", f.event("cust-1", [f.topic("sale", True)])) == ("cust-1",)
    assert profile_keys("customer_events", "cust-1", optin) == ("cust-1",)
    assert profile_keys("events", "email:a@x.com", optin) == ()
    assert profile_keys("events", "email:a@x.com", optout) == ("email:a@x.com",)


def test_entries_are_the_keys_admitted_events_once_in_time_order() -> None:
    late = f.event("c", [f.consent("SMS", "OPTED_OUT")], f.at(10), event_id="b")
    early = f.event("c", [f.consent("SMS", "OPTED_IN")], f.at(0), event_id="z")
    tie = f.event("c", [f.topic("news", True)], f.at(10), event_id="a")
    future = f.event("c", [f.topic("x", True)], f.at(days=30), event_id="f")
    records = [record("c", late), record("other", early), record("c", early, offset=2), record("c", late, offset=3),
               record("c", tie), record("c", None, value=b"junk"), record("c", future)]
    entries, rejected = entries_for("c", records)
    assert [e.event["event_id"] for e in entries] == ["z", "a", "b"]
    assert entries[0].record.offset == 2 and rejected == 2  # junk, and an event beyond the record's time + skew


def test_as_of_keeps_events_at_or_before_the_moment() -> None:
    entries, _ = entries_for("c", [record("c", f.event("c", [f.consent("SMS", "OPTED_IN")], f.at(m), event_id=str(m))) for m in (0, 5, 10)])
    assert [e.event["event_id"] for e in as_of(entries, f.at(5))] == ["0", "5"]
    state = fold_entries("c", as_of(entries, f.at(7)))
    assert state.version == 2


@pytest.mark.parametrize("text", ["2026-03-01T12:00:00Z", "2026-03-01T12:00:00+00:00", "2026-03-01T12:00:00", "2026-03-01 12:00"])
def test_parse_time_accepts_iso_8601_and_assumes_utc(text: str) -> None:
    assert parse_time(text) == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_parse_time_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        parse_time("last tuesday")


def test_rebuild_routes_like_the_processor_and_emits_tombstones_for_the_erased() -> None:
    claim = f.event("ann", [f.contact("EMAIL", "a@x.com")], f.at(0), event_id="1")
    stop = f.event("email:a@x.com", [f.consent("EMAIL", "OPTED_OUT")], f.at(1), event_id="2")
    forget = f.event("bob", [f.erasure()], f.at(2), event_id="3")
    rebuild = Rebuild()
    for role, key, event in [("events", "ann", claim), ("events", "email:a@x.com", stop), ("customer_events", "ann", stop),
                             ("events", "bob", forget), ("events", "ann", claim)]:
        rebuild.add(role, key, encode_event(event), NOW_MS)
    rebuild.add("events", "bob", b"junk", NOW_MS)
    expected = rebuild.expected()
    assert expected["bob"] is None and rebuild.rejected == 1 and rebuild.records == 6
    ann, ident = fold("ann", [claim, stop]), fold("email:a@x.com", [stop])
    assert expected["ann"] == profile_bytes(ann, profile_time(ann))
    assert expected["email:a@x.com"] == profile_bytes(ident, profile_time(ident))


def test_differences_missing_extra_different_and_tombstones() -> None:
    one, two = (profile_bytes(s, profile_time(s)) for s in (fold("a", [f.event("a", [f.topic("x", True)])]),
                                                             fold("a", [f.event("a", [f.topic("y", True)])])))
    expected = {"same": one, "missing": one, "changed": one, "erased": None, "erased-gone": None, "erased-but-there": None}
    actual = {"same": one, "changed": two, "erased": None, "erased-but-there": one, "extra": two, "old-tombstone": None}
    assert [(d.key, d.kind) for d in differences(expected, actual)] == [
        ("changed", "different"), ("erased-but-there", "different"), ("extra", "extra"), ("missing", "missing")]


def test_check_subject_names_the_rule_not_the_value() -> None:
    assert check_subject("phone:+14155550100") == "phone:+14155550100"
    with pytest.raises(BadSubject) as error:
        check_subject("email:secret-person")
    assert "secret-person" not in str(error.value)


def test_describe_change_reads_like_a_sentence() -> None:
    assert describe_change(f.consent("EMAIL", "OPTED_OUT")) == "consent EMAIL/marketing OPTED_OUT"
    assert describe_change(f.topic("sale", False)) == "topic sale unsubscribed"
    assert describe_change(f.pause(None, ["SMS"])) == "resume SMS"
    assert describe_change(f.suppression(None)) == "suppression all on (CUSTOMER_REQUEST)"
    assert describe_change(f.erasure()) == "erasure"
    assert describe_change(f.frequency("WEEKLY", channel="EMAIL", max_per_week=2)) == "frequency EMAIL WEEKLY max 2/week"


def test_json_renderings_are_plain_json() -> None:
    event = f.event("c", [f.consent("EMAIL", "OPTED_IN")], f.at(0), event_id="e1", proof=f.proof())
    entries, _ = entries_for("c", [record("c", event, offset=4)])
    history = history_json(History("c", entries, 0, None))
    assert history["events"][0]["occurred_at"] == f.at(0).isoformat() and history["events"][0]["log"]["offset"] == 4
    replay = replay_json(Replay("c", f.at(1), fold_entries("c", entries), 1))
    assert replay["profile"]["consents"][0]["provenance"]["event_id"] == "e1" and replay["as_of"] == f.at(1).isoformat()
    assert replay_json(Replay("c", f.at(1), fold("c", [f.event("c", [f.erasure()])]), 1))["erased"] is True
    state = fold_entries("c", entries)
    found = verification_json(Verification(3, 1, 1, [Difference("c", "missing", profile_bytes(state, profile_time(state)), None)]))
    assert found["differences"] == [{"key": "c", "kind": "missing", "expected_version": "1", "actual_version": "none"}]
