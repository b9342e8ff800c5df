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

from confluent_kafka import Consumer, Producer

from prefstream.kafka_config import consumer_config, producer_config
from prefstream.settings import Settings
from prefstream.topics import EVENTS
from schemas.codec import encode_event
from tests.kafka_for_tests import free_port


class Worker:
    """One `prefstream process` subprocess, stopped by its PID."""

    def __init__(self, settings: Settings, app_id: str, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "KAFKA_BOOTSTRAP": settings.bootstrap_servers, "PREFSTREAM_PARTITIONS": str(settings.partitions)}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefstream", "process", "--app-id", app_id, "--web-port", str(self.port),
                 "--data-dir", str(data_dir), "--log-level", "info"],
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
