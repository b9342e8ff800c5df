"""One real processor worker beside a plain confluent-kafka consume-fold-produce loop, in the same run.

    python -m tests.bench.bench_processor [--events 50000] [--customers 5000] [--rate 1000] [--seconds 20]
                                          [--warm-up-events 20000] [--rounds 3] [--json out.json] [--py-spy flame.txt]

Uses the cluster in KAFKA_BOOTSTRAP, or starts a local broker in a temporary folder (free ports,
stopped by PID at the end) and warms it up (`tests.bench.warm_broker`). A warm-up round, the same
as the measured one on `--warm-up-events` other events and without the steady-rate runs, goes
first and is not counted: a freshly started broker spent up to a core compiling its request path
while the first worker ran (5,600-6,000 events/s on a cold broker, 7,800-8,300 on a warm one).
Then `--rounds` measured rounds over fresh backlogs; the ratio is their median (see `run`). Every
record of the run is keyed by a per-run customer prefix, and
every reader starts at the end offsets seen before the run produced anything, so a shared
cluster's older data is neither read nor counted.

- Events: `--events` single-change consent events spread round-robin over `--customers`
  customers (customer-id subjects, so no identity resolution), produced to `preference-events`
  before anything consumes them.
- Plain loop (the ceiling), in a child process: confluent-kafka consume, then what the worker
  does per record (admission as the worker admits: `admit_for_fold`; state bytes -> State, fold, State -> bytes into a dict,
  `profile_bytes`), produce to a scratch topic, commit every 1,000 records or second.
  events/s is counted from its first to its last produce.
- Worker: `python -m prefstream process` under a fresh app id (its group's offsets committed at
  the pre-run end offsets), started with the backlog in place. events/s is counted from the
  first to the last profile record of the run on `customer-profiles` (their CreateTime, set by
  the worker's producer), so start-up and group join are excluded (reported apart). While the
  worker works the benchmark only polls the topic's end offsets; it reads the profiles after.
- Latency: with that worker caught up, `--rate` events/s for `--seconds`, one event per fresh
  customer; latency is the profile's arrival at a consumer of `customer-profiles` (polled one
  record at a time, so it is seen the moment librdkafka has it) minus the moment the broker
  acknowledged the event (its delivery report; the pacing producer serves reports at least
  every millisecond). Until 2026-11-23 this measured from the *profile's* CreateTime and read in
  batches that wait out their 0.1 s timeout: it reported 0-100 ms of its own waiting (p50 ~54,
  p99 ~105 ms) and left out the processing.
- The plain loop's latency, after the worker stopped: the same paced run and the same measure, with
  the plain loop polling one record at a time (fetch wait capped as the worker's) and its
  profiles read from its scratch topic: what the broker and this machine allow.
- Memory: the worker's peak RSS (VmHWM, read before it stops), the plain loop's (getrusage),
  and the worker's RocksDB folder on disk after it stopped.
- CPU per event over the backlog: the worker's, all threads and its main thread alone (from
  /proc; the main thread runs the event loop, so the fold, and bounds the worker's rate), and the
  plain loop's process CPU between its first and last produce.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from prefstream.core.kafka import consumer_config, producer_config, quiet_logger
from prefstream.core.settings import DEFAULT_FETCH_WAIT_MS, Settings
from prefstream.core.topics import CUSTOMER_EVENTS, EVENTS, IDENTITY_LINKS, PROFILES, TopicSpec, admin_client, create_topics, topic_specs
from processors.domain.admission import admit_for_fold
from processors.domain.fold import apply, empty_state, identities, is_erased, profile_time
from processors.domain.profile_encoding import profile_bytes
from processors.domain.state_codec import decode_state, encode_state
from processors.runtime.app import changelog_specs
from schemas.codec import encode_event
from schemas.subjects import is_customer_id
from tests import factories as f
from tests.bench.warm_broker import warm_broker
from tests.kafka_for_tests import free_port

CHANNELS = ["EMAIL", "SMS", "PUSH", "PHONE"]
STATUSES = ["OPTED_IN", "OPTED_OUT", "PENDING"]
GOAL_EVENTS_PER_S = 20_000
GOAL_RATIO = 0.5
GOAL_P99_MS = 100.0


def make_events(prefix: str, count: int, customers: int, start: datetime) -> list[tuple[bytes, bytes]]:
    """(key, value) of `count` single-change consent events over `customers` fresh customers."""
    records = []
    for i in range(count):
        customer = f"{prefix}{i % customers}"
        event = f.event(customer, [f.consent(CHANNELS[i % 4], STATUSES[i % 3])], start + timedelta(milliseconds=i),
                        event_id=f"{prefix}e{i}")
        records.append((customer.encode(), encode_event(event)))
    return records


def produce_all(settings: Settings, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(settings, logger=quiet_logger()))
    for key, value in records:
        while True:
            try:
                producer.produce(EVENTS, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("events not acknowledged within 60 s")


def end_offsets(settings: Settings, topics: list[str]) -> dict[str, dict[int, int]]:
    """High watermark of every partition of `topics`."""
    probe = Consumer(consumer_config(settings, f"bench-probe-{uuid.uuid4().hex[:8]}", logger=quiet_logger()))
    deadline = time.monotonic() + 30
    try:
        while True:  # a topic created a moment ago may not have its leaders yet
            try:
                metadata = probe.list_topics(timeout=10).topics
                return {topic: {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                                for p in metadata[topic].partitions} for topic in topics}
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        probe.close()


def commit_offsets(settings: Settings, group: str, offsets: dict[str, dict[int, int]]) -> None:
    """Commit `offsets` for a group with no members yet (so a fresh worker starts there)."""
    consumer = Consumer(consumer_config(settings, group, logger=quiet_logger()))
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for t, parts in offsets.items() for p, o in parts.items()],
                        asynchronous=False)
    finally:
        consumer.close()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


# The plain loop, in a child process.

class PlainFold:
    """What the worker does per record, and nothing else: admit, fold into a dict, produce the profile."""

    def __init__(self, settings: Settings, scratch: str) -> None:
        self.producer = Producer(producer_config(settings, logger=quiet_logger()))
        self.scratch = scratch
        self.states: dict[str, bytes] = {}
        self.links = 0

    def handle(self, message: Any) -> bool:
        """Fold one consumed record; True when it changed a profile (which is then produced)."""
        event = admit_for_fold(message.value(), message.timestamp()[1])  # as the worker admits
        if event is None or not is_customer_id(event["subject"]):
            return False
        customer = event["subject"]
        raw = self.states.get(customer)
        before = decode_state(raw) if raw is not None else empty_state(customer)
        after = apply(before, event)
        if after == before:
            return False
        self.states[customer] = encode_state(after)
        value = None if is_erased(after) else profile_bytes(after, profile_time(after))
        while True:
            try:
                self.producer.produce(self.scratch, value, customer.encode())
                break
            except BufferError:
                self.producer.poll(0.05)
        self.links += len(set(identities(after)) ^ set(identities(before)))
        return True


def _plain_loop(settings: Settings, starts: dict[int, int], prefix: str, count: int, scratch: str, out: Any) -> None:
    consumer = Consumer(consumer_config(settings, f"bench-plain-{prefix}", logger=quiet_logger()))
    consumer.assign([TopicPartition(EVENTS, p, o) for p, o in starts.items()])
    fold = PlainFold(settings, scratch)
    prefix_bytes = prefix.encode()
    seen = 0
    first = last = 0.0
    cpu_first = cpu_last = 0.0
    last_commit, since_commit = time.monotonic(), 0
    deadline = time.monotonic() + max(120.0, count / 500)
    while seen < count and time.monotonic() < deadline:
        for message in consumer.consume(1000, timeout=1.0):
            if message.error():
                continue
            if fold.handle(message):
                last, cpu_last = time.time(), time.process_time()
                if not first:
                    first, cpu_first = last, cpu_last
            key = message.key()
            if key is not None and key.startswith(prefix_bytes):
                seen += 1
            since_commit += 1
        fold.producer.poll(0)
        if since_commit >= 1000 or time.monotonic() - last_commit >= 1.0:
            consumer.commit(asynchronous=True)
            last_commit, since_commit = time.monotonic(), 0
    fold.producer.flush(60)
    consumer.close()
    out.put({"events": seen, "events_per_s": round((seen - 1) / max(1e-9, last - first)) if seen > 1 else 0,
             "cpu_us_per_event": round((cpu_last - cpu_first) / max(1, seen - 1) * 1e6),
             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "links": fold.links})


def _plain_follow(settings: Settings, starts: dict[int, int], scratch: str, stop: Any) -> None:
    """The plain loop tuned for latency, until `stop` is set: each record folded as soon as polled,
    fetches waiting at most as long as the worker's (DEFAULT_FETCH_WAIT_MS)."""
    consumer = Consumer(consumer_config(settings, f"bench-follow-{uuid.uuid4().hex[:6]}", logger=quiet_logger(),
                                        **{"fetch.wait.max.ms": DEFAULT_FETCH_WAIT_MS}))
    consumer.assign([TopicPartition(EVENTS, p, o) for p, o in starts.items()])
    fold = PlainFold(settings, scratch)
    last_commit = time.monotonic()
    while not stop.is_set():
        message = consumer.poll(0.1)
        while message is not None:
            if not message.error():
                fold.handle(message)
            message = consumer.poll(0)
        fold.producer.poll(0)
        if time.monotonic() - last_commit >= 1.0:
            consumer.commit(asynchronous=True)
            last_commit = time.monotonic()
    fold.producer.flush(30)
    consumer.close()


