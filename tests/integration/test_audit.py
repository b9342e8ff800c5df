"""history, replay, export and verify against the real broker, run as the operator runs them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from prefstream.core.kafka import partition_for, producer_config
from prefstream.core.settings import Settings
from prefstream.core.topics import CUSTOMER_EVENTS, EVENTS, IDENTITY_LINKS, TopicSpec, create_topics
from schemas.codec import encode_event, encode_profile
from tests import factories as f
from tests import reference
from tests.kafka_for_tests import free_port

TOUCHPOINTS = ["WEB", "POS", "CALL_CENTER", "SOCIAL", "SMS"]


def cli(kafka: Settings, *args: str, bootstrap: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m prefstream ARGS` against the test broker (or `bootstrap`)."""
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap or kafka.bootstrap_servers, "PREFSTREAM_PARTITIONS": str(kafka.partitions),
           "COLUMNS": "240"}
    return subprocess.run([sys.executable, "-m", "prefstream", *args], capture_output=True, text=True, env=env, timeout=120)


def produce(kafka: Settings, topic: str, records: list[tuple[str, bytes | None]]) -> list[int]:
    """Produce (key, value) records with the pipeline's producer config; the partition of each."""
    producer = Producer(producer_config(kafka))
    partitions: list[int] = [-1] * len(records)
    for index, (key, value) in enumerate(records):
        def delivered(error: Any, message: Any, index: int = index) -> None:
            assert error is None, error
            partitions[index] = message.partition()
        producer.produce(topic, value, key.encode(), on_delivery=delivered)
    assert producer.flush(30) == 0
    return partitions


def mixed_history(prefix: str, customers: int, per_customer: int,
                  seed: int) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Several customers, touchpoints, email-identifier subjects, duplicates, out of order."""
    rng = random.Random(seed)
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for n in range(customers):
        customer, email = f"{prefix}-c{n}", f"{prefix}.c{n}@example.com"
        events = [f.event(customer, [f.contact("EMAIL", email, "MAKE_PRIMARY")], f.at(0), event_id=f"{customer}-e0")]
        for i in range(1, per_customer):
            change = rng.choice([
                f.consent(rng.choice(["EMAIL", "SMS", "PUSH"]), rng.choice(["OPTED_IN", "OPTED_OUT", "PENDING"])),
                f.topic(rng.choice(["sale", "news"]), rng.random() < 0.5),
                f.attribute("size", rng.choice(["S", "M", "L"])),
                f.suppression("SMS", rng.random() < 0.5),
            ])
            subject = f"email:{email}" if rng.random() < 0.3 else customer
            events.append(f.event(subject, [change], f.at(rng.randint(0, 600)), event_id=f"{customer}-e{i}",
                                  touchpoint=rng.choice(TOUCHPOINTS)))
        by_customer[customer] = events
    sent = [event for events in by_customer.values() for event in events]
    sent += rng.sample(sent, len(sent) // 5)
    rng.shuffle(sent)
    return sent, by_customer


def restrictive(event: dict[str, Any]) -> bool:
    """The contract's rule: an opt-out (or pending), an unsubscribe or a suppression restricts contact."""
    return any(c.get("status") in ("OPTED_OUT", "PENDING") or c.get("subscribed") is False or c.get("active") is True
               for c in event["changes"])


def encoded(profile: dict[str, Any] | None) -> bytes | None:
    return None if profile is None else encode_profile(profile)


def processor_outputs(by_customer: dict[str, list[dict[str, Any]]]) -> tuple[list[tuple[str, bytes]], dict[str, bytes | None]]:
    """What the processor writes for these customers, per the contract's reference (tests/reference.py):
    re-keyed identifier events, and the profiles (restrictive identifier events also under the identifier)."""
    resent, profiles = [], {}
    for customer, events in by_customer.items():
        resent += [(customer, encode_event(e)) for e in events if e["subject"] != customer]
        profiles[customer] = encoded(reference.profile(customer, events))
        restricting = [e for e in events if e["subject"] != customer and restrictive(e)]
        for subject in {e["subject"] for e in restricting}:
            profiles[subject] = encoded(reference.profile(subject, [e for e in restricting if e["subject"] == subject]))
    return resent, profiles


@pytest.fixture
def own_topics(kafka: Settings, unique: str) -> Iterator[dict[str, str]]:
    """Events, customer-events and profiles topics of this test alone (verify reads whole topics)."""
    names = {"events": f"audit-events-{unique}", "customer_events": f"audit-cust-{unique}", "profiles": f"audit-prof-{unique}"}
    create_topics(kafka, [TopicSpec(name, kafka.partitions) for name in names.values()])
    yield names


