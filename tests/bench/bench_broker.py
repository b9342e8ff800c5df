"""The broker's ceiling, measured with Kafka's own perf tools (ProducerPerformance and
ConsumerPerformance from the kafka-tools jar in .prefstream/kafka/lib, run with `java -cp`).

Records of 300 bytes (about a PreferenceEvent), acks=all, lz4, into a fresh topic with the
pipeline's partition count; then one consumer reads them all back.

    python -m tests.bench.bench_broker --records 200000
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import uuid
from typing import Any

from prefstream.core.settings import Settings
from prefstream.core.topics import TopicSpec, create_topics
from prefstream.local.broker import ensure_jars
from tests.bench.warm_broker import warm_broker

RECORD_BYTES = 300


def _java(settings: Settings, main: str, *args: str) -> str:
    lib = ensure_jars(settings)
    done = subprocess.run(["java", "-Xmx512m", "-cp", f"{lib}/*", main, *args], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    if done.returncode:
        raise RuntimeError(f"{main} failed: {done.stderr[-500:]}")
    return done.stdout


def produce(settings: Settings, topic: str, records: int) -> dict[str, Any]:
    """ProducerPerformance at full speed: records/s, MB/s and latency averages."""
    out = _java(settings, "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(records),
                "--record-size", str(RECORD_BYTES), "--throughput", "-1", "--producer-props",
                f"bootstrap.servers={settings.bootstrap_servers}", "acks=all", "compression.type=lz4", "linger.ms=5")
    last = out.strip().splitlines()[-1]
    found = {unit: float(value) for value, unit in re.findall(r"([\d.]+) (records/sec|ms avg latency|ms 50th|ms 99th)", last)}
    return {"records_per_s": round(found["records/sec"]), "avg_latency_ms": found["ms avg latency"],
            "p50_ms": found.get("ms 50th"), "p99_ms": found.get("ms 99th")}


def consume(settings: Settings, topic: str, records: int) -> dict[str, Any]:
    """ConsumerPerformance reading every record once: records/s and MB/s."""
    out = _java(settings, "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", settings.bootstrap_servers,
                "--topic", topic, "--messages", str(records), "--group", f"bench-{uuid.uuid4().hex[:6]}", "--timeout", "60000")
    header, row = [line for line in out.strip().splitlines() if "," in line][-2:]
    values = dict(zip((h.strip() for h in header.split(",")), (v.strip() for v in row.split(",")), strict=False))
    return {"records_per_s": round(float(values["nMsg.sec"])), "mb_per_s": round(float(values["MB.sec"]), 1)}


def run(records: int = 200_000) -> dict[str, Any]:
    """Producer then consumer ceiling on one fresh topic."""
    with warm_broker() as settings:
        topic = f"bench-ceiling-{uuid.uuid4().hex[:6]}"
        create_topics(settings, [TopicSpec(topic, settings.partitions, {"retention.ms": "3600000"})])
        return {"records": records, "record_bytes": RECORD_BYTES, "partitions": settings.partitions,
                "producer": produce(settings, topic, records), "consumer": consume(settings, topic, records)}


def markdown(result: dict[str, Any]) -> str:
    """Two table rows: the producer and the consumer ceiling."""
    producer, consumer = result["producer"], result["consumer"]
    return "\n".join([
        "| measure | figure | note |", "|---|---|---|",
        f"| broker ceiling: `kafka-producer-perf-test` ({result['records']:,} x {result['record_bytes']} B, acks=all, lz4) "
        f"| {producer['records_per_s']:,} records/s | avg {producer['avg_latency_ms']} ms, p99 {producer['p99_ms']} ms |",
        f"| broker ceiling: `kafka-consumer-perf-test` | {consumer['records_per_s']:,} records/s | {consumer['mb_per_s']} MB/s |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    result = run(parser.parse_args().records)
    print(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