def run_plain(settings: Settings, starts: dict[int, int], prefix: str, count: int, scratch: str) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_plain_loop, args=(settings, starts, prefix, count, scratch, queue))
    child.start()
    try:
        result = queue.get(timeout=max(180.0, count / 400))
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
            child.join()
    if result["events"] < count:
        raise RuntimeError(f"the plain loop saw {result['events']} of {count} events")
    return result


def plain_latency(settings: Settings, scratch: str, prefix: str, rate: int, seconds: float) -> dict[str, Any]:
    """The plain loop's latency at `rate`/s, measured exactly as the worker's (`steady_latency`)."""
    offsets = end_offsets(settings, [EVENTS, scratch])
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    child = context.Process(target=_plain_follow, args=(settings, offsets[EVENTS], scratch, stop))
    child.start()
    reader = ProfileReader(settings, offsets[scratch], prefix, topic=scratch)

    def check() -> None:
        if not child.is_alive():
            raise RuntimeError(f"the plain loop exited ({child.exitcode})")

    try:
        return steady_latency(settings, reader, check, prefix, rate, seconds, scratch)
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.kill()
            child.join()
        reader.close()


# The worker.

class ProfileReader:
    """Reads a profile topic from the pre-run end offsets; keeps the run's records by key prefix."""

    def __init__(self, settings: Settings, starts: dict[int, int], prefix: str, topic: str = PROFILES,
                 lazy: bool = False) -> None:
        """`lazy`: assign the partitions at the first read, not now (an assigned consumer fetches in the
        background, which took CPU from the worker while the reader only counted by watermarks)."""
        self.consumer = Consumer(consumer_config(settings, f"bench-reader-{prefix}", logger=quiet_logger()))
        self.starts = [TopicPartition(topic, p, o) for p, o in starts.items()]
        self.assigned = False
        self.prefix = prefix.encode()
        if not lazy:
            self._assign()

    def _assign(self) -> None:
        if not self.assigned:
            self.consumer.assign(self.starts)
            self.assigned = True

    def emitted(self) -> int:
        """Records on the topic past the start offsets (anyone's): a watermark query, nothing read."""
        return sum(self.consumer.get_watermark_offsets(tp, timeout=10)[1] - tp.offset for tp in self.starts)

    def read(self, timeout: float = 0.5) -> list[tuple[bytes, int]]:
        """(key, CreateTime ms) of the run's profile records read now."""
        self._assign()
        found = []
        for message in self.consumer.consume(1000, timeout=timeout):
            if message.error():
                continue
            key = message.key()
            if key is not None and key.startswith(self.prefix):
                found.append((key, message.timestamp()[1]))
        return found

    def arrivals(self, timeout: float) -> list[tuple[bytes, float, float]]:
        """(key, arrival time, CreateTime) of the run's profile records, each stamped the moment poll
        returns it; CreateTime (seconds) is when the worker's producer took the profile.

        Not `consume(n, timeout)`: that waits for n records or the whole timeout, which would add
        up to `timeout` of the reader's own waiting to every latency.
        """
        self._assign()
        found = []
        message = self.consumer.poll(timeout)
        while message is not None:
            key = message.key()
            if not message.error() and key is not None and key.startswith(self.prefix):
                found.append((key, time.time(), message.timestamp()[1] / 1000))
            message = self.consumer.poll(0)
        return found

    def close(self) -> None:
        self.consumer.close()


