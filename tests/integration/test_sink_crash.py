"""kill -9 of `prefstream sink run` mid-batch while profiles and erasures flow, then a restart:
the target (SQLite, or a JSON Lines file) holds the latest projection of every customer and
nothing of the erased ones (offsets were committed only after the target's ack; the file's
erasure rewrite is atomic and a torn last line is dropped). A SIGTERM then stops it cleanly:
flush, commit, exit 0. Expected projections come from tests/sink_reference.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from prefstream.core.settings import Settings
from tests.integration.sinkkit import committed, expected_documents, history, produce, settle, source_topic, wait_until
from tests.kafka_for_tests import free_port

CUSTOMERS = [f"cust-{i}" for i in range(60)]
ERASED = CUSTOMERS[::6]  # a tombstone after their last profile
VERSIONS = 5
SETTINGS = {"sections": ["contact_points", "consents"]}


class Sink:
    """`python -m prefstream sink run BU` as a subprocess in its own process group."""

    def __init__(self, settings: Settings, config: Path, name: str, log: Path) -> None:
        env = {**os.environ, "KAFKA_BOOTSTRAP": settings.bootstrap_servers, "PREFSTREAM_SINKS": str(config),
               "PREFSTREAM_PARTITIONS": str(settings.partitions)}
        with log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "prefstream", "sink", "run", name], stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=True)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def sql_state(database: Path) -> dict[str, tuple[int, Any]]:
    """customer -> (version, profile) of each row."""
    if not database.exists():
        return {}
    try:
        with sqlite3.connect(database) as connection:
            found = connection.execute("SELECT customer_id, version, profile FROM crm").fetchall()
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    return {c: (v, json.loads(p)) for c, v, p in found}


def file_state(archive: Path) -> dict[str, tuple[int, Any]]:
    """customer -> (version, profile) of its last complete line (a kill can leave a torn one after)."""
    complete = archive.read_bytes().split(b"\n")[:-1] if archive.exists() else []
    return {d["customer_id"]: (d["version"], d["profile"]) for d in map(json.loads, complete)}


TARGETS = {
    "sql": ('type = "sql"\ndsn = "sqlite:///{folder}/crm.db"\ntable = "crm"', lambda folder: sql_state(folder / "crm.db")),
    "file": ('type = "file"\npath = "{folder}/archive.jsonl"', lambda folder: file_state(folder / "archive.jsonl")),
}


def lag(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'prefstream_sink_consumer_lag{{business_unit="{name}"}}'):
                return float(line.split()[-1])
    return None


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_kill_9_mid_batch_then_restart_holds_every_latest_profile(kafka: Settings, unique: str, tmp_path: Path,
                                                                  kind: str) -> None:
    topic = source_topic(kafka, f"profiles-{unique}")
    name = f"crm-{unique}"
    config, metrics_port = tmp_path / "sinks.toml", free_port()
    target, state = TARGETS[kind]
    config.write_text(f"""
source_topic = "{topic}"
[business_units.{name}]
sections = {json.dumps(SETTINGS["sections"])}
batch_size = 40
batch_seconds = 0.3
instance_id = "crm-replica-1"  # static membership: the restart resumes without a session timeout
metrics_port = {metrics_port}
[business_units.{name}.target]
{target.format(folder=tmp_path)}
""")
    histories = {c: history(c, VERSIONS) for c in CUSTOMERS}
    log = tmp_path / "sink.log"

    def flow() -> None:
        for v in range(VERSIONS):
            for start in range(0, len(CUSTOMERS), 30):
                produce(kafka, topic, [(c, histories[c][v]) for c in CUSTOMERS[start:start + 30]])
        produce(kafka, topic, [(c, None) for c in ERASED])

    first = Sink(kafka, config, name, log)
    producer = threading.Thread(target=flow)
    producer.start()
    wait_until(lambda: len(state(tmp_path)) >= 20, 60, f"the first rows ({log.read_text()[-500:] if log.exists() else ''})")
    first.kill()
    producer.join()
    assert first.process.returncode == -signal.SIGKILL
    before = state(tmp_path)
    total = len(CUSTOMERS) * VERSIONS + len(ERASED)
    assert committed(kafka, f"prefstream-sink-{name}", topic, 3) < total, "killed after everything was done"

    second = Sink(kafka, config, name, log)
    documents = expected_documents(SETTINGS, {c: None if c in ERASED else histories[c][-1] for c in CUSTOMERS})
    expected = {c: (d["version"], d["profile"]) for c, d in documents.items() if not d["deleted"]}
    settle(lambda: state(tmp_path), expected, 60, "every customer's latest projection")
    assert all(expected[c][0] >= v for c, (v, _) in before.items() if c not in ERASED)  # nothing regressed
    wait_until(lambda: committed(kafka, f"prefstream-sink-{name}", topic, 3) == total, 30, "the final commit")
    if kind == "file":  # every line whole, none of an erased customer
        contents = (tmp_path / "archive.jsonl").read_bytes()
        assert contents.endswith(b"\n") and all(json.loads(line) for line in contents.splitlines())
        assert not [c for c in ERASED if f'"{c}"'.encode() in contents]
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert f'prefstream_sink_delivered_total{{business_unit="{name}"}}' in metrics
    assert f'prefstream_sink_delivery_latency_seconds_count{{business_unit="{name}"}}' in metrics
    settle(lambda: lag(metrics_port, name), 0.0, 10, "the lag metric")
    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(30) == 0, log.read_text()[-2000:]
    assert "stopped after flushing and committing" in log.read_text()
