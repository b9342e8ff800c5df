"""The touchpoint adapters against the real broker: events land under the right key and
partition and decode; bad input gets a 4xx (or a report line) and a DLQ record with its reason."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from prefstream.dlq import read_headers
from prefstream.settings import Settings
from prefstream.topics import DLQ, EVENTS, create_topics
from processors.partitioner import partition_for
from producers import call_center, sms, social
from producers.publisher import Publisher
from schemas.codec import CodecError, decode_event
from tests.kafka_for_tests import free_port
from tests.integration.helpers import read_all


@pytest.fixture(scope="module")
def publisher(kafka: Settings):
    create_topics(kafka)
    publisher = Publisher(kafka, "adapter-test")
    yield publisher
    publisher.close()


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


def dlq_reasons(kafka: Settings, source: str, count: int) -> list[dict[str, str]]:
    """Headers of this source's DLQ records, once there are at least `count`."""
    def mine(ms: list[Any]) -> list[dict[str, str]]:
        return [h for h in (read_headers(m.headers()) for m in ms) if h.get("prefstream.source") == source]
    return mine(read_all(kafka, DLQ, lambda ms: len(mine(ms)) >= count))


def assert_keyed(kafka: Settings, message: Any, subject: str) -> None:
    assert message.key() == subject.encode()
    assert message.partition() == partition_for(subject, kafka.partitions)
    assert decode_event(message.value())["subject"] == subject


async def calls(app, requests: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    """Send (method, path, json-or-bytes) requests to an in-process app; (status, json body) each."""
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        answers = []
        for method, path, body in requests:
            kwargs = {"data": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
            response = await client.request(method, path, **kwargs)
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
    ]))
    statuses = [status for status, _ in answers]
    assert statuses == [200, 200, 200, 400, 400, 413, 400, 200]
    stop, help_, other, bad_phone, _, _, future, spec = (body for _, body in answers)
    assert stop["intent"] == "opt_out" and stop["reply"].startswith("Acme:") and stop["event_id"]
    assert help_["event_id"] is None and help_["reply"] and other == {"keyword": None, "intent": None, "reply": None, "event_id": None}
    assert bad_phone["problems"] == [{"path": "from", "message": "not an E.164 phone number (+ and up to 15 digits)"}]
    assert {p["path"] for p in future["problems"]} == {"occurred_at"}
    assert spec["openapi"].startswith("3.") and "/sms/inbound" in spec["paths"]
    [message] = on_log(kafka, {stop["event_id"]})[stop["event_id"]]
    assert_keyed(kafka, message, f"phone:{phone}")
    assert decode_event(message.value())["changes"][0]["status"] == "OPTED_OUT"
    reasons = sorted(h["prefstream.reason"] for h in dlq_reasons(kafka, source, 4))
    assert reasons == ["body_too_large", "future_time", "invalid_input", "malformed_json"]


def test_social_messages_and_call_center_events(kafka: Settings, publisher: Publisher) -> None:
    handle = f"ann{uuid.uuid4().hex[:6]}"
    source = f"cc-{uuid.uuid4().hex[:6]}"
    social_answers = asyncio.run(calls(social.create_app(publisher, close_publisher=False), [
        ("POST", "/social/messages", {"platform": "instagram", "handle": f"@{handle}", "text": "please stop emailing me", "time": "2026-03-01T10:00:00Z"}),
        ("POST", "/social/messages", {"platform": "instagram", "handle": handle, "text": "nice shoes", "time": "2026-03-01T10:00:00Z"}),
        ("POST", "/social/messages", {"platform": "instagram", "handle": handle, "text": 42}),
    ]))
    assert [s for s, _ in social_answers] == [202, 200, 400]
    assert social_answers[1][1]["status"] == "no preference found"
    assert {p["path"] for p in social_answers[2][1]["problems"]} == {"text", "time"}
    dead = f"http://127.0.0.1:{free_port()}"
    agent = {"agent_id": "agent-7", "interaction_id": f"call-{handle}", "customer": f"loyalty:L-{handle}",
             "proof": {"method": "VERBAL", "recording_ref": "rec-1"}, "changes": [{"type": "consent", "channel": "PHONE", "status": "OPTED_IN"}]}
    cc_answers = asyncio.run(calls(call_center.create_app(Publisher(kafka, source), dead), [
        ("POST", "/call-center/events", agent),
        ("POST", "/call-center/events", agent | {"proof": {"method": "VERBAL"}, "changes": [{"type": "consent", "channel": "FAX", "status": "OPTED_IN"}]}),
        ("POST", "/call-center/events", agent | {"proof": {"method": "VERBAL", "recording_ref": "r"}, "changes": [{"type": "consent", "channel": "FAX", "status": "OPTED_IN"}]}),
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
