"""Rebuild: reprocess the whole log into fresh processor state under a new Faust app id.

For when the fold changes: a worker of the new app version (its own consumer group, tables and
changelogs) starts from the beginning of the log; we wait until its committed offsets reach the
end offsets of the input topics, then stop it by its PID (or leave it running). The profiles it
re-emits are harmless: every sink upserts guarded by `version`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from prefstream.core.kafka import consumer_config, quiet_logger
from prefstream.core.settings import Settings
from prefstream.errors import PrefstreamError
from processors.audit.logread import LogReader, Topics


class RebuildFailed(PrefstreamError):
    """The worker exited or did not catch up in time."""


@dataclass(frozen=True)
class Lag:
    """How far a consumer group is behind the end offsets of the input topics."""

    behind: int
    total: int


def group_lag(settings: Settings, reader: LogReader, group: str, topics: list[str]) -> Lag:
    """Records between the group's committed offsets and the end offsets (a partition with no commit: from its start)."""
    extents = {TopicPartition(t, p): reader.extent(t, p) for t in topics for p in range(reader.partitions(t, required=False))}
    probe = Consumer(consumer_config(settings, group, logger=quiet_logger()))
    try:
        committed = probe.committed(list(extents), timeout=10)
    finally:
        probe.close()
    behind = 0
    for tp in committed:
        low, high = extents[TopicPartition(tp.topic, tp.partition)]
        behind += high - max(low, tp.offset) if tp.offset >= 0 else high - low
    return Lag(behind, sum(high - low for low, high in extents.values()))


def start_worker(settings: Settings, app_id: str, web_port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """`python -m prefstream process` for the new app id, in its own session, output to `log`."""
    env = {**os.environ, "KAFKA_BOOTSTRAP": settings.bootstrap_servers, "PREFSTREAM_PARTITIONS": str(settings.partitions)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "prefstream", "process", "--app-id", app_id, "--web-port", str(web_port),
             "--data-dir", str(data_dir)],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )


def stop_worker(worker: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM by PID, then SIGKILL of its process group if it does not exit within `grace`."""
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def wait_caught_up(settings: Settings, worker: subprocess.Popen[bytes], app_id: str, topics: Topics, timeout: float,
                   progress: Callable[[Lag], None] = lambda lag: None, log: Path | None = None) -> float:
    """Seconds until the new app's committed offsets reach the input topics' end offsets (on two
    checks a second apart, so identifier events it re-sent to customer-events are counted too)."""
    began, caught_up = time.monotonic(), False
    with LogReader(settings) as reader:
        while True:
            if worker.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log and log.exists() else []
                raise RebuildFailed(f"the worker exited with code {worker.returncode}" + (f": {tail[0][:200]}" if tail else ""))
            try:
                lag = group_lag(settings, reader, app_id, [topics.events, topics.customer_events])
            except KafkaException:  # e.g. the group's coordinator is still loading: ask again
                lag = None
            if lag is not None:
                progress(lag)
                if lag.behind == 0 and caught_up:  # twice in a row: re-sent copies have landed too
                    return time.monotonic() - began
            caught_up = lag is not None and lag.behind == 0
            if time.monotonic() - began > timeout:
                left = f"{lag.behind} of {lag.total} records still to process" if lag else "no committed offsets readable"
                raise RebuildFailed(f"not caught up after {timeout:.0f} s: {left}")
            time.sleep(1.0)
