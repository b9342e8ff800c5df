"""The webhook target through an outage (503s, then refused connections) while profiles flow:
after recovery every customer's latest profile is there, none regressed, nothing lost. What
keeps failing ends in the business unit's dead-letter topic with the reason. The receiver checks
every request's signature with the documented header and its own HMAC-SHA256; the documents are
compared with tests/sink_reference.py."""

from __future__ import annotations

import os
import threading
import time

from prometheus_client import REGISTRY

from prefstream.core.dlq import read_headers
from prefstream.core.settings import Settings
from tests.integration.helpers import read_all
from tests.integration.sinkkit import expected_documents, history, produce, running, settle, source_topic, unit
from tests.integration.webhook_receiver import Receiver

SECRET = "outage-secret"
# The scenario is 30 s down; PREFSTREAM_SINK_OUTAGE_SECONDS shortens it for quick runs.
OUTAGE = float(os.environ.get("PREFSTREAM_SINK_OUTAGE_SECONDS", "30"))


def metric(name: str, business_unit: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"business_unit": business_unit, **labels}) or 0.0


def test_outage_then_recovery_delivers_every_latest_profile(kafka: Settings, unique: str) -> None:
    topic = source_topic(kafka, f"profiles-{unique}")
    receiver = Receiver(SECRET).start()
    settings = {"sections": ["consents", "topics", "reachable"]}
    config = unit(f"outage-{unique}", topic, {"type": "webhook", "url": receiver.url, "secret": SECRET,
                                                "timeout_seconds": 1, "concurrency": 8},
                  **settings, batch_size=20, batch_seconds=0.2,
                  retry={"max_attempts": 10_000, "backoff_initial": 0.05, "backoff_max": 1.0})
    customers = [f"cust-{i}" for i in range(30)]
    histories = {c: history(c, 5) for c in customers}
    latest_version = {c: 0 for c in customers}

    def flow(versions: range, seconds: float) -> None:
        """Produce each customer's next versions, spread evenly over `seconds`."""
        for v in versions:
            produce(kafka, topic, [(c, histories[c][v - 1]) for c in customers])
            for c in customers:
                latest_version[c] = v
            time.sleep(seconds / len(versions))

    try:
        with running(config, kafka):
            flow(range(1, 2), 0)
            settle(lambda: {c: d["version"] for c, d in receiver.latest().items()}, latest_version, 30, "the first versions")
            receiver.status = 503
            producer = threading.Thread(target=flow, args=(range(2, 6), OUTAGE))
            producer.start()
            time.sleep(OUTAGE / 2)
            receiver.down()  # now connections are refused
            time.sleep(OUTAGE / 2)
            receiver.status = 200
            receiver.up()
            producer.join()
            settle(lambda: {c: d["version"] for c, d in receiver.latest().items()}, latest_version, 30,
                   "every customer's latest version after recovery")
    finally:
        receiver.stop()
    assert latest_version == {c: 5 for c in customers}
    assert receiver.latest() == expected_documents(settings, {c: histories[c][-1] for c in customers})
    for customer, documents in receiver.received.items():
        versions = [d["version"] for d in documents]
        assert versions == sorted(versions), f"{customer} regressed: {versions}"
    assert receiver.bad_signatures == 0
    assert metric("prefstream_sink_retried_total", config.name) > 0
    assert metric("prefstream_sink_dead_lettered_total", config.name, reason="retries_exhausted") == 0
    assert metric("prefstream_sink_delivered_total", config.name) >= len(customers) * 2
    assert metric("prefstream_sink_delivery_latency_seconds_count", config.name) >= len(customers) * 2