def test_verify_finds_no_difference_then_exactly_the_overwritten_customer(kafka: Settings, unique: str, own_topics: dict[str, str]) -> None:
    sent, by_customer = mixed_history(unique, customers=30, per_customer=8, seed=7)
    resent, profiles = processor_outputs(by_customer)
    produce(kafka, own_topics["events"], [(e["subject"], encode_event(e)) for e in sent] + [(f"{unique}-c1", b"not avro")])
    produce(kafka, own_topics["customer_events"], resent)
    produce(kafka, own_topics["profiles"], sorted(profiles.items()))
    topics = ["--events-topic", own_topics["events"], "--customer-events-topic", own_topics["customer_events"],
              "--profiles-topic", own_topics["profiles"]]

    clean = cli(kafka, "verify", "--json", *topics)
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report["differences"] == [] and report["rejected_records"] == 1
    assert report["profiles"] == len(profiles) and report["records"] == len(sent) + 1 + len(resent)

    victim = f"{unique}-c3"
    produce(kafka, own_topics["profiles"], [(victim, encoded(reference.profile(victim, by_customer[victim][:2])))])
    dirty = cli(kafka, "verify", "--json", *topics)
    assert dirty.returncode == 1, dirty.stderr
    assert json.loads(dirty.stdout)["differences"] == [
        {"key": victim, "kind": "different", "expected_version": str(len(by_customer[victim])), "actual_version": "2"}]
    text = cli(kafka, "verify", *topics)
    assert text.returncode == 1 and victim in text.stdout and "1 differences" in text.stdout


def same_partition_ids(prefix: str, count: int, partitions: int) -> list[str]:
    """`count` customer ids whose keys fall in one partition."""
    target = partition_for(f"{prefix}-0", partitions)
    return [k for k in (f"{prefix}-{n}" for n in range(10_000)) if partition_for(k, partitions) == target][:count]


def test_history_replay_and_export_read_exactly_one_customer(kafka: Settings, unique: str) -> None:
    create_topics(kafka)
    ann, bob = same_partition_ids(unique, 2, kafka.partitions)
    email = f"{ann}@example.com"
    mine = [
        f.event(ann, [f.contact("EMAIL", email), f.consent("EMAIL", "OPTED_IN")], f.at(0), event_id=f"{ann}-1",
                proof=f.proof("DOUBLE_OPT_IN", notice_version="v3")),
        f.event(ann, [f.consent("EMAIL", "OPTED_OUT")], f.at(10), event_id=f"{ann}-2", touchpoint="CALL_CENTER",
                actor="AGENT", actor_id="agent-7", proof=f.proof("VERBAL", recording_ref="rec-1")),
    ]
    via_email = f.event(f"email:{email}", [f.topic("sale", True)], f.at(5), event_id=f"{ann}-3", touchpoint="SOCIAL")
    theirs = [f.event(bob, [f.consent("SMS", "OPTED_IN")], f.at(3), event_id=f"{bob}-1")]
    parts = produce(kafka, EVENTS, [(e["subject"], encode_event(e)) for e in [mine[1], *theirs, via_email, mine[0], mine[1]]])
    assert parts[0] == parts[1] == partition_for(ann, kafka.partitions)  # same partition as its neighbour
    produce(kafka, CUSTOMER_EVENTS, [(ann, encode_event(via_email))])
    produce(kafka, IDENTITY_LINKS, [(f"email:{email}", ann.encode())])
    # a till's statement of minute 6 that reached the log a day late, after everything else
    late = f.event(ann, [f.topic("news", True)], f.at(6), event_id=f"{ann}-4", touchpoint="POS", recorded_at=f.at(days=1))
    produce(kafka, EVENTS, [(ann, encode_event(late))])

    found = cli(kafka, "history", ann, "--json")
    assert found.returncode == 0, found.stderr
    events = json.loads(found.stdout)["events"]
    assert [e["event_id"] for e in events] == [f"{ann}-1", f"{ann}-3", f"{ann}-4", f"{ann}-2"]  # time order, duplicates once
    assert events[3]["source"]["actor"] == {"type": "AGENT", "id": "agent-7"} and events[3]["proof"]["recording_ref"] == "rec-1"
    text = cli(kafka, "history", ann)
    assert text.returncode == 0 and f"{ann}-2" in text.stdout and bob not in text.stdout

    by_email = json.loads(cli(kafka, "history", "--email", email.upper(), "--json").stdout)
    assert [e["event_id"] for e in by_email["events"]] == [f"{ann}-3"] and by_email["claimed_by"] == ann

    between = cli(kafka, "replay", ann, "--as-of", f.at(7).isoformat(), "--json")
    assert between.returncode == 0, between.stderr
    replayed = json.loads(between.stdout)
    (consent,) = replayed["profile"]["consents"]
    assert (consent["status"], consent["provenance"]["event_id"]) == ("OPTED_IN", f"{ann}-1")
    # as of minute 7 the customer had said minute 6's words, though the log learnt them a day later
    assert replayed["events_folded"] == 3
    assert [(t["topic"], t["provenance"]["touchpoint"]) for t in replayed["profile"]["topics"]] == [("news", "POS"), ("sale", "SOCIAL")]
    before_late = json.loads(cli(kafka, "replay", ann, "--as-of", f.at(5).isoformat(), "--json").stdout)
    assert before_late["events_folded"] == 2 and [t["topic"] for t in before_late["profile"]["topics"]] == ["sale"]
    assert next(r for r in replayed["profile"]["reachable"] if r["channel"] == "EMAIL")["allowed"] is True
    after = json.loads(cli(kafka, "replay", ann, "--as-of", f.at(10).isoformat(), "--json").stdout)
    assert after["profile"]["consents"][0]["status"] == "OPTED_OUT"
    assert "OPTED_IN" in cli(kafka, "replay", ann, "--as-of", f.at(7).isoformat()).stdout

    exported = json.loads(cli(kafka, "export", ann).stdout)
    assert [e["event_id"] for e in exported["history"]] == [f"{ann}-1", f"{ann}-3", f"{ann}-4", f"{ann}-2"]
    assert exported["profile"]["version"] == 4 and exported["erased"] is False


