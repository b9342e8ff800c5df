"""Sink throughput (deliveries/s) per target and delivery latency at a steady rate.

    python -m tests.bench.bench_sinks [--profiles 20000] [--rate 200] [--seconds 5] [--json out.json]

Uses the cluster in KAFKA_BOOTSTRAP, or starts a local broker in a temporary folder (stopped by
PID at the end). For each target (JSON Lines file, SQLite, webhook to an aiohttp receiver in a
separate process on 127.0.0.1) one business unit runs the real SinkRunner in this process:
- throughput: `--profiles` distinct customers' profiles are produced first; deliveries/s is
  counted from the first to the last acknowledged delivery (group join excluded);
- latency: then profiles are produced at `--rate` per second for `--seconds`; latency is the
  Kafka message timestamp to the target's acknowledgement, as the runner's metric measures it,
  with batch_seconds = 0.1 (the batching time bound is part of the latency).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from prefstream.kafka_config import producer_config
from prefstream.settings import Settings
from processors.fold import fold, profile_bytes, profile_time
from sinks.delivery import Delivery
from sinks.runner import SinkRunner
from sinks.targets import Failure, Target, make_target
from tests import factories as f
from tests.kafka_for_tests import free_port, kafka_broker
from tests.integration.sinkkit import produce, source_topic, unit, wait_until

SECRET = "bench-secret"


class Recording:
    """A target wrapper that notes when each delivery was acknowledged, and its latency."""

    def __init__(self, inner: Target) -> None:
        self.inner, self.name = inner, inner.name
        self.acked: list[float] = []
        self.latencies: list[float] = []

    def open(self) -> None:
        self.inner.open()

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        failures = self.inner.write(deliveries)
        now = time.time()
        self.acked += [now] * len(deliveries)
        self.latencies += [now - d.source.timestamp_ms / 1000 for d in deliveries]
        return failures

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
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    process.start()
    try:
        import socket

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


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


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
        wait_until(lambda: len(recording.acked) >= count, 600, f"{count} deliveries to {kind}")
        throughput = (count - 1) / max(1e-9, recording.acked[-1] - recording.acked[0]) if count > 1 else 0.0
        steady = profiles(f"steady-{tag}", int(rate * seconds))
        recording.latencies.clear()
        producer = Producer(producer_config(settings))
        began = time.monotonic()
        for i, (key, value) in enumerate(steady):
            producer.produce(topic, value, key.encode())
            producer.poll(0)
            time.sleep(max(0.0, began + (i + 1) / rate - time.monotonic()))
        producer.flush(30)
        wait_until(lambda: len(recording.latencies) >= len(steady), 60, f"the steady deliveries to {kind}")
    finally:
        runner.stop()
        thread.join(60)
    latencies = sorted(recording.latencies)
    return {"deliveries_per_s": round(throughput), "latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "latency_p99_ms": round(percentile(latencies, 99) * 1000, 1), "steady_rate_per_s": rate}


def run(count: int = 20_000, rate: int = 200, seconds: float = 5.0, webhook_count: int = 5_000) -> dict[str, Any]:
    """Every target's figures, by target name."""
    with kafka_broker() as settings, tempfile.TemporaryDirectory(prefix="prefstream-bench-targets-") as folder:
        results = {
            "file": measure(settings, "file", {"type": "file", "path": f"{folder}/out.jsonl"}, count, rate, seconds),
            "sqlite": measure(settings, "sqlite", {"type": "sql", "dsn": f"sqlite:///{folder}/sink.db"}, count, rate, seconds),
        }
        with webhook_receiver() as url:
            results["webhook"] = measure(settings, "webhook", {"type": "webhook", "url": url, "secret": SECRET,
                                                               "concurrency": 32}, webhook_count, rate, seconds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=20_000, help="profiles for the file and SQLite throughput")
    parser.add_argument("--webhook-profiles", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=200, help="steady rate (profiles/s) for the latency")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    result = run(args.profiles, args.rate, args.seconds, args.webhook_profiles)
    print(f"{'target':8} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8}   (latency at {args.rate}/s)")
    for name, figures in result.items():
        print(f"{name:8} {figures['deliveries_per_s']:>13,} {figures['latency_p50_ms']:>8} {figures['latency_p99_ms']:>8}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