def test_what_keeps_failing_is_dead_lettered_with_its_reason(kafka: Settings, unique: str) -> None:
    topic = source_topic(kafka, f"profiles-{unique}")
    receiver = Receiver(SECRET).start()
    receiver.failing = {"cust-poison": 500, "cust-rejected": 422}
    settings = {"sections": ["consents"]}
    config = unit(f"dlq-{unique}", topic, {"type": "webhook", "url": receiver.url, "secret": SECRET},
                  **settings, batch_size=10, batch_seconds=0.2,
                  retry={"max_attempts": 3, "backoff_initial": 0.05, "backoff_max": 0.1})
    poison = history("cust-poison", 2)
    healthy = history("cust-ok", 2)
    records = [("cust-ok", p) for p in healthy] + [("cust-poison", p) for p in poison]
    records += [("cust-rejected", history("cust-rejected", 1)[0]), ("cust-garbage", b"\xc3\x01not avro")]
    produce(kafka, topic, records)
    try:
        with running(config, kafka):
            dead = read_all(kafka, config.dlq_topic, lambda found: len(found) >= 3, timeout=30)
            settle(lambda: {c: d["version"] for c, d in receiver.latest().items()}, {"cust-ok": 2}, 10, "the healthy customer")
    finally:
        receiver.stop()
    assert receiver.latest() == expected_documents(settings, {"cust-ok": healthy[-1]})
    by_key = {m.key(): (read_headers(m.headers()), m.value()) for m in dead}
    assert by_key[b"cust-poison"][0]["prefstream.reason"] == "retries_exhausted"
    assert "HTTP 500" in by_key[b"cust-poison"][0]["prefstream.error"]
    assert by_key[b"cust-poison"][1] in poison  # the original bytes (the batch's latest)
    assert by_key[b"cust-rejected"][0]["prefstream.reason"] == "webhook_rejected"
    assert by_key[b"cust-garbage"][0]["prefstream.reason"] == "undecodable"
    assert by_key[b"cust-garbage"][0]["prefstream.source"] == f"sink:{config.name}"
    assert by_key[b"cust-garbage"][0]["prefstream.original.topic"] == topic
    assert metric("prefstream_sink_retried_total", config.name) >= 2
    assert metric("prefstream_sink_dead_lettered_total", config.name, reason="retries_exhausted") >= 1


def test_retrying_longer_than_the_poll_interval_keeps_the_group_membership(kafka: Settings, unique: str) -> None:
    """The webhook answers 503 for over twice `max.poll.interval.ms`: the sink keeps polling with its
    partitions paused while the write retries, so it is never kicked out of its group (no
    rebalance, no second delivery of anything), and delivers everything once the webhook recovers."""
    topic = source_topic(kafka, f"profiles-{unique}")
    receiver = Receiver(SECRET).start()
    config = unit(f"longretry-{unique}", topic, {"type": "webhook", "url": receiver.url, "secret": SECRET,
                                                   "timeout_seconds": 1},
                  sections=["consents"], batch_size=50, batch_seconds=0.2, session_timeout_seconds=6,
                  max_poll_interval_seconds=6, retry={"max_attempts": 10_000, "backoff_initial": 0.05, "backoff_max": 0.5})
    customers = [f"cust-{i}" for i in range(10)]
    try:
        with running(config, kafka):
            produce(kafka, topic, [(c, history(c, 1)[0]) for c in customers])
            settle(lambda: {c: d["version"] for c, d in receiver.latest().items()}, {c: 1 for c in customers}, 30,
                   "the first versions")
            receiver.status = 503
            produce(kafka, topic, [(c, history(c, 2)[1]) for c in customers])
            time.sleep(2.5 * config.max_poll_interval_seconds)
            receiver.status = 200
            settle(lambda: {c: d["version"] for c, d in receiver.latest().items()}, {c: 2 for c in customers}, 30,
                   "every latest version after the long retry")
            time.sleep(1)  # a kicked-out member would rejoin, get revoked and redeliver now
    finally:
        receiver.stop()
    assert metric("prefstream_sink_rebalances_total", config.name) == 0
    assert {c: [d["version"] for d in documents] for c, documents in receiver.received.items()} == \
        {c: [1, 2] for c in customers}
    assert metric("prefstream_sink_retried_total", config.name) > len(customers)
