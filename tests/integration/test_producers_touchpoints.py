"""The touchpoint adapters against the real broker: events land under the right key and
partition and decode; bad input gets a 4xx (or a report line) and a DLQ record with its reason."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from prefstream.core.dlq import read_headers
from prefstream.core.kafka import partition_for
from prefstream.core.settings import Settings
from prefstream.core.topics import DLQ, EVENTS, create_topics
from producers import call_center, sms, social
from producers.pos_ingest import ingest
from producers.publisher import Publisher
from producers.web import signing
from producers.web.app import create_app as web_app
from producers.web.config import WebSettings, load_web_config
from producers.web.csrf import csrf_token
from producers.web.service import PreferenceCenter
from schemas.codec import CodecError, decode_event
from tests.integration.helpers import read_all
from tests.kafka_for_tests import free_port

WEB_SECRET = b"bad-input-test-secret-0123456789abcdef"


@pytest.fixture(scope="module", autouse=True)
def topics(kafka: Settings) -> None:
    """The topics exist whichever test runs first (not every test asks for the shared publisher)."""
    create_topics(kafka)


def on_log(kafka: Settings, event_ids: set[str], copies: int = 1) -> dict[str, list[Any]]:
    """The messages on preference-events carrying these event ids, by id (once each has `copies`)."""
    by_id: dict[str, list[Any]] = {}
    seen = 0

    def complete(messages: list[Any]) -> bool:
        nonlocal seen
        for message in messages[seen:]:  # each message decoded once: the shared log holds every test's records
            try:
                event_id = decode_event(message.value())["event_id"]
            except CodecError:  # other tests' deliberate poison records share the topic
                continue
            if event_id in event_ids:
                by_id.setdefault(event_id, []).append(message)
        seen = len(messages)
        return all(len(by_id.get(event_id, ())) >= copies for event_id in event_ids)

    complete(read_all(kafka, EVENTS, complete))
    return by_id


def dlq_records(kafka: Settings, source: str, count: int) -> list[Any]:
    """This source's DLQ records, once there are at least `count`."""
    def mine(ms: list[Any]) -> list[Any]:
        return [m for m in ms if read_headers(m.headers()).get("prefstream.source") == source]
    return mine(read_all(kafka, DLQ, lambda ms: len(mine(ms)) >= count))


def dlq_reasons(kafka: Settings, source: str, count: int) -> list[dict[str, str]]:
    """Headers of this source's DLQ records, once there are at least `count`."""
    return [read_headers(m.headers()) for m in dlq_records(kafka, source, count)]


def assert_keyed(kafka: Settings, message: Any, subject: str) -> None:
    assert message.key() == subject.encode()
    assert message.partition() == partition_for(subject, kafka.partitions)
    assert decode_event(message.value())["subject"] == subject


@dataclass(frozen=True)
class Form:
    """A form-encoded request body (as SMS gateways post)."""

    raw: bytes


