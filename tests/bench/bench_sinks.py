"""Sink throughput (deliveries/s) per target and delivery latency at a steady rate, beside a plain
consumer in the same run.

    python -m tests.bench.bench_sinks [--profiles 10000] [--webhook-profiles 3000] [--rate 200]
                                      [--seconds 5] [--json out.json]

Uses the cluster in KAFKA_BOOTSTRAP, or starts a local broker in a temporary folder (stopped by
PID at the end); PostgreSQL is Debian's, started in a temporary folder (fsync off, as in the tests)
and left out if it is not installed. For each target (JSON Lines file, SQLite, PostgreSQL, Kafka
topic, and a webhook to an aiohttp receiver in a separate process on 127.0.0.1) one business unit
runs the real SinkRunner in this process:
- throughput: `--profiles` distinct customers' profiles are produced first; deliveries/s is
  counted from the first to the last acknowledged delivery (group join excluded);
- latency: then profiles are produced at `--rate` per second for `--seconds`; latency is the
  profile's Kafka timestamp (when it was produced) to the target's acknowledgement, as the
  runner's metric measures it, with batch_seconds = 0.1 (the batching time bound is part of it).
The baseline is a plain confluent-kafka consumer (no decode, no target, no commit) on the same
records: the transport's ceiling and floor, so each target's figure is also a ratio to it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from prefstream.core.kafka import consumer_config, producer_config
from prefstream.core.settings import Settings
from processors.domain.fold import fold, profile_time
from processors.domain.profile_encoding import profile_bytes
from sinks.delivery import Delivery
from sinks.runner import SinkRunner
from sinks.targets import Failure, Target, make_target
from tests import factories as f
from tests.bench.warm_broker import warm_broker
from tests.integration.postgres import postgres_running
from tests.integration.sinkkit import produce, source_topic, unit, wait_until
from tests.kafka_for_tests import free_port

SECRET = "bench-secret"


class Tally:
    """When each record was acknowledged (or consumed), and its latency from its Kafka timestamp."""

    def __init__(self) -> None:
        self.acked: list[float] = []
        self.latencies: list[float] = []

    def note(self, now: float, timestamps_ms: list[int]) -> None:
        """Record acknowledgements at `now` of records produced at `timestamps_ms`."""
        self.acked += [now] * len(timestamps_ms)
        self.latencies += [now - ms / 1000 for ms in timestamps_ms]


class Recording(Tally):
    """A target wrapper that tallies each acknowledged delivery."""

    def __init__(self, inner: Target) -> None:
        super().__init__()
        self.inner, self.name = inner, inner.name

    def open(self) -> None:
        self.inner.open()

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        failures = self.inner.write(deliveries)
        self.note(time.time(), [d.source.timestamp_ms for d in deliveries])
        return failures

    def interrupt(self) -> None:
        self.inner.interrupt()

    def close(self) -> None:
        self.inner.close()


def _serve(port: int) -> None:
    """A webhook receiver answering 204 after checking the signature (runs in a child process)."""
    from aiohttp import web

    from sinks.targets.webhook import SIGNATURE_HEADER, sign

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(status=204 if request.headers.get(SIGNATURE_HEADER) == sign(SECRET, body) else 401)

    app = web.Application()
    app.router.add_post("/profiles", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextmanager
def webhook_receiver() -> Iterator[str]:
    """The URL of a receiver in a child process, terminated on exit."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    process.start()
    try:
        wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 30, "the webhook receiver")
        yield f"http://127.0.0.1:{port}/profiles"
    finally:
        process.terminate()
        process.join(10)


def profiles(prefix: str, count: int) -> list[tuple[str, bytes]]:
    """One single-event profile per customer."""
    out = []
    for i in range(count):
        customer = f"{prefix}-{i}"
        state = fold(customer, [f.event(customer, [f.consent("EMAIL", "OPTED_IN")], f.at(i / 1000), event_id=f"e{i}")])
        out.append((customer, profile_bytes(state, profile_time(state))))
    return out


WARM_UP_TOPIC = "bench-sinks-warm-up"


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def produce_steadily(settings: Settings, topic: str, records: list[tuple[str, bytes]], rate: int) -> None:
    """Produce `records` at `rate` per second (each sent at its own moment, not in bursts).

    The producer first sends one record to a topic no sink reads and waits for it: librdkafka holds
    a new idempotent producer's first records ~0.5 s (measured on the local broker), which gave the
    first tenth of a 5 s run at 200/s half a second of latency, the whole p99 (~0.5 s) of every
    target and of the plain consumer until 2026-11-23.
    """
    producer = Producer(producer_config(settings, **{"linger.ms": 0}))
    producer.produce(source_topic(settings, WARM_UP_TOPIC), b"", b"warm-up")
    assert producer.flush(30) == 0
    began = time.monotonic()
    for i, (key, value) in enumerate(records):
        producer.produce(topic, value, key.encode())
        producer.poll(0)
        time.sleep(max(0.0, began + (i + 1) / rate - time.monotonic()))
    assert producer.flush(30) == 0