def test_bad_input_is_one_clear_line_and_its_exit_code(kafka: Settings, unique: str) -> None:
    create_topics(kafka)
    unknown = cli(kafka, "history", f"{unique}-nobody")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr.strip() == f"error: no events for {unique}-nobody in preference-events"
    malformed = cli(kafka, "replay", f"{unique}-x", "--as-of", "last tuesday")
    assert malformed.returncode == 2 and len(malformed.stderr.strip().splitlines()) == 1 and "--as-of" in malformed.stderr
    bad_subject = cli(kafka, "history", "email:not-an-address")
    assert bad_subject.returncode == 2 and "not-an-address" not in bad_subject.stderr
    down = cli(kafka, "history", f"{unique}-x", bootstrap=f"127.0.0.1:{free_port()}")
    assert down.returncode == 4 and len(down.stderr.strip().splitlines()) == 1 and "did not answer" in down.stderr
    verify_down = cli(kafka, "verify", bootstrap=f"127.0.0.1:{free_port()}")
    assert verify_down.returncode == 4 and "did not answer" in verify_down.stderr
    unknown_replay = cli(kafka, "replay", f"{unique}-nobody", "--as-of", "2026-03-01T12:00:00Z")
    assert unknown_replay.returncode == 1 and f"no events for {unique}-nobody" in unknown_replay.stderr
    missing = cli(kafka, "verify", "--events-topic", f"missing-{unique}")
    assert missing.returncode == 3 and f"missing-{unique}" in missing.stderr and "topics create" in missing.stderr
    everything = down.stderr + verify_down.stderr + malformed.stderr + unknown.stderr + unknown_replay.stderr + missing.stderr
    assert "Traceback" not in everything
    documented = " ".join(cli(kafka, "history", "--help").stdout.split())  # (the help text is wrapped)
    assert all(code in documented for code in ("1 nothing found", "2 bad usage", "3 bad setup", "4 Kafka unreachable"))


def test_partition_for_matches_where_the_producer_put_each_key(kafka: Settings, unique: str) -> None:
    topic = f"audit-part-{unique}"
    create_topics(kafka, [TopicSpec(topic, 12)])
    keys = [f"{unique}-{n}" for n in range(200)] + [f"email:{unique}.{n}@example.com" for n in range(50)] + ["zoë-ü", "x"]
    placed = produce(kafka, topic, [(key, b"v") for key in keys])
    assert placed == [partition_for(key, 12) for key in keys]
