"""kill -9 of `prefstream sink run` mid-batch while profiles flow, then a restart: the target
holds the latest profile of every customer (offsets were committed only after the target's ack).
A SIGTERM then stops it cleanly: flush, commit, exit 0."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from prefstream.settings import Settings
from tests.kafka_for_tests import free_port
from tests.integration.sinkkit import committed, history, produce, settle, source_topic, wait_until

CUSTOMERS = [f"cust-{i}" for i in range(60)]
VERSIONS = 5


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


def rows(database: Path) -> dict[str, int]:
    if not database.exists():
        return {}
    try:
        with sqlite3.connect(database) as connection:
            return dict(connection.execute("SELECT customer_id, version FROM crm").fetchall())
    except sqlite3.OperationalError:  # the table is not created yet
        return {}


def lag(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'prefstream_sink_consumer_lag{{business_unit="{name}"}}'):
                return float(line.split()[-1])
    return None


def test_kill_9_mid_batch_then_restart_holds_every_latest_profile(kafka: Settings, unique: str, tmp_path: Path) -> None:
    topic = source_topic(kafka, f"profiles-{unique}")
    database, name = tmp_path / "crm.db", f"crm-{unique}"
    config, metrics_port = tmp_path / "sinks.toml", free_port()
    config.write_text(f"""
source_topic = "{topic}"
[business_units.{name}]
sections = ["contact_points", "consents"]
batch_size = 40
batch_seconds = 0.3
instance_id = "crm-replica-1"  # static membership: the restart resumes without a session timeout
metrics_port = {metrics_port}
[business_units.{name}.target]
type = "sql"
dsn = "sqlite:///{database}"
table = "crm"
""")
    histories = {c: history(c, VERSIONS) for c in CUSTOMERS}
    log = tmp_path / "sink.log"

    def flow() -> None:
        for v in range(VERSIONS):
            for start in range(0, len(CUSTOMERS), 30):
                produce(kafka, topic, [(c, histories[c][v]) for c in CUSTOMERS[start:start + 30]])

    first = Sink(kafka, config, name, log)
    producer = threading.Thread(target=flow)
    producer.start()
    wait_until(lambda: len(rows(database)) >= 20, 60, f"the first rows ({log.read_text()[-500:] if log.exists() else ''})")
    first.kill()
    producer.join()
    assert first.process.returncode == -signal.SIGKILL
    before = rows(database)
    total = len(CUSTOMERS) * VERSIONS
    assert committed(kafka, f"prefstream-sink-{name}", topic, 3) < total, "killed after everything was done"

    second = Sink(kafka, config, name, log)
    settle(lambda: rows(database), {c: VERSIONS for c in CUSTOMERS}, 60, "every customer's latest version")
    assert all(rows(database)[c] >= v for c, v in before.items())  # nothing regressed across the crash
    wait_until(lambda: committed(kafka, f"prefstream-sink-{name}", topic, 3) == total, 30, "the final commit")
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert f'prefstream_sink_delivered_total{{business_unit="{name}"}}' in metrics
    assert f'prefstream_sink_delivery_latency_seconds_count{{business_unit="{name}"}}' in metrics
    settle(lambda: lag(metrics_port, name), 0.0, 10, "the lag metric")
    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(30) == 0, log.read_text()[-2000:]
    assert "stopped after flushing and committing" in log.read_text()
