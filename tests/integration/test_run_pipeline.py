"""`prefstream run` end to end, on a broker of its own (the shared test log holds other tests' data,
which `verify` would rightly report): it reaches steady state and shows progress, the simulated
events land, malformed input is rejected onto the DLQ, and after it stops `prefstream verify`
finds zero differences."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from prefstream.core.kafka import consumer_config
from prefstream.core.settings import Settings
from prefstream.core.topics import DLQ, EVENTS
from tests.kafka_for_tests import free_block, kafka_broker

ROOT = Path(__file__).resolve().parents[2]
DURATION = 20


@dataclass
class Outcome:
    settings: Settings
    code: int
    output: str
    progressed: bool
    home: Path


def prefstream(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prefstream", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """One `prefstream run --duration 20` (CI=true, no stdin) on its own broker, watched line by line."""
    home = tmp_path_factory.mktemp("run-home")
    with kafka_broker(home) as settings:
        env = {**os.environ, "CI": "true", "PREFSTREAM_RUN_DURATION": str(DURATION), "PREFSTREAM_RUN_RATE": "30",
               "PREFSTREAM_RUN_CUSTOMERS": "200", "PREFSTREAM_RUN_BASE_PORT": str(free_block())}
        env.pop("PREFSTREAM_SINKS", None)
        progressed = False
        lines: list[str] = []
        run = subprocess.Popen([sys.executable, "-m", "prefstream", "run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in run.stdout:  # type: ignore[union-attr]
                lines.append(line)
                accepted = re.match(r"accepted ([\d,]+) .*delivered: \w", line)
                progressed = progressed or bool(accepted and int(accepted.group(1).replace(",", "")) > 0)
            code = run.wait(timeout=240)
        finally:
            if run.poll() is None:
                run.terminate()
                run.wait(60)
        yield Outcome(settings, code, "".join(lines), progressed, Path(settings.home))


def test_run_shows_progress_and_stops_cleanly(finished_run: Outcome) -> None:
    assert finished_run.code == 0, finished_run.output[-3000:]
    assert finished_run.progressed, finished_run.output[-3000:]
    assert "preference center of sample customer sim-000000: http://127.0.0.1:" in finished_run.output
    assert "caught up in" in finished_run.output and "stopped 8 processes" in finished_run.output
    # the sinks wrote: SQLite rows and JSON Lines
    assert (finished_run.home / "sinks" / "archive.jsonl").stat().st_size > 0
    assert (finished_run.home / "sinks" / "crm.db").stat().st_size > 0


def test_verify_after_the_run_finds_zero_differences(finished_run: Outcome) -> None:
    env = {**os.environ, "PREFSTREAM_HOME": str(finished_run.home)}
    verify = prefstream("verify", env=env, timeout=180)
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]


def simulator_counts(home: Path) -> dict[str, dict[str, int]]:
    """The simulator's closing table (its log), per adapter."""
    lines = (home / "logs" / "simulator.log").read_text().splitlines()
    header = next(index for index, line in enumerate(lines) if line.split()[:2] == ["adapter", "accepted"])
    names = lines[header].split()[1:]
    return {row.split()[0]: dict(zip(names, (int(v.replace(",", "")) for v in row.split()[1:]), strict=True))
            for row in lines[header + 1:header + 7]}


def test_simulated_events_land_and_malformed_input_is_rejected(finished_run: Outcome) -> None:
    counts = simulator_counts(finished_run.home)
    for adapter in ("web", "call-center", "social", "sms", "pos"):
        assert counts[adapter]["accepted"] > 0, counts
    assert counts["total"]["rejected"] > 0 and counts["total"]["unexpected"] == 0, counts
    # every accepted input is on the log, every rejected one on the DLQ (duplicates and POS re-uploads included)
    assert _records(finished_run.settings, EVENTS) >= counts["total"]["accepted"]
    assert _records(finished_run.settings, DLQ) >= counts["total"]["rejected"]


def _records(settings: Settings, topic: str) -> int:
    consumer = Consumer(consumer_config(settings, "probe"))
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()
