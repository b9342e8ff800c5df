"""Replay benchmarks: full-log replay throughput on one core, and `history` time in a large log.

    python -m tests.bench.bench_replay --events 200000 --log-events 1000000 --json out.json

- replay: pre-encoded records in memory through what `verify` runs per record (admit: decode +
  validate; route; fold), beside decode-only and decode + validate on the same records;
- history: one customer's events from a 12-partition topic of `--log-events` records on a real
  broker (KAFKA_BOOTSTRAP, or a local broker started in a temporary folder and stopped by PID).
  Filler records reuse a small pool of encoded events under many keys: the partition read is
  full-size, only the customer's own records are decoded.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from prefstream.kafka_config import producer_config
from prefstream.topics import TopicSpec, admin_client, create_topics
from processors.admission import admit
from processors.audit import history
from processors.logread import LogReader, Topics
from processors.replay import Rebuild
from schemas.codec import decode_event, encode_event
from tests.kafka_for_tests import kafka_broker
from tests import factories as f

CHANNELS = ["EMAIL", "SMS", "PUSH", "PHONE"]
STATUSES = ["OPTED_IN", "OPTED_OUT", "PENDING"]
NOW_MS = int(time.time() * 1000)


def log_records(count: int, customers: int) -> list[tuple[str, bytes]]:
    """(key, value) of single-change consent events spread over `customers`, as in the log."""
    return [
        (f"cust-{i % customers}", encode_event(f.event(f"cust-{i % customers}", [f.consent(CHANNELS[i % 4], STATUSES[i % 3])],
                                                         f.at(i / 60), event_id=f"e{i}")))
        for i in range(count)
    ]


def _seconds(work: Any) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def _replay(records: list[tuple[str, bytes]]) -> None:
    rebuild = Rebuild()
    for key, value in records:
        rebuild.add("events", key, value, NOW_MS)


def replay_rates(events: int, customers: int, repeats: int = 3) -> dict[str, Any]:
    """Events per second of decode-only, decode + validate, and the full replay (route + fold), best of `repeats`."""
    records = log_records(events, customers)
    timings = {
        "decode_only": min(_seconds(lambda: [decode_event(v) for _, v in records]) for _ in range(repeats)),
        "decode_validate": min(_seconds(lambda: [admit(v, NOW_MS) for _, v in records]) for _ in range(repeats)),
        "replay": min(_seconds(lambda: _replay(records)) for _ in range(repeats)),
    }
    profile = cProfile.Profile()
    profile.runcall(_replay, records)
    top = io.StringIO()
    pstats.Stats(profile, stream=top).sort_stats("tottime").print_stats(8)
    return {
        "events": events,
        "customers": customers,
        "events_per_s": {name: round(events / seconds) for name, seconds in timings.items()},
        "replay_profile_top": [line.strip() for line in top.getvalue().splitlines() if line.strip()[:1].isdigit()][:8],
    }


def history_time(log_events: int, partitions: int = 12, own_events: int = 50, repeats: int = 3) -> dict[str, Any]:
    """Seconds for `history` of one customer in a topic of `log_events` records."""
    topic = f"bench-replay-{uuid.uuid4().hex[:8]}"
    with kafka_broker() as settings:
        create_topics(settings, [TopicSpec(topic, partitions)])
        try:
            target = "cust-target"
            own = [encode_event(f.event(target, [f.consent(CHANNELS[i % 4], STATUSES[i % 3])], f.at(i), event_id=f"t{i}"))
                   for i in range(own_events)]
            pool = [value for _, value in log_records(1000, 1000)]
            producer = Producer(producer_config(settings, **{"linger.ms": 50, "batch.num.messages": 10000}))
            began = time.perf_counter()
            for i in range(log_events - own_events):
                while True:
                    try:
                        producer.produce(topic, pool[i % 1000], f"cust-{i % 100_000}".encode())
                        break
                    except BufferError:
                        producer.poll(0.1)
                if i % (log_events // own_events) == 0 and own:
                    producer.produce(topic, own.pop(), target.encode())
            for value in own:
                producer.produce(topic, value, target.encode())
            assert producer.flush(120) == 0
            del producer
            produce_seconds = time.perf_counter() - began
            timings = []
            for _ in range(repeats):
                began = time.perf_counter()
                with LogReader(settings) as reader:
                    found = history(reader, Topics(events=topic, customer_events=f"{topic}-none"), target)
                timings.append(time.perf_counter() - began)
            assert len(found.entries) == own_events
            with LogReader(settings) as reader:
                partition = reader.partition_of(topic, target)
                low, high = reader.extent(topic, partition)
        finally:
            admin_client(settings).delete_topics([topic])
    return {"log_events": log_events, "partitions": partitions, "partition_records_read": high - low,
            "produce_seconds": round(produce_seconds, 1), "history_seconds": round(min(timings), 3),
            "history_seconds_all": [round(t, 3) for t in timings]}


def run(events: int = 200_000, customers: int = 10_000, log_events: int = 1_000_000) -> dict[str, Any]:
    """Both benchmarks; `log_events=0` skips the broker one."""
    result = {"replay": replay_rates(events, customers)}
    if log_events:
        result["history"] = history_time(log_events)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--log-events", type=int, default=1_000_000, help="0: skip the broker benchmark")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    result = run(args.events, args.customers, args.log_events)
    print(json.dumps(result, indent=2))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
