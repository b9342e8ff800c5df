"""Pure parsing and mapping of the touchpoint adapters: no broker."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.fold import fold, to_profile
from producers import call_center, pos, sms, social
from producers.http import BadInput
from producers.publisher import event_problems
from schemas.codec import decode_event, encode_event
from tests.reach import reach_checked, reached

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "pos-export.csv"


def valid(event: dict) -> bool:
    problems, _ = event_problems(event, NOW + timedelta(days=1), timedelta(minutes=5))
    return not problems and decode_event(encode_event(event)) is not None


# -- SMS ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("keyword, intent", [
    ("STOP", sms.OPT_OUT), ("STOPALL", sms.STOP_ALL), ("UNSUBSCRIBE", sms.OPT_OUT), ("CANCEL", sms.OPT_OUT),
    ("END", sms.OPT_OUT), ("QUIT", sms.OPT_OUT), ("START", sms.OPT_IN), ("YES", sms.OPT_IN), ("UNSTOP", sms.OPT_IN),
    ("HELP", sms.HELP), ("INFO", sms.HELP), ("stop please", None), ("hello", None), ("", None),
])
def test_keyword_table(keyword: str, intent: str | None) -> None:
    assert sms.keyword_intent(keyword) == intent


@given(st.sampled_from(sorted(sms.KEYWORDS)), st.lists(st.booleans()), st.text(" \t\n", max_size=3), st.text(" \t\n.!", max_size=3))
def test_keyword_case_and_surrounding_space_do_not_matter(keyword: str, upper: list[bool], before: str, after: str) -> None:
    mixed = "".join(c.lower() if i < len(upper) and not upper[i] else c for i, c in enumerate(keyword))
    assert sms.keyword_intent(before + mixed + after) == sms.KEYWORDS[keyword]


@pytest.mark.parametrize("intent", [sms.OPT_OUT, sms.STOP_ALL, sms.OPT_IN, sms.HELP])
def test_every_intent_has_a_branded_reply(intent: str) -> None:
    assert sms.reply_text(intent, "Acme").startswith("Acme:")


def test_stopall_opts_out_and_suppresses_sms() -> None:
    message = sms.parse_inbound({"from": "+14155550100", "text": " StopAll ", "message_id": "SM1"})
    event = sms.sms_event(message, sms.keyword_intent(message.text), NOW)
    assert event["subject"] == "phone:+14155550100" and event["proof"]["method"] == "KEYWORD"
    assert [c.get("status") or c.get("reason") for c in event["changes"]] == ["OPTED_OUT", "CUSTOMER_REQUEST"]
    assert event["event_id"] == sms.sms_event(message, sms.STOP_ALL, NOW + timedelta(hours=1))["event_id"]
    assert valid(event)


def test_start_after_stopall_lifts_the_suppression_so_sms_is_reachable_again() -> None:
    def said(text: str, minute: int) -> dict:
        message = sms.parse_inbound({"from": "+14155550100", "text": text, "message_id": f"SM{minute}"})
        return sms.sms_event(message, sms.keyword_intent(text), NOW + timedelta(minutes=minute))

    def sms_reachable(*events: dict) -> dict:
        profile = to_profile(fold("phone:+14155550100", list(events)), NOW + timedelta(hours=1))
        return next(view for view in profile["reachable"] if view["channel"] == "SMS")

    assert sms_reachable(said("STOPALL", 0)) == {"channel": "SMS", "allowed": False, "reason": "SUPPRESSED"}
    assert sms_reachable(said("STOPALL", 0), said("START", 1))["allowed"] is True
    assert sms_reachable(said("START", 1), said("STOPALL", 0))["allowed"] is True  # order of arrival does not matter
    assert sms_reachable(said("START", 0), said("STOPALL", 1))["reason"] == "SUPPRESSED"  # the later statement wins
    assert sms_reachable(said("STOPALL", 0), said("STOP", 1), said("YES", 2))["allowed"] is True


def test_form_encoded_gateway_post_reads_twilio_fields() -> None:
    raw = b"ToCountry=US&From=%2B14155550100&Body=+Stop+&MessageSid=SM9&SmsSid=SM-other&To=%2B15005550006&NumMedia=0"
    message = sms.read_inbound(raw, sms.FORM)
    assert message == sms.InboundSms("+14155550100", "Stop", "SM9", None)
    assert sms.read_inbound(b'{"from": "+14155550100", "text": "Stop", "message_id": "SM9"}', "application/json") == message
    assert sms.read_inbound(b"From=%2B14155550100&Body=Stop&SmsMessageSid=SM9", sms.FORM) == message


@pytest.mark.parametrize("raw, paths", [
    (b"From=0415+555&Body=STOP&MessageSid=SM1", {"from"}),
    (b"Body=STOP", {"from", "message_id"}),
    (b"", {"from", "text", "message_id"}),
    (b"\xff\xfe=%%", {"$"}),
])
def test_bad_form_posts_list_their_problems(raw: bytes, paths: set[str]) -> None:
    with pytest.raises(BadInput) as caught:
        sms.read_inbound(raw, sms.FORM)
    assert {p.path for p in caught.value.problems} == paths and caught.value.status == 400
    assert "0415" not in str(caught.value)


def test_sms_body_problems_are_all_listed_without_values() -> None:
    with pytest.raises(BadInput) as caught:
        sms.parse_inbound({"from": "0415 555", "text": 7, "received_at": "2026-03-01T12:00"})
    assert {p.path for p in caught.value.problems} == {"from", "text", "message_id", "received_at"}
    assert "0415" not in str(caught.value)


# -- social ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, intent, channels, topics", [
    ("Please stop emailing me", social.OPT_OUT, ("EMAIL",), ()),
    ("UNSUBSCRIBE", social.OPT_OUT, ("EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP"), ()),
    ("no more texts!!", social.OPT_OUT, ("SMS",), ()),
    ("don't text me", social.OPT_OUT, ("SMS",), ()),
    ("remove me off your whatsapp list", social.OPT_OUT, ("WHATSAPP",), ()),
    ("sign me up for emails", social.OPT_IN, ("EMAIL",), ()),
    ("send me deals by text", social.OPT_IN, ("SMS",), ("sales",)),
    ("I love your new arrivals and sneakers", social.TOPIC, (), ("new-arrivals", "sneakers")),
    ("sign me up for emails, actually no, unsubscribe", social.OPT_OUT, ("EMAIL",), ()),
])
def test_rule_table(text: str, intent: str, channels: tuple, topics: tuple) -> None:
    found = social.classify(text)
    assert (found.intent, found.channels, found.topics) == (intent, channels, topics)


@pytest.mark.parametrize("text", ["great shoes", "sign me up", "opt in", "I love this", ""])
def test_no_preference_without_a_rule_and_its_object(text: str) -> None:
    assert social.classify(text) is None


def test_social_event_subject_and_determinism() -> None:
    message = social.parse_message(
        {"platform": "Instagram", "handle": "@ann.b", "text": "stop emailing me", "time": "2026-03-01T11:00:00Z"})
    intent = social.classify(message.text)
    first, again = social.social_event(message, intent, NOW), social.social_event(message, intent, NOW + timedelta(minutes=1))
    assert first["subject"] == "social:instagram:ann.b" and first["event_id"] == again["event_id"]
    assert first["occurred_at"] == datetime(2026, 3, 1, 11, tzinfo=UTC) and valid(first)


def test_social_bad_input() -> None:
    with pytest.raises(BadInput) as caught:
        social.parse_message({"platform": "insta gram", "handle": "a:b", "text": "", "kind": "post"})
    assert {p.path for p in caught.value.problems} == {"text", "time", "kind", "handle"}


# -- call center -------------------------------------------------------------------------------

def agent_body(**overrides) -> dict:
    body = {"agent_id": "agent-7", "interaction_id": "call-99", "customer": "cust-42",
            "proof": {"method": "VERBAL", "recording_ref": "rec-2026-03-01-0099"},
            "changes": [{"type": "consent", "channel": "PHONE", "status": "OPTED_IN"},
                        {"type": "topic", "topic": "sales", "subscribed": False},
                        {"type": "suppression", "channel": "SMS"}]}
    return body | overrides


def test_agent_event_maps_changes_with_defaults_and_proof() -> None:
    event = call_center.agent_event(agent_body(), NOW)
    assert event["source"]["actor"] == {"type": "AGENT", "id": "agent-7"}
    assert event["source"]["interaction_id"] == "call-99" and event["proof"]["recording_ref"] == "rec-2026-03-01-0099"
    assert event["changes"][0] == {"channel": "PHONE", "contact_point": None, "purpose": "marketing", "status": "OPTED_IN",
                                   "expires_at": None}
    assert event["changes"][2] == {"channel": "SMS", "active": True, "reason": "CUSTOMER_REQUEST"}
    assert valid(event)
    assert decode_event(encode_event(event))["changes"] == event["changes"]


def test_a_change_type_that_is_no_text_is_a_problem_not_a_crash() -> None:
    with pytest.raises(BadInput) as caught:
        call_center.agent_event(agent_body(changes=[{"type": []}, {"type": {"kind": "consent"}}]), NOW)
    assert {p.path for p in caught.value.problems} == {"changes[0].type", "changes[1].type"}


def test_agent_event_same_request_id_same_event_id() -> None:
    body = agent_body(request_id="r-1")
    assert call_center.agent_event(body, NOW)["event_id"] == call_center.agent_event(body, NOW + timedelta(seconds=5))["event_id"]


def test_verbal_consent_needs_a_recording_and_all_problems_are_listed() -> None:
    body = agent_body(agent_id=None, proof={"method": "VERBAL"}, customer="phone:0415",
                      changes=[{"type": "consent", "channel": "EMAIL"}, {"type": "mood"},
                               {"type": "topic", "topic": "x", "subscribed": "yes"}])
    with pytest.raises(BadInput) as caught:
        call_center.agent_event(body | {"interaction_id": ""}, NOW)
    assert {p.path for p in caught.value.problems} == {
        "agent_id", "interaction_id", "customer", "proof.recording_ref", "changes[0].status", "changes[1].type", "changes[2].subscribed"}


# -- POS ---------------------------------------------------------------------------------------

def test_example_export_parses_into_valid_events() -> None:
    lines = list(pos.read_csv(EXAMPLE.read_text()))
    assert [line.number for line in lines] == [2, 3, 4] and all(not line.problems for line in lines)
    first = lines[0].event
    assert first["subject"] == "loyalty:L-5001" and first["source"]["system"] == "store-042/till-3"
    assert first["occurred_at"] == datetime(2026, 3, 1, 9, 15, tzinfo=UTC) == first["recorded_at"]
    assert {"kind": "EMAIL", "value": "ann@example.com", "action": "ADD"} in first["changes"]
    assert first["changes"][0]["contact_point"] == "ann@example.com"
    assert all(valid(line.event) for line in lines)


def test_pos_event_ids_depend_only_on_store_till_transaction_line() -> None:
    row = {"store": "1", "till": "2", "transaction": "T", "line": "1", "email": "a@b.co", "captured_at": "2026-01-01T00:00:00Z",
           "choices": "email=in"}
    same = pos.record_event(row | {"captured_at": "2026-01-02T00:00:00Z", "choices": "sms=out", "phone": "+15550000000"})[0]
    other = pos.record_event(row | {"line": "2"})[0]
    assert pos.record_event(row)[0]["event_id"] == same["event_id"] != other["event_id"]


def test_pos_bad_lines_report_their_line_numbers_and_reasons() -> None:
    text = ("store,till,transaction,line,loyalty_id,phone,email,captured_at,choices\n"
            "1,1,T1,1,,0415 555,,2026-03-01T10:00:00Z,email=in\n"
            "1,1,T2,1,L1,,,2026-03-01T10:00:00,fax=in;sms=maybe\n"
            "1,1,T3,1,L1\n"
            "1,1,T4,1,L1,,,2026-03-01T10:00:00Z,topic:sales=in\n")
    lines = list(pos.read_csv(text))
    assert [line.number for line in lines] == [2, 3, 4, 5]
    assert {p.path for p in lines[0].problems} == {"phone"}
    assert {p.path for p in lines[1].problems} == {"captured_at", "choices[0]", "choices[1]"}
    assert lines[2].problems and lines[2].raw == b"1,1,T3,1,L1\n"
    assert not lines[3].problems


def test_jsonl_export() -> None:
    text = ('{"store": "9", "till": 1, "transaction": "X", "line": 1, "phone": "+14155550100", '
            '"captured_at": "2026-03-01T10:00:00Z", "choices": "sms=in"}\n'
            '\n'
            '[1]\n'
            '{bad\n')
    lines = list(pos.read_jsonl(text))
    assert [line.number for line in lines] == [1, 3, 4] and not lines[0].problems and lines[1].problems and lines[2].problems


# -- robustness: damaged payloads never crash a parser ------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=12)
TIMES = st.sampled_from(["2026-03-01T11:00:00Z", "2026-03-01T12:30:00+01:00", "2026-03-02T09:15:00.250-05:00"])


def damaged(valid: st.SearchStrategy[dict], one_in: int = 3) -> st.SearchStrategy[dict]:
    """Mostly `valid` bodies; one in `one_in` with a field dropped, or set (or added) to any JSON value."""

    @st.composite
    def bodies(draw: st.DrawFn) -> dict:
        body = draw(valid)
        how = draw(st.integers(0, 2 * one_in - 1))
        if how < 2 * one_in - 2:
            return body
        name = draw(st.sampled_from(sorted(body)) | st.text(max_size=8))
        if how == 2 * one_in - 2:
            return {key: value for key, value in body.items() if key != name}
        return body | {name: draw(JSON)}

    return bodies()


SMS_BODIES = st.fixed_dictionaries(
    {"from": st.sampled_from(["+14155550100", "+447700900123"]),
     "text": st.sampled_from([" stop ", "StopAll", "Start!", "help", "hello"]) | st.text(max_size=30),
     "message_id": st.sampled_from(["SM1", "SM-2"]) | st.text(max_size=12)},
    optional={"received_at": TIMES})
SOCIAL_BODIES = st.fixed_dictionaries(
    {"platform": st.sampled_from(["instagram", "Twitter", "x_1"]), "handle": st.sampled_from(["@ann.b", "bob_c"]),
     "text": st.sampled_from(["Please stop emailing me", "send me deals by text", "I love your new arrivals", "great shoes"])
     | st.text(max_size=40),
     "time": TIMES},
    optional={"message_id": st.sampled_from(["m1", "m2"]), "kind": st.sampled_from(["message", "mention"])})
AGENT_CHANGES = st.sampled_from([
    {"type": "consent", "channel": "PHONE", "status": "OPTED_IN"},
    {"type": "consent", "channel": "EMAIL", "status": "OPTED_OUT", "expires_at": "2026-06-01T00:00:00Z"},
    {"type": "topic", "topic": "sales", "subscribed": False}, {"type": "frequency", "cadence": "WEEKLY", "max_per_week": 2},
    {"type": "pause", "channels": ["SMS"], "until": "2026-04-01T00:00:00Z"},
    {"type": "quiet_hours", "start": "22:00", "end": "07:00", "time_zone": "Europe/London"},
    {"type": "contact", "kind": "EMAIL", "value": "ann@example.com"}, {"type": "attribute", "key": "size", "value": "M"},
    {"type": "suppression", "channel": "SMS", "active": True}, {"type": "erasure", "reason": "asked on the phone"},
])
AGENT_BODIES = st.fixed_dictionaries(
    {"agent_id": st.just("agent-7"), "interaction_id": st.just("call-99"),
     "customer": st.sampled_from(["cust-42", "email:ann@example.com", "phone:+14155550100"]),
     "proof": st.sampled_from([{"method": "VERBAL", "recording_ref": "rec-1"}, {"method": "WRITTEN", "locale": "en-GB"}]),
     "changes": st.lists(damaged(AGENT_CHANGES, one_in=8), min_size=1, max_size=3)},
    optional={"occurred_at": TIMES, "request_id": st.just("r-1")})


POS_IDS = {"loyalty_id": "L-5001", "phone": "+14155550100", "email": "Ann@Example.com"}
POS_ID_SETS = [names for size in (1, 2, 3) for names in itertools.combinations(sorted(POS_IDS), size)]


@st.composite
def pos_records(draw: st.DrawFn) -> dict:
    """A valid export record: where, when and what was chosen, with at least one identifier."""
    record = {"store": draw(st.sampled_from(["42", 7])), "till": draw(st.sampled_from(["3", 1])),
              "transaction": draw(st.sampled_from(["T1", "T-9"])), "line": draw(st.sampled_from(["1", 2])),
              "captured_at": draw(TIMES),
              "choices": draw(st.sampled_from(["email=in", "sms=out;topic:new-arrivals=in", "push=in; whatsapp=out"]))}
    record |= {name: POS_IDS[name] for name in draw(st.sampled_from(POS_ID_SETS))}
    return record | ({"notice_version": "v3"} if draw(st.booleans()) else {})


def csv_text(records: list[dict]) -> str:
    """The records as a CSV export with a header of every column they use."""
    columns = list(dict.fromkeys(name for record in records for name in record))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


@st.composite
def export_texts(draw: st.DrawFn) -> str:
    """Mostly a CSV or JSON Lines export of mostly valid records, some cut short; else any text."""
    how = draw(st.integers(0, 5))
    if how == 5:
        return draw(st.text(max_size=300))
    records = draw(st.lists(damaged(pos_records()), min_size=1, max_size=3))
    text = csv_text(records) if draw(st.booleans()) else "".join(json.dumps(record) + "\n" for record in records)
    return text[: draw(st.integers(len(text) // 2, len(text)))] if how > 2 else text


def valid_but_for_its_time(event: dict[str, Any], passed_through: str = "") -> None:
    """An event an adapter made of input it accepted passes the publisher's validation, unless the input
    dated it ahead of NOW (refused as future_time) or a problem lies in what the adapter passes through for
    the publisher to judge (paths starting with `passed_through`, e.g. the agent's changes)."""
    problems, _reason = event_problems(event, NOW, timedelta(minutes=5))
    assert all("in the future" in problem.message or (passed_through and problem.path.startswith(passed_through))
               for problem in problems), problems


def survives(parse: Callable[[dict], Any], body: dict, passed_through: str = "") -> None:
    """The parser refuses the body with its problems, or the event it makes is valid (see valid_but_for_its_time)."""
    try:
        event = parse(body)
    except BadInput as bad:
        assert bad.problems
        return
    reached()
    if event is not None:
        valid_but_for_its_time(event, passed_through)


def sms_handled(body: dict) -> dict | None:
    """What the SMS webhook makes of a body before publishing: the event of a keyword, if any."""
    message = sms.parse_inbound(body)
    intent = sms.keyword_intent(message.text)
    return sms.sms_event(message, intent, NOW) if intent and intent != sms.HELP else None  # HELP is answered, never published


def social_handled(body: dict) -> dict | None:
    """What the social webhook makes of a body before publishing: the event of a matched rule, if any."""
    message = social.parse_message(body)
    intent = social.classify(message.text)
    return social.social_event(message, intent, NOW) if intent else None


@reach_checked()
@settings(max_examples=1000, deadline=None)
@given(damaged(SMS_BODIES))
def test_sms_parser_never_crashes(body: dict) -> None:
    survives(sms_handled, body)


@reach_checked()
@settings(max_examples=1000, deadline=None)
@given(damaged(SOCIAL_BODIES))
def test_social_parser_never_crashes(body: dict) -> None:
    survives(social_handled, body)


@reach_checked()
@settings(max_examples=1000, deadline=None)
@given(damaged(AGENT_BODIES))
def test_agent_parser_never_crashes(body: dict) -> None:
    survives(lambda b: call_center.agent_event(b, NOW), body, passed_through="changes[")  # values checked by the publisher


@reach_checked()
@settings(max_examples=1000, deadline=None)
@given(damaged(pos_records(), one_in=4))
def test_pos_record_parser_never_crashes(record: dict) -> None:
    event, problems = pos.record_event(record)
    assert (event is None) == bool(problems)
    if event is not None:
        reached()
        valid_but_for_its_time(event)


@reach_checked()
@settings(max_examples=1000, deadline=None)
@given(export_texts())
def test_pos_file_parsers_never_crash(text: str) -> None:
    for lines in (list(pos.read_csv(text)), list(pos.read_jsonl(text))):
        if any(line.event is not None for line in lines):
            reached()
        assert all((line.event is None) == bool(line.problems) for line in lines)
        numbers = [line.number for line in lines]
        assert numbers == sorted(set(numbers))  # each line reported once, in file order
        for line in lines:
            assert line.raw.decode() in text  # the bytes a dead letter keeps are the line as it was
            if line.event is not None:
                valid_but_for_its_time(line.event)
