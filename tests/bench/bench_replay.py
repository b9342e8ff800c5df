"""Replay benchmarks: full-log replay throughput on one core, and `history` time in a large log.

    python -m tests.bench.bench_replay --events 100000 --log-events 1000000 --json out.json

- replay: pre-encoded records in memory through what `verify` runs per record (`Rebuild.add`:
  admit, route, fold), beside two baselines on the same records in the same run: decode only
  (`decode_event`, results dropped) and the validating replay as it was (`admit`: decode + full
  validation on every record, then route and fold). CPU seconds of this process, best of
  `repeats`, so waiting for a shared core does not count;
- history: one customer's events from a 12-partition topic of `log_events` records on a real
  broker (KAFKA_BOOTSTRAP, or a local broker started in a temporary folder and stopped by PID),
  wall seconds, best of 3. Filler records reuse a small pool of encoded events under many keys:
  the partition read is full-size, only the customer's own records are decoded.

`run()` with its defaults takes about 1.5 minutes on the loaded 2-core development machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from prefstream.core.kafka import producer_config
from prefstream.core.topics import TopicSpec, admin_client, create_topics
from processors.audit.logread import LogReader, Topics
from processors.audit.queries import history
from processors.audit.replay import Rebuild, profile_keys
from processors.domain.admission import admit
from processors.domain.fold import apply, empty_state
from schemas.codec import decode_event, encode_event
from tests import factories as f
from tests.bench.warm_broker import warm_broker

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


REPLAY_TARGET = 100_000  # events/s, decode and fold on one core
HISTORY_TARGET = 2.0  # seconds, one customer in a 1,000,000-event log


def cpu_seconds(work: Callable[[], Any], repeats: int) -> float:
    """The least CPU time of this process over `repeats` runs of `work`."""
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        work()
        best = min(best, time.process_time() - began)
    return best


def decode_only(records: list[tuple[str, bytes]]) -> None:
    """Baseline: the codec's decode of every record, nothing kept."""
    for _, value in records:
        decode_event(value)


def validating_replay(records: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Baseline: the replay as it was, every record through `admit` (decode + full validation)."""
    states: dict[str, Any] = {}
    for key, value in records:
        event = admit(value, NOW_MS)
        if event is not None:
            for profile_key in profile_keys("events", key, event):
                state = states.get(profile_key)
                states[profile_key] = apply(state if state is not None else empty_state(profile_key), event)
    return states


def replay(records: list[tuple[str, bytes]]) -> Rebuild:
    """What `verify` runs per record of the log."""
    rebuild = Rebuild()
    for key, value in records:
        rebuild.add("events", key, value, NOW_MS)
    return rebuild


def replay_rates(events: int, customers: int, repeats: int = 5) -> dict[str, Any]:
    """Events per CPU second of the replay and both baselines on the same records, best of `repeats`."""
    records = log_records(events, customers)
    if replay(records).states != validating_replay(records):
        raise AssertionError("the replay and the validating replay folded different states")
    seconds = {name: cpu_seconds(lambda work=work: work(records), repeats)
               for name, work in (("decode_only", decode_only), ("validating_replay", validating_replay), ("replay", replay))}
    rates = {name: round(events / spent) for name, spent in seconds.items()}
    profile = cProfile.Profile()
    profile.runcall(replay, records)
    top = io.StringIO()
    pstats.Stats(profile, stream=top).sort_stats("tottime").print_stats(6)
    return {
        "events": events,
        "customers": customers,
        "repeats": repeats,
        "cpu_seconds": {name: round(spent, 3) for name, spent in seconds.items()},
        "events_per_s": rates,
        "replay_vs_decode_only": round(rates["replay"] / rates["decode_only"], 2),
        "replay_vs_validating_replay": round(rates["replay"] / rates["validating_replay"], 2),
        "target_events_per_s": REPLAY_TARGET,
        "met": rates["replay"] >= REPLAY_TARGET,
        "replay_profile_top": [line.strip() for line in top.getvalue().splitlines() if line.strip()[:1].isdigit()][:6],
    }


def history_time(log_events: int, partitions: int = 12, own_events: int = 50, repeats: int = 3) -> dict[str, Any]:
    """Seconds for `history` of one customer in a topic of `log_events` records."""
    topic = f"bench-replay-{uuid.uuid4().hex[:8]}"
    with warm_broker() as settings:
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
            "history_seconds_all": [round(t, 3) for t in timings], "target_seconds": HISTORY_TARGET,
            "met": min(timings) < HISTORY_TARGET}


def run(events: int = 100_000, customers: int = 10_000, log_events: int = 1_000_000) -> dict[str, Any]:
    """Both benchmarks; `log_events=0` skips the broker one."""
    result = {"replay": replay_rates(events, customers)}
    if log_events:
        result["history"] = history_time(log_events)
    return result


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(result: dict[str, Any]) -> str:
    """The figures as a Markdown table: each with its target (if any), met or not, and the ratios."""
    rep = result["replay"]
    rates = rep["events_per_s"]
    rows = [
        "| replay figure | value | × decode only | target | |",
        "|---|---:|---:|---:|---|",
        f"| full-log replay (`verify` per record: admit, route, fold), events/s on one core | {rates['replay']:,} | "
        f"{rep['replay_vs_decode_only']} | ≥ {rep['target_events_per_s']:,} | {_met(rep['met'])} |",
        f"| baseline: validating replay (decode + full validation + fold, as before), events/s | {rates['validating_replay']:,} | "
        f"{round(rates['validating_replay'] / rates['decode_only'], 2)} | | replay × {rep['replay_vs_validating_replay']} |",
        f"| baseline: decode only (`decode_event`), events/s | {rates['decode_only']:,} | 1 | | |",
    ]
    if "history" in result:
        hist = result["history"]
        rows.append(f"| `history` of one customer in a {hist['log_events']:,}-event log ({hist['partition_records_read']:,} "
                    f"records of its partition read), s | {hist['history_seconds']} | | < {hist['target_seconds']} | {_met(hist['met'])} |")
    note = (f"{rep['events']:,} single-change consent events over {rep['customers']:,} customers, CPU time, best of {rep['repeats']}; "
            "history in wall time, best of 3.")
    return "\n".join(rows) + "\n\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--log-events", type=int, default=1_000_000, help="0: skip the broker benchmark")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    result = run(args.events, args.customers, args.log_events)
    print(json.dumps(result, indent=2))
    print(markdown(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