def request_kwargs(body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """aiohttp client arguments for a JSON value, raw bytes, a Form, or no body (None)."""
    if isinstance(body, Form):
        return {"data": body.raw, "headers": {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}}
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    return kwargs | ({"headers": headers} if headers else {})


async def calls(app, requests: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    """Send (method, path, json-or-bytes-or-Form) requests to an in-process app; (status, json body) each."""
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        answers = []
        for method, path, body in requests:
            response = await client.request(method, path, **request_kwargs(body))
            answers.append((response.status, await response.json()))
        return answers


def test_sms_keywords_land_under_the_phone_and_bad_input_goes_to_the_dlq(kafka: Settings, publisher: Publisher) -> None:
    phone = f"+1415{uuid.uuid4().int % 10**7:07d}"
    source = f"sms-{uuid.uuid4().hex[:6]}"
    app = sms.create_app(Publisher(kafka, source), "Acme")
    answers = asyncio.run(calls(app, [
        ("POST", "/sms/inbound", {"from": phone, "text": "  stop ", "message_id": f"m1-{phone}"}),
        ("POST", "/sms/inbound", {"from": phone, "text": "Help", "message_id": f"m2-{phone}"}),
        ("POST", "/sms/inbound", {"from": phone, "text": "see you soon", "message_id": f"m3-{phone}"}),
        ("POST", "/sms/inbound", {"from": "0415 555 0100", "text": "STOP", "message_id": "m4"}),
        ("POST", "/sms/inbound", b"{not json"),
        ("POST", "/sms/inbound", b"x" * (10 * 1024 * 1024)),
        ("POST", "/sms/inbound", {"from": phone, "text": "START", "message_id": "m5", "received_at": "2099-01-01T00:00:00Z"}),
        ("GET", "/openapi.json", None),
        ("POST", "/sms/inbound", Form(f"From={quote(phone)}&Body=Start&MessageSid=m6-{phone}&To=%2B15005550006".encode())),
    ]))
    statuses = [status for status, _ in answers]
    assert statuses == [200, 200, 200, 400, 400, 413, 400, 200, 200]
    stop, help_, other, bad_phone, _, _, future, spec, start = (body for _, body in answers)
    assert stop["intent"] == "opt_out" and stop["reply"].startswith("Acme:") and stop["event_id"]
    assert help_["event_id"] is None and help_["reply"] and other == {"keyword": None, "intent": None, "reply": None, "event_id": None}
    assert bad_phone["problems"] == [{"path": "from", "message": "not an E.164 phone number (+ and up to 15 digits)"}]
    assert {p["path"] for p in future["problems"]} == {"occurred_at"}
    assert spec["openapi"].startswith("3.") and "/sms/inbound" in spec["paths"]
    assert start["intent"] == "opt_in" and start["event_id"]
    found = on_log(kafka, {stop["event_id"], start["event_id"]})
    [message], [started] = found[stop["event_id"]], found[start["event_id"]]
    assert_keyed(kafka, message, f"phone:{phone}")
    assert_keyed(kafka, started, f"phone:{phone}")
    assert decode_event(message.value())["changes"][0]["status"] == "OPTED_OUT"
    assert [c.get("status", c.get("active")) for c in decode_event(started.value())["changes"]] == ["OPTED_IN", False]
    reasons = sorted(h["prefstream.reason"] for h in dlq_reasons(kafka, source, 4))
    assert reasons == ["body_too_large", "future_time", "invalid_input", "malformed_json"]


def test_social_messages_and_call_center_events(kafka: Settings, publisher: Publisher) -> None:
    handle = f"ann{uuid.uuid4().hex[:6]}"
    source = f"cc-{uuid.uuid4().hex[:6]}"
    social_answers = asyncio.run(calls(social.create_app(publisher, close_publisher=False), [
        ("POST", "/social/messages",
         {"platform": "instagram", "handle": f"@{handle}", "text": "please stop emailing me", "time": "2026-03-01T10:00:00Z"}),
        ("POST", "/social/messages", {"platform": "instagram", "handle": handle, "text": "nice shoes", "time": "2026-03-01T10:00:00Z"}),
        ("POST", "/social/messages", {"platform": "instagram", "handle": handle, "text": 42}),
    ]))
    assert [s for s, _ in social_answers] == [202, 200, 400]
    assert social_answers[1][1]["status"] == "no preference found"
    assert {p["path"] for p in social_answers[2][1]["problems"]} == {"text", "time"}
    dead = f"http://127.0.0.1:{free_port()}"
    agent = {"agent_id": "agent-7", "interaction_id": f"call-{handle}", "customer": f"loyalty:L-{handle}",
             "proof": {"method": "VERBAL", "recording_ref": "rec-1"},
             "changes": [{"type": "consent", "channel": "PHONE", "status": "OPTED_IN"}]}
    fax = [{"type": "consent", "channel": "FAX", "status": "OPTED_IN"}]
    cc_answers = asyncio.run(calls(call_center.create_app(Publisher(kafka, source), dead), [
        ("POST", "/call-center/events", agent),
        ("POST", "/call-center/events", agent | {"proof": {"method": "VERBAL"}, "changes": fax}),
        ("POST", "/call-center/events", agent | {"proof": {"method": "VERBAL", "recording_ref": "r"}, "changes": fax}),
        ("GET", "/call-center/profiles/cust-1", None),
        ("GET", "/stores/loyalty/L-1/summary", None),
    ]))
    assert [s for s, _ in cc_answers] == [202, 400, 400, 502, 502]
    assert {p["path"] for p in cc_answers[1][1]["problems"]} == {"proof.recording_ref"}
    assert cc_answers[2][1]["problems"][0]["path"] == "changes[0].channel"  # unknown channel: from event validation
    assert "processor" in cc_answers[3][1]["error"]
    social_id, agent_id = social_answers[0][1]["event_id"], cc_answers[0][1]["event_id"]
    found = on_log(kafka, {social_id, agent_id})
    assert_keyed(kafka, found[social_id][0], f"social:instagram:{handle}")
    assert_keyed(kafka, found[agent_id][0], f"loyalty:L-{handle}")
    recorded = decode_event(found[agent_id][0].value())
    assert recorded["proof"]["recording_ref"] == "rec-1" and recorded["source"]["actor"]["id"] == "agent-7"
    assert sorted(h["prefstream.reason"] for h in dlq_reasons(kafka, source, 2)) == ["invalid_event", "invalid_input"]


def test_kafka_down_gives_503(kafka: Settings) -> None:
    nowhere = replace(kafka, bootstrap=f"127.0.0.1:{free_port()}")
    app = sms.create_app(Publisher(nowhere, "sms-down", delivery_timeout=1.5))
    [(status, body)] = asyncio.run(calls(app, [("POST", "/sms/inbound", {"from": "+14155550100", "text": "STOP", "message_id": "x"})]))
    assert status == 503 and "Kafka" in body["error"]


def test_pos_file_ingested_twice_yields_the_same_events(kafka: Settings, publisher: Publisher, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    export = tmp_path / "export.csv"
    export.write_text(
        "store,till,transaction,line,loyalty_id,phone,email,captured_at,choices\n"
        f"042,3,{run}-1,1,L-{run},,ann@example.com,2020-03-01T10:15:00+01:00,email=in;topic:sales=in\n"
        f"042,3,{run}-2,1,,+1415{uuid.uuid4().int % 10**7:07d},,2020-03-01T10:20:00Z,sms=in\n"
        f"042,3,{run}-3,1,,,,2020-03-01T10:20:00Z,email=in\n"
        f"042,4,{run}-4,1,,,bob-{run}@example.com,2020-03-01T11:02:00Z,email=out\n")
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka.bootstrap_servers}
    outputs = [subprocess.run([sys.executable, "-m", "prefstream", "pos", "ingest", str(export)], env=env,
                              capture_output=True, text=True, timeout=120) for _ in range(2)]
    for done in outputs:
        assert done.returncode == 1, done.stderr
        assert "3 accepted, 1 rejected" in done.stdout and "line 4: bad_line" in done.stdout
    from producers.pos import read_csv
    lines = [line for line in read_csv(export.read_text()) if line.event]
    expected = {line.event["event_id"]: line.event for line in lines}
    found = on_log(kafka, set(expected), copies=2)
    assert found.keys() == expected.keys()
    for event_id, messages in found.items():
        assert len(messages) == 2  # the re-upload re-sent the very same event: same id, so the fold dedupes it
        assert {decode_event(m.value())["occurred_at"] for m in messages} == {expected[event_id]["occurred_at"]}
        for message in messages:
            assert_keyed(kafka, message, expected[event_id]["subject"])


# -- bad input, for every adapter: a 4xx (or a report line) with a reason, and a DLQ record ------

TEN_MB = b"x" * (10 * 1024 * 1024)
FAR = "2099-01-01T00:00:00Z"
PHONE = "+14155550123"
AGENT = {"agent_id": "agent-7", "interaction_id": "call-1", "customer": "cust-bad-input",
         "proof": {"method": "WRITTEN"}, "changes": [{"type": "consent", "channel": "EMAIL", "status": "OPTED_IN"}]}
# (adapter, path, [(body, status, DLQ reason)]); a channel or phone field only where the adapter has one
BAD_INPUT: list[tuple[str, str, list[tuple[Any, int, str]]]] = [
    ("sms", "/sms/inbound", [
        (b"{not json", 400, "malformed_json"),
        ({"text": "STOP"}, 400, "invalid_input"),  # missing fields
        ({"from": 14155550123, "text": ["STOP"], "message_id": {}}, 400, "invalid_input"),  # wrong types
        (TEN_MB, 413, "body_too_large"),
        ({"from": "0415 555 0100", "text": "STOP", "message_id": "m1"}, 400, "invalid_input"),  # not E.164
        ({"from": PHONE, "text": "STOP", "message_id": "m2", "received_at": FAR}, 400, "future_time"),
        (Form(b"From=0415+555&Body=STOP&MessageSid=m3"), 400, "invalid_input"),
        (Form(b"\xff=%%"), 400, "malformed_form"),
    ]),
    ("social", "/social/messages", [
        (b"[1, 2", 400, "malformed_json"),
        ({"platform": "instagram"}, 400, "invalid_input"),
        ({"platform": 7, "handle": ["a"], "text": 42, "time": 1}, 400, "invalid_input"),
        (TEN_MB, 413, "body_too_large"),
        ({"platform": "instagram", "handle": "ann b", "text": "stop emailing me", "time": "2026-03-01T10:00:00Z"}, 400, "invalid_input"),
        ({"platform": "instagram", "handle": "ann", "text": "stop emailing me", "time": FAR}, 400, "future_time"),
    ]),
    ("call_center", "/call-center/events", [
        (b"\xff\xfe", 400, "malformed_json"),
        ({"agent_id": "agent-7"}, 400, "invalid_input"),
        (AGENT | {"changes": [{"type": "topic", "topic": "sales", "subscribed": "yes"}]}, 400, "invalid_input"),
        (TEN_MB, 413, "body_too_large"),
        (AGENT | {"changes": [{"type": "consent", "channel": "FAX", "status": "OPTED_IN"}]}, 400, "invalid_event"),
        (AGENT | {"customer": "phone:0415 555 0100"}, 400, "invalid_input"),
        (AGENT | {"occurred_at": FAR}, 400, "future_time"),
    ]),
]


def adapter_app(name: str, publisher: Publisher):
    if name == "sms":
        return sms.create_app(publisher)
    if name == "social":
        return social.create_app(publisher)
    return call_center.create_app(publisher, f"http://127.0.0.1:{free_port()}")


@pytest.mark.parametrize("name, path, cases", BAD_INPUT, ids=[name for name, _, _ in BAD_INPUT])
def test_http_adapter_answers_bad_input_with_4xx_reason_and_dlq_record(kafka: Settings, unique: str, name: str, path: str,
                                                                      cases: list[tuple[Any, int, str]]) -> None:
    source = f"{name}-bad-{unique}"
    answers = asyncio.run(calls(adapter_app(name, Publisher(kafka, source)), [("POST", path, body) for body, _, _ in cases]))
    assert [status for status, _ in answers] == [status for _, status, _ in cases]
    for _, answer in answers:
        assert answer["error"] and answer["problems"] and all(p["path"] and p["message"] for p in answer["problems"])
        assert "0415" not in json.dumps(answer)  # reasons name fields, never values
    records = dlq_records(kafka, source, len(cases))
    dead = [read_headers(m.headers()) for m in records]
    assert sorted(h["prefstream.reason"] for h in dead) == sorted(reason for _, _, reason in cases)
    assert all(h["prefstream.error"] for h in dead)
    [too_large] = [m for m, h in zip(records, dead, strict=True) if h["prefstream.reason"] == "body_too_large"]
    assert too_large.value() == TEN_MB[:64 * 1024]  # the head of the body, as much as the body limit lets in


def test_web_json_api_answers_bad_input_with_4xx_reason_and_dlq_record(kafka: Settings, unique: str) -> None:
    customer, source = f"web-bad-{unique}", f"web-bad-{unique}"
    cases: list[tuple[Any, int, str]] = [
        (b'{"consents": ', 400, "malformed_json"),
        ([], 400, "invalid_input"),  # not an object: nothing to read the fields from
        ({"consents": {"SMS": "yes"}, "cadence": 3}, 400, "invalid_input"),  # wrong types
        (TEN_MB, 413, "body_too_large"),
        ({"consents": {"FAX": True}}, 400, "invalid_input"),  # unknown channel
        ({"phone": "0415 555 0100"}, 400, "invalid_input"),  # not E.164
        ({"pause": 100_000}, 400, "invalid_input"),  # a date far in the future: only the offered pause lengths
    ]

    async def scenario() -> list[tuple[int, Any]]:
        async def unknown(_request: web.Request) -> web.Response:
            return web.json_response({"error": "no such customer"}, status=404)

        stub = web.Application()
        stub.router.add_get("/profiles/{customer_id}/", unknown)
        async with TestServer(stub, host="127.0.0.1") as query_api:
            settings = WebSettings(WEB_SECRET, str(query_api.make_url("")).rstrip("/"), "http://127.0.0.1", dev=False)
            center = PreferenceCenter(load_web_config(), settings, Publisher(kafka, source))
            token = signing.sign(WEB_SECRET, signing.Claims(signing.ACCESS, customer, int(time.time()) + 600))
            headers = {"X-CSRF-Token": csrf_token(WEB_SECRET, token)}
            async with TestClient(TestServer(web_app(center), host="127.0.0.1")) as client:
                answers = []
                for body, _, _ in cases:
                    response = await client.post(f"/api/p/{token}/preferences", **request_kwargs(body, headers))
                    answers.append((response.status, await response.json()))
                response = await client.post(f"/p/{token}", data=TEN_MB, headers={"Content-Type": "application/x-www-form-urlencoded"})
                answers.append((response.status, None))
            center.publisher.close()
            return answers

    answers = asyncio.run(scenario())
    assert [status for status, _ in answers] == [status for _, status, _ in cases] + [413]
    for _, answer in answers[:-1]:
        assert answer["error"]
    assert {p["path"] for p in answers[4][1]["problems"]} == {"consent:FAX"}
    dead = dlq_reasons(kafka, source, len(cases) + 1)
    assert sorted(h["prefstream.reason"] for h in dead) == sorted([reason for _, _, reason in cases] + ["body_too_large"])


def test_pos_bad_lines_get_report_lines_and_dlq_records(kafka: Settings, unique: str, tmp_path: Path) -> None:
    source = f"pos-bad-{unique}"
    header = "store,till,transaction,line,loyalty_id,phone,email,captured_at,choices\n"
    export = tmp_path / "bad.csv"
    rows = [
        f"1,1,{unique},1,L-{unique},,,2026-03-01T10:00:00Z,email=in\n",  # 2: fine
        f"1,1,{unique},2,L-{unique},,,2026-03-01T10:00:00Z\n",  # 3: a column missing
        f"1,1,{unique},3,,,,2026-03-01T10:00:00Z,email=in\n",  # 4: no identifier
        f"1,1,{unique},4,L-{unique},,,2026-03-01T10:00:00Z,fax=in\n",  # 5: unknown channel
        f"1,1,{unique},5,,0415 555 0100,,2026-03-01T10:00:00Z,sms=in\n",  # 6: not E.164
        f"1,1,{unique},6,L-{unique},,,{FAR},email=in\n",  # 7: far in the future
        f"1,1,{unique},7,L-{unique},,,2026-03-01T10:00:00Z,{'x' * (10 * 1024 * 1024)}\n",  # 8: a 10 MB cell
    ]
    export.write_text(header + "".join(rows))
    lines = tmp_path / "bad.jsonl"
    json_lines = ['{"store": "1", "till": [1], "transaction": "T", "line": 1, "loyalty_id": "L-1", '
                  '"captured_at": "2026-03-01T10:00:00Z", "choices": "email=in"}', '{"store": ']
    lines.write_text("".join(line + "\n" for line in json_lines))
    publisher = Publisher(kafka, source)
    try:
        csv_report = ingest(publisher, export, "csv")
        jsonl_report = ingest(publisher, lines, "jsonl")
    finally:
        publisher.close()
    assert len(csv_report.accepted) == 1 and not jsonl_report.accepted
    assert [(number, reason) for number, reason, _ in csv_report.rejected] == [
        (3, "bad_line"), (4, "bad_line"), (5, "bad_line"), (6, "bad_line"), (7, "future_time"), (8, "bad_line")]
    assert [number for number, _, _ in jsonl_report.rejected] == [1, 2]
    assert all(problems for _, _, problems in csv_report.rejected + jsonl_report.rejected)
    records = dlq_records(kafka, source, 8)
    assert sorted(read_headers(m.headers())["prefstream.reason"] for m in records) == ["bad_line"] * 7 + ["future_time"]
    # each bad line is kept as it was in the file (bad.csv line N is rows[N - 2]), the 10 MB one cut to 64 KiB
    kept = {read_headers(m.headers())["prefstream.error"].split(":")[0]: m for m in records}
    for number in (3, 4, 5, 6):
        assert kept[f"bad.csv line {number}"].value() == rows[number - 2].encode()
    for number in (1, 2):
        assert kept[f"bad.jsonl line {number}"].value() == json_lines[number - 1].encode()
    long_line = rows[6].encode()
    cut = kept["bad.csv line 8"]
    assert len(cut.value()) == 64 * 1024 and cut.value() == long_line[:64 * 1024]
    assert read_headers(cut.headers())["prefstream.error"].endswith(f" (input cut to its first 65536 of {len(long_line)} bytes)")
