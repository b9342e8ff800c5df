"""Throughput of the pure fold on one core, beside a decode-only baseline measured in the same run
on the same records.

    python -m tests.bench.bench_fold --events 200000 --customers 10000 --json out.json

Single-change consent events spread round-robin over the customers. The measurements:
- decode_only: fastavro `schemaless_reader` of each body (what a fastavro consumer pays; the baseline);
- decode_event: `schemas.codec.decode_event` (checks the header, then the compiled reader);
- fold_spliced: decode_event, apply, profile_bytes (the fold's part of the processor, per event);
- fold_plain: decode_event, apply, encode_profile(to_profile(...)) (the same bytes, no item cache);
- processor: what the processor does per event around its RocksDB table, minus Kafka and RocksDB:
  decode_event, decode_state of the customer's stored bytes, apply, encode_state, profile_bytes.
  Nothing is cached between events: every register of the state is parsed, and its profile item
  encoded, on every event.

Every figure is the best of `--repeats` interleaved runs, timed in CPU seconds of this process (time
spent waiting for a shared core does not count), in events per second and as a ratio to decode_only:
the machine may be shared and noisy, and the ratios move less than the rates.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import time
from collections.abc import Callable
from typing import Any

from fastavro import schemaless_reader

from processors.domain.fold import State, apply, empty_state, profile_time, to_profile
from processors.domain.profile_encoding import profile_bytes
from processors.domain.state_codec import decode_state, encode_state
from schemas.codec import EVENTS, HEADER_SIZE, decode_event, encode_event, encode_profile
from tests import factories as f

CHANNELS = ["EMAIL", "SMS", "PUSH", "PHONE"]
STATUSES = ["OPTED_IN", "OPTED_OUT", "PENDING"]


def single_change_events(count: int, customers: int) -> list[bytes]:
    """Encoded single-change consent events spread over `customers`.

    Event i goes to customer i % customers on channel i % 4: with a number of customers divisible
    by 4 every customer keeps one consent register; otherwise customers collect up to four.
    """
    return [
        encode_event(f.event(f"cust-{i % customers}", [f.consent(CHANNELS[i % 4], STATUSES[i % 3])],
                             f.at(i / 60), event_id=f"e{i}"))
        for i in range(count)
    ]


def decode_only(records: list[bytes]) -> float:
    """Seconds for the raw fastavro decode of every body, nothing else."""
    schema = EVENTS.current
    began = time.process_time()
    for record in records:
        buffer = io.BytesIO(record)
        buffer.seek(HEADER_SIZE)
        schemaless_reader(buffer, schema, None)
    return time.process_time() - began


def decode_events(records: list[bytes]) -> float:
    """Seconds for `decode_event` of every record."""
    began = time.process_time()
    for record in records:
        decode_event(record)
    return time.process_time() - began


def _spliced(state: State) -> bytes:
    return profile_bytes(state, profile_time(state))


def _plain(state: State) -> bytes:
    return encode_profile(to_profile(state, profile_time(state)))


def decode_fold_encode(records: list[bytes], encode: Callable[[State], bytes]) -> float:
    """Seconds for the fold's part of the processor: decode, fold, encode the profile."""
    states: dict[str, State] = {}
    began = time.process_time()
    for record in records:
        event = decode_event(record)
        customer = event["subject"]
        state = apply(states.get(customer) or empty_state(customer), event)
        states[customer] = state
        encode(state)
    return time.process_time() - began


def processor_path(records: list[bytes]) -> float:
    """Seconds for the processor's per-event path with states kept as bytes (as in its table):
    decode the event, decode the customer's state, apply, encode the state, encode the profile."""
    table: dict[str, bytes] = {}
    began = time.process_time()
    for record in records:
        event = decode_event(record)
        customer = event["subject"]
        raw = table.get(customer)
        before = decode_state(raw) if raw is not None else empty_state(customer)
        after = apply(before, event)
        table[customer] = encode_state(after)
        profile_bytes(after, profile_time(after))
    return time.process_time() - began


def run(events: int, customers: int, repeats: int = 3) -> dict[str, Any]:
    """Every measurement on the same records, best of `repeats` each, in events per second."""
    records = single_change_events(events, customers)
    measures: dict[str, Callable[[], float]] = {
        "decode_only": lambda: decode_only(records),
        "decode_event": lambda: decode_events(records),
        "fold_spliced": lambda: decode_fold_encode(records, _spliced),
        "fold_plain": lambda: decode_fold_encode(records, _plain),
        "processor": lambda: processor_path(records),
    }
    timings = {name: float("inf") for name in measures}
    for _ in range(repeats):  # interleaved, so a busy spell on a shared machine hits every figure alike
        for name, measure in measures.items():
            timings[name] = min(timings[name], measure())
    return {
        "events": events,
        "customers": customers,
        "events_per_s": {name: round(events / seconds) for name, seconds in timings.items()},
        "ratio_to_decode_only": {name: round(timings["decode_only"] / seconds, 3) for name, seconds in timings.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


PATHS = {
    "decode_only": "decode only (fastavro `schemaless_reader`, the baseline)",
    "decode_event": "`decode_event` (compiled reader)",
    "fold_spliced": "decode + fold + `profile_bytes` (goal ≥ 50,000)",
    "fold_plain": "decode + fold + `encode_profile(to_profile(…))`",
    "processor": "processor path: decode + `decode_state` + apply + `encode_state` + `profile_bytes`",
}
GOAL_EVENTS_PER_S = 50_000


def markdown(result: dict[str, Any]) -> str:
    """The figures as a Markdown table, with the goal of the decode + fold + encode path."""
    rates, ratios = result["events_per_s"], result["ratio_to_decode_only"]
    rows = [f"| {PATHS[name]} | {rate:,} | {ratios[name]:.2f} |" for name, rate in rates.items()]
    met = "met" if rates["fold_spliced"] >= GOAL_EVENTS_PER_S else "NOT met"
    return "\n".join([
        f"{result['events']:,} single-change events over {result['customers']:,} customers, one core, CPU time, best of 3",
        "", "| per event | events/s | × decode-only |", "|---|---:|---:|", *rows,
        "", f"goal decode + fold + encode ≥ {GOAL_EVENTS_PER_S:,}/s: {met}; peak RSS {result['peak_rss_mb']} MB",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    result = run(args.events, args.customers, args.repeats)
    print(f"{args.events} events over {args.customers} customers, one core, best of {args.repeats}")
    print(f"{'path':16} {'events/s':>10} {'x decode-only':>14}")
    for name, rate in result["events_per_s"].items():
        print(f"{name:16} {rate:>10,} {result['ratio_to_decode_only'][name]:>14.3f}")
    print(f"peak RSS {result['peak_rss_mb']} MB")
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