class WorkerProcess:
    """`python -m prefstream process` under its own app id, stopped by its PID."""

    def __init__(self, settings: Settings, app_id: str, data_dir: Path, log: Path, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.log = log
        env = {**os.environ, "KAFKA_BOOTSTRAP": settings.bootstrap_servers, "PREFSTREAM_PARTITIONS": str(settings.partitions),
               **(env or {})}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefstream", "process", "--app-id", app_id, "--web-port", str(free_port()),
                 "--data-dir", str(data_dir), *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )
        self.pid = self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the worker exited ({self.process.returncode}): {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""

    def cpu_seconds(self, event_loop_only: bool = False) -> float:
        """User + system CPU time the worker has used so far: all its threads, or only the main
        thread, which runs the event loop and so the fold (librdkafka's and Faust's consumer
        threads are the rest)."""
        stat = f"/proc/{self.pid}/task/{self.pid}/stat" if event_loop_only else f"/proc/{self.pid}/stat"
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def stop(self, grace: float = 30.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()


def folder_size_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def start_py_spy(pid: int, path: str, seconds: float) -> subprocess.Popen[bytes] | None:
    """`py-spy record` of `pid` for `seconds` (raw collapsed stacks to `path`), when py-spy is installed."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print(f"py-spy not found; no profile written to {path}", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                             "--format", "raw", "--output", path, "--nonblocking", "--threads"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_py_spy(recorder: subprocess.Popen[bytes] | None, seconds: float) -> None:
    if recorder is None:
        return
    try:
        recorder.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        recorder.kill()
        recorder.wait()


def steady_latency(settings: Settings, reader: ProfileReader, check: Callable[[], None], prefix: str, rate: int,
                   seconds: float, warm_up_topic: str) -> dict[str, Any]:
    """Produce one event per fresh customer at `rate`/s; latency from its broker ack to its profile's
    arrival. `check` raises if the folding process died; `warm_up_topic` takes one record first."""
    count = int(rate * seconds)
    start = datetime.now(UTC) - timedelta(hours=1)
    records = [(f"{prefix}{i}".encode(), encode_event(f.event(f"{prefix}{i}", [f.consent("EMAIL", "OPTED_IN")], start,
                                                                     event_id=f"{prefix}e{i}"))) for i in range(count)]
    spent = [0.0]
    acked: dict[bytes, float] = {}

    def on_delivery(error: Any, message: Any) -> None:
        if error is None:
            acked[message.key()] = time.time()

    def pace() -> None:
        producer = Producer(producer_config(settings, logger=quiet_logger()))
        # Warm up first: an idempotent producer holds its records until it has a producer id, which
        # took ~0.5 s on a fresh broker and then let ~500 events in at once (5% of a 10 s run).
        producer.produce(warm_up_topic, b"", b"warm-up")
        if producer.flush(30) != 0:
            raise RuntimeError("the pacing producer's warm-up record was not acknowledged")
        began = time.monotonic()
        for i, (key, value) in enumerate(records):
            while (delay := began + i / rate - time.monotonic()) > 0:
                if delay >= 0.001:
                    producer.poll(0.001)  # serve delivery reports while waiting
                else:
                    time.sleep(delay)  # poll() rounds a shorter wait down to 0 ms: it would spin a core
            producer.produce(EVENTS, value, key, on_delivery=on_delivery)
            producer.poll(0)
        spent[0] = time.monotonic() - began
        producer.flush(30)

    thread = threading.Thread(target=pace, daemon=True)
    thread.start()
    arrivals: dict[bytes, tuple[float, float]] = {}
    mine = prefix.encode()
    deadline = time.monotonic() + seconds + 60
    while len(arrivals) < count and time.monotonic() < deadline:
        for key, arrived, created in reader.arrivals(0.1):
            if key.startswith(mine):  # not a late duplicate of the backlog's profiles
                arrivals.setdefault(key, (arrived, created))
        check()
    thread.join(30)
    values = sorted(arrived - acked[key] for key, (arrived, _) in arrivals.items() if key in acked)
    if not values:
        raise RuntimeError("no profile arrived during the latency run")
    in_worker = sorted(created - acked[key] for key, (_, created) in arrivals.items() if key in acked)
    return {"rate_per_s": rate, "seconds": seconds, "events": count, "received": len(values),
            "produced_rate_per_s": round(count / max(1e-9, spent[0])),
            "p50_ms": round(percentile(values, 50) * 1000, 1), "p95_ms": round(percentile(values, 95) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1), "max_ms": round(values[-1] * 1000, 1),
            "to_produced_p50_ms": round(percentile(in_worker, 50) * 1000, 1),
            "to_produced_p99_ms": round(percentile(in_worker, 99) * 1000, 1)}


def run_worker(settings: Settings, offsets: dict[str, dict[int, int]], prefix: str, count: int, app_id: str,
               folder: Path, rate: int, seconds: float, warm_up_topic: str, spy_path: str | None = None,
               worker_args: tuple[str, ...] = (), worker_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Throughput over the backlog, then latency at a steady rate (none if `seconds` is 0), of one worker;
    its memory and disk."""
    commit_offsets(settings, app_id, {t: offsets[t] for t in (EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS)})
    reader = ProfileReader(settings, offsets[PROFILES], prefix, lazy=True)
    data_dir = folder / "state"
    worker = WorkerProcess(settings, app_id, data_dir, folder / "worker.log", worker_args, worker_env)
    began = time.time()
    try:
        deadline = time.monotonic() + max(180.0, count / 500)
        spy_seconds, recorder = 0.0, None
        cpu_first = loop_cpu_first = wall_first = 0.0
        emitted_first = 0  # profiles already emitted when the CPU clock started: not in its count
        while (emitted := reader.emitted()) < count and time.monotonic() < deadline:
            worker.check()
            if emitted and not wall_first:
                cpu_first, loop_cpu_first, wall_first = worker.cpu_seconds(), worker.cpu_seconds(True), time.monotonic()
                emitted_first = emitted
                if spy_path:
                    spy_seconds = max(5.0, min(30.0, count / 4000))
                    recorder = start_py_spy(worker.pid, spy_path, spy_seconds)
            time.sleep(0.25)  # each check asks the broker for 12 end offsets
        caught_up = time.time()
        cpu_busy, loop_cpu_busy = worker.cpu_seconds() - cpu_first, worker.cpu_seconds(True) - loop_cpu_first
        timed_events = max(1, count - emitted_first)
        wall_busy = max(1e-9, time.monotonic() - wall_first)
        stop_py_spy(recorder, spy_seconds)
        stamps: list[int] = []
        keys: set[bytes] = set()
        while len(stamps) < count and time.monotonic() < deadline:
            found = reader.read()
            stamps += [created for _, created in found]
            keys.update(key for key, _ in found)
        if len(stamps) < count:
            raise RuntimeError(f"the worker emitted {len(stamps)} of {count} profiles in time: {worker.tail()}")
        first, last = min(stamps), max(stamps)
        throughput = {"events_per_s": round((count - 1) / max(1e-3, (last - first) / 1000)),
                      "startup_s": round(first / 1000 - began, 1), "backlog_s": round(caught_up - began, 1),
                      "profiles": len(stamps), "customers": len(keys),
                      "cpu_us_per_event": round(cpu_busy / timed_events * 1e6), "cpu_busy_fraction": round(cpu_busy / wall_busy, 2),
                      "event_loop_cpu_us_per_event": round(loop_cpu_busy / timed_events * 1e6)}
        latency: dict[str, Any] | None = None
        if seconds > 0:
            time.sleep(2.0)  # let the worker commit and settle before the paced run
            cpu_before, wall_before = worker.cpu_seconds(), time.monotonic()
            latency = steady_latency(settings, reader, worker.check, f"{prefix}L", rate, seconds, warm_up_topic)
            latency["worker_cpu_busy_fraction"] = round((worker.cpu_seconds() - cpu_before) / (time.monotonic() - wall_before), 2)
        throughput["peak_rss_mb"] = worker.peak_rss_mb()
    finally:
        worker.stop()
        reader.close()
    throughput["state_on_disk_mb"] = folder_size_mb(data_dir) if data_dir.exists() else 0.0
    return {"worker": throughput, "latency": latency}


def drop_topics(settings: Settings, names: list[str]) -> None:
    """Delete the run's scratch and changelog topics from a shared cluster (best effort)."""
    admin = admin_client(settings)
    existing = admin.list_topics(timeout=10).topics
    chosen = [name for name in existing if name in names]
    for future in admin.delete_topics(chosen, operation_timeout=30).values() if chosen else ():
        try:
            future.result()
        except Exception:  # noqa: BLE001 - cleanup only
            pass


def measure_round(settings: Settings, folder: Path, events: int, customers: int, rate: int, seconds: float,
                  spy_path: str | None = None, worker_args: tuple[str, ...] = (),
                  worker_env: dict[str, str] | None = None, plain: bool = True) -> dict[str, Any]:
    """One round on fresh customers, a fresh app id and a fresh scratch topic: the plain loop over the
    backlog, the worker over the same backlog, then both at a steady rate (skipped if `seconds` is 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    prefix = f"bench{tag}-"
    app_id = f"prefstream-bench-{tag}"
    scratch = f"bench-plain-profiles-{tag}"
    scratch_spec = TopicSpec(scratch, settings.partitions, {"cleanup.policy": "delete", "retention.ms": "3600000"})
    create_topics(settings, topic_specs(settings) + changelog_specs(settings, app_id) + [scratch_spec])
    offsets = end_offsets(settings, [EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS, PROFILES])
    records = make_events(prefix, events, customers, datetime.now(UTC) - timedelta(days=1))
    produce_all(settings, records)
    del records
    try:
        ceiling = (run_plain(settings, offsets[EVENTS], prefix, events, scratch) if plain
                   else {"events": 0, "events_per_s": 0, "cpu_us_per_event": 0, "peak_rss_mb": 0.0, "links": 0})
        measured = run_worker(settings, offsets, prefix, events, app_id, folder, rate, seconds, scratch, spy_path,
                              worker_args, worker_env)
        plain_steady = plain_latency(settings, scratch, f"plain{tag}-", rate, seconds) if plain and seconds > 0 else None
    finally:
        if settings.external:
            drop_topics(settings, [scratch] + [spec.name for spec in changelog_specs(settings, app_id)])
    return {"plain": ceiling, "worker": measured["worker"], "latency": measured["latency"], "plain_latency": plain_steady}


def run(events: int = 50_000, customers: int = 5_000, rate: int = 1000, seconds: float = 20.0,
        spy_path: str | None = None, worker_args: tuple[str, ...] = (), worker_env: dict[str, str] | None = None,
        plain: bool = True, warm_up_events: int = 20_000, rounds: int = 3) -> dict[str, Any]:
    """The processor benchmark; every figure of the worker beside the plain loop's, in one run.

    A warm-up round of `warm_up_events` (plain loop and worker, no steady-rate run) goes first and
    is not counted: the worker's own requests (many partitions, its changelogs, Faust's client) set
    the broker's JIT compiling again after the generic warm-up of `warm_broker`, for seconds.
    Then `rounds` measured rounds, each the plain loop then the worker over a fresh backlog; the
    last one also runs the steady-rate latency. The ratio is the median of the rounds' ratios and
    the throughput figures are those of the median round: on the shared machine one round's plain
    loop and worker, run seconds apart, met different loads (a make bench round gave 0.41 where
    its warm-up round gave 0.76).
    `worker_args` are appended to the worker's command line and `worker_env` added to its
    environment (Faust reads settings such as PRODUCER_LINGER from it), for experiments;
    `plain=False` skips the plain loop (its figures are then zero, its latency None).
    """
    began = time.monotonic()
    with warm_broker() as settings, tempfile.TemporaryDirectory(prefix="prefstream-bench-processor-") as tmp:
        folder = Path(tmp)
        if warm_up_events:
            warm = measure_round(settings, folder / "warm-up", warm_up_events, customers, rate, 0.0,
                                 worker_args=worker_args, worker_env=worker_env, plain=plain)
            print(f"warm-up round: worker {warm['worker']['events_per_s']:,} events/s, "
                  f"plain loop {warm['plain']['events_per_s']:,} events/s (not counted)", flush=True)
        measured = []
        for number in range(1, rounds + 1):
            last = number == rounds
            measured.append(measure_round(settings, folder / f"round-{number}", events, customers, rate,
                                          seconds if last else 0.0, spy_path if last else None, worker_args,
                                          worker_env, plain))
    latency, plain_latency = measured[-1]["latency"], measured[-1]["plain_latency"]
    ratios = [round(r["worker"]["events_per_s"] / r["plain"]["events_per_s"], 3) if r["plain"]["events_per_s"] else 0.0
              for r in measured]
    median = sorted(range(len(measured)), key=lambda index: ratios[index])[len(measured) // 2]
    worker, ceiling, ratio = measured[median]["worker"], measured[median]["plain"], ratios[median]
    return {
        "events": events,
        "customers": customers,
        "partitions": settings.partitions,
        "warm_up_events": warm_up_events,
        "rounds": [{"worker_events_per_s": r["worker"]["events_per_s"], "plain_events_per_s": r["plain"]["events_per_s"],
                    "ratio": ratios[index], "worker_cpu_us_per_event": r["worker"]["cpu_us_per_event"],
                    "worker_event_loop_cpu_us_per_event": r["worker"]["event_loop_cpu_us_per_event"],
                    "plain_cpu_us_per_event": r["plain"]["cpu_us_per_event"]}
                   for index, r in enumerate(measured)],
        "worker": worker,
        "plain": ceiling,
        "ratio_worker_to_plain": ratio,
        "latency": latency,
        "plain_latency": plain_latency,
        "goals": {"worker_events_per_s": worker["events_per_s"] >= GOAL_EVENTS_PER_S,
                  "ratio_to_plain": ratio >= GOAL_RATIO,
                  "latency_p99": latency["p99_ms"] < GOAL_P99_MS and latency["received"] == latency["events"]},
        "elapsed_s": round(time.monotonic() - began, 1),
    }


def markdown(result: dict[str, Any]) -> str:
    """A short Markdown table of the figures."""
    worker, plain, latency = result["worker"], result["plain"], result["latency"]
    lines = [
        f"{result['events']:,} events over {result['customers']:,} customers, {result['partitions']} partitions; "
        f"latency at {latency['rate_per_s']:,}/s for {latency['seconds']:g} s",
        "",
        "| | events/s | peak RSS MB | state on disk MB |",
        "|---|---:|---:|---:|",
        f"| worker (`prefstream process`) | {worker['events_per_s']:,} | {worker['peak_rss_mb']} | {worker['state_on_disk_mb']} |",
        f"| plain confluent-kafka loop | {plain['events_per_s']:,} | {plain['peak_rss_mb']} | (in memory) |",
        f"| worker / plain (median round) | {result['ratio_worker_to_plain']:.2f} | | |",
        "",
        "rounds (worker / plain events/s, ratio): " + "; ".join(
            f"{r['worker_events_per_s']:,} / {r['plain_events_per_s']:,}, {r['ratio']:.2f}" for r in result["rounds"]),
        "",
        "| latency | p50 ms | p95 ms | p99 ms | max ms | received |",
        "|---|---:|---:|---:|---:|---:|",
        f"| event acked by Kafka to its profile read from `customer-profiles` "
        f"| {latency['p50_ms']} | {latency['p95_ms']} | {latency['p99_ms']} "
        f"| {latency['max_ms']} | {latency['received']:,}/{latency['events']:,} |",
        f"| event acked by Kafka to its profile produced by the worker (its CreateTime) | {latency['to_produced_p50_ms']} | "
        f"| {latency['to_produced_p99_ms']} | | |",
        *([f"| the same for the plain loop (its profile read from its scratch topic) | {steady['p50_ms']} | {steady['p95_ms']} "
           f"| {steady['p99_ms']} | {steady['max_ms']} | {steady['received']:,}/{steady['events']:,} |"]
          if (steady := result.get("plain_latency")) else []),
        "",
        "goals: " + ", ".join(f"{name} {'met' if met else 'NOT met'}" for name, met in result["goals"].items())
        + f"; worker start-up {worker['startup_s']} s, CPU {worker['cpu_us_per_event']} us/event, "
        f"{worker['event_loop_cpu_us_per_event']} of them on its event loop's thread "
        f"({worker['cpu_busy_fraction']:.0%} of a core over the backlog, {latency['worker_cpu_busy_fraction']:.0%} "
        f"at {latency['rate_per_s']:,}/s); plain loop CPU {plain['cpu_us_per_event']} us/event; "
        f"whole benchmark {result['elapsed_s']} s",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=1000, help="steady rate (events/s) of the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--py-spy", dest="spy_path", help="py-spy raw (collapsed) stacks of the worker over the backlog")
    parser.add_argument("--worker-arg", action="append", default=[], help="an extra argument of `prefstream process`")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra environment variable of the worker (e.g. PRODUCER_LINGER=0.005)")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain loop")
    parser.add_argument("--warm-up-events", type=int, default=20_000, help="events of the uncounted warm-up round (0: none)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (median ratio); the last also measures latency")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.worker_env)
    result = run(args.events, args.customers, args.rate, args.seconds, args.spy_path, tuple(args.worker_arg), env,
                 not args.no_plain, args.warm_up_events, args.rounds)
    if args.worker_arg or env:
        print(f"worker with {' '.join(args.worker_arg)} {' '.join(args.worker_env)}".rstrip())
    print(markdown(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
