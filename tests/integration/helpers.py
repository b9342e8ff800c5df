"""Helpers for integration tests: run processor workers, publish events, read topics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from prefstream.core.kafka import consumer_config, producer_config
from prefstream.core.settings import Settings
from prefstream.core.topics import EVENTS
from schemas.codec import encode_event
from tests.kafka_for_tests import free_port


class Worker:
    """One `prefstream process` subprocess, stopped by its PID."""

    def __init__(self, settings: Settings, app_id: str, data_dir: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.log = log
        self.app_id = app_id
        env = {**os.environ, "KAFKA_BOOTSTRAP": settings.bootstrap_servers, "PREFSTREAM_PARTITIONS": str(settings.partitions),
               "BROKER_SESSION_TIMEOUT": "10"}  # Faust's setting (60 s by default): how soon a crashed worker's partitions move
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefstream", "process", "--app-id", app_id, "--web-port", str(self.port),
                 "--data-dir", str(data_dir), "--log-level", "info", *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"worker exited: {self.log.read_text()[-2000:]}"
            try:
                if self.get("/ready/")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def assigned(self, topic: str) -> set[int]:
        """The partitions of `topic` this worker reads now (empty while it rebalances or is too busy to answer)."""
        try:
            return set(self.get("/ready/")[1].get("assigned", {}).get(topic, []))
        except OSError:
            return set()

    def freeze(self) -> None:
        """SIGSTOP: the worker holds still (no fetch, no fold, no commit) until `thaw()`."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze()`."""
        os.kill(self.process.pid, signal.SIGCONT)


def publish(settings: Settings, events: list[dict[str, Any]], raw: list[tuple[bytes, bytes]] = ()) -> None:
    """Publish events (keyed by subject) and raw (key, value) records to preference-events."""
    producer = Producer(producer_config(settings))
    for event in events:
        producer.produce(EVENTS, encode_event(event), event["subject"].encode())
    for key, value in raw:
        producer.produce(EVENTS, value, key)
    assert producer.flush(30) == 0


def read_latest(
    settings: Settings,
    topic: str,
    done: Callable[[dict[bytes, Any]], bool],
    timeout: float = 90,
) -> dict[bytes, Any]:
    """Latest value per key on `topic`, read from the start until `done(latest)` or the timeout."""
    consumer = Consumer(consumer_config(settings, f"reader-{time.monotonic_ns()}"))
    consumer.subscribe([topic])
    latest: dict[bytes, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                latest[message.key()] = message.value()
            elif done(latest):
                return latest
    finally:
        consumer.close()
    return latest


def read_all(settings: Settings, topic: str, until: Callable[[list[Any]], bool], timeout: float = 60) -> list[Any]:
    """Every message on `topic` from the start, until `until(messages)` or the timeout."""
    consumer = Consumer(consumer_config(settings, f"reader-{time.monotonic_ns()}"))
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(messages):
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                messages.append(message)
    finally:
        consumer.close()
    return messages


def end_offsets(settings: Settings, topic: str, partitions: int) -> dict[int, int]:
    """The end offset of each partition of `topic` now."""
    consumer = Consumer(consumer_config(settings, f"probe-{time.monotonic_ns()}"))
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


def committed_offsets(settings: Settings, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The offsets `group` committed on each partition of `topic` (0 where it committed nothing)."""
    consumer = Consumer(consumer_config(settings, group))
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: max(tp.offset, 0) for tp in found}


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(interval)