def _figures(recording: Tally, settings: Settings, topic: str, what: str, count: int, rate: int,
             seconds: float) -> dict[str, Any]:
    """Throughput of the backlog already produced, then latency at a steady rate."""
    wait_until(lambda: len(recording.acked) >= count, 600, f"{count} deliveries to {what}")
    elapsed = recording.acked[count - 1] - recording.acked[0]
    steady = profiles(f"steady-{uuid.uuid4().hex[:6]}", int(rate * seconds))
    recording.latencies.clear()
    produce_steadily(settings, topic, steady, rate)
    wait_until(lambda: len(recording.latencies) >= len(steady), 60, f"the steady deliveries to {what}")
    latencies = sorted(recording.latencies)
    return {"deliveries_per_s": round((count - 1) / max(1e-9, elapsed)) if count > 1 else 0, "deliveries": count,
            "latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "latency_p99_ms": round(percentile(latencies, 99) * 1000, 1)}


def measure_plain(settings: Settings, count: int, rate: int, seconds: float) -> dict[str, Any]:
    """The baseline: a plain consumer's rate and latency on the same kind of records."""
    tag = uuid.uuid4().hex[:6]
    topic = source_topic(settings, f"bench-profiles-plain-{tag}")
    produce(settings, topic, profiles(f"bulk-{tag}", count))
    recording = Tally()
    done = threading.Event()

    def consume() -> None:
        consumer = Consumer(consumer_config(settings, f"bench-plain-{tag}"))
        consumer.subscribe([topic])
        try:
            while not done.is_set():
                arrived = consumer.consume(1, timeout=0.1)  # returns as the first record arrives
                messages = [m for m in arrived + (consumer.consume(499, timeout=0) if arrived else []) if not m.error()]
                recording.note(time.time(), [m.timestamp()[1] for m in messages])
        finally:
            consumer.close()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        return _figures(recording, settings, topic, "the plain consumer", count, rate, seconds)
    finally:
        done.set()
        thread.join(30)


def measure(settings: Settings, kind: str, target: dict[str, Any], count: int, rate: int, seconds: float) -> dict[str, Any]:
    """Throughput, then steady-rate latency, of one business unit with the given target."""
    tag = uuid.uuid4().hex[:6]
    topic = source_topic(settings, f"bench-profiles-{kind}-{tag}")
    config = unit(f"bench-{kind}-{tag}", topic, target, sections=["consents", "reachable"], batch_size=500,
                  batch_seconds=0.1)
    recording = Recording(make_target(config, settings))
    runner = SinkRunner(config, settings, target=recording)
    produce(settings, topic, profiles(f"bulk-{tag}", count))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        return _figures(recording, settings, topic, kind, count, rate, seconds)
    finally:
        runner.stop()
        thread.join(60)


def run(count: int = 10_000, rate: int = 200, seconds: float = 5.0, webhook_count: int = 3_000) -> dict[str, Any]:
    """The plain consumer's and every target's figures (about 100 s with the defaults on the
    2-core development machine, broker start-up included)."""
    began = time.monotonic()
    with ExitStack() as stack:
        settings = stack.enter_context(warm_broker())
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="prefstream-bench-targets-"))
        plain = measure_plain(settings, count, rate, seconds)
        targets: dict[str, dict[str, Any]] = {
            "file": {"type": "file", "path": f"{folder}/out.jsonl"},
            "sqlite": {"type": "sql", "dsn": f"sqlite:///{folder}/sink.db"},
        }
        skipped: dict[str, str] = {}
        try:
            targets["postgresql"] = {"type": "sql", "dsn": stack.enter_context(postgres_running()).dsn}
        except RuntimeError as error:
            skipped["postgresql"] = str(error)
        targets["topic"] = {"type": "topic"}
        figures = {kind: measure(settings, kind, target, count, rate, seconds) for kind, target in targets.items()}
        url = stack.enter_context(webhook_receiver())
        figures["webhook"] = measure(settings, "webhook", {"type": "webhook", "url": url, "secret": SECRET,
                                                           "concurrency": 32}, webhook_count, rate, seconds)
    for result in figures.values():
        result["vs_plain"] = round(result["deliveries_per_s"] / max(1, plain["deliveries_per_s"]), 3)
    return {"rate_per_s": rate, "seconds": seconds, "plain": plain, "targets": figures, "skipped": skipped,
            "elapsed_s": round(time.monotonic() - began)}


def markdown(result: dict[str, Any]) -> str:
    """A short Markdown table of the figures: one row per target, the plain consumer first."""
    plain = result["plain"]
    lines = [
        f"latency at {result['rate_per_s']:,} profiles/s for {result['seconds']:g} s, profile produced to target "
        f"acknowledgement (batch_seconds 0.1); whole benchmark {result['elapsed_s']} s",
        "",
        "| target | deliveries/s | × plain consumer | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        f"| plain consumer (baseline: no decode, no target, no commit) | {plain['deliveries_per_s']:,} | 1 "
        f"| {plain['latency_p50_ms']} | {plain['latency_p99_ms']} |",
    ]
    for name, figures in result["targets"].items():
        lines.append(f"| {name} ({figures['deliveries']:,} profiles) | {figures['deliveries_per_s']:,} | "
                     f"{figures['vs_plain']:.3f} | {figures['latency_p50_ms']} | {figures['latency_p99_ms']} |")
    lines += [f"| {name} | skipped: {reason} | | | |" for name, reason in result["skipped"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=10_000, help="profiles for the throughput (all but the webhook)")
    parser.add_argument("--webhook-profiles", type=int, default=3_000)
    parser.add_argument("--rate", type=int, default=200, help="steady rate (profiles/s) for the latency")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the steady run")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    result = run(args.profiles, args.rate, args.seconds, args.webhook_profiles)
    print(markdown(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
