"""`prefstream run`: bring up the local pipeline, keep it running, tear down what it started.

One run at a time per home folder: a second one is told so (an exclusive lock on `run.lock`)
instead of fighting the first over ports and state.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from prefstream.broker import BrokerError, LocalBroker
from prefstream.settings import Settings
from prefstream.topics import create_topics


class AlreadyRunning(Exception):
    """Another `prefstream run` holds the lock of this home folder."""


@contextmanager
def run_lock(home: Path) -> Iterator[None]:
    """Hold the home folder's run lock for the duration, or raise AlreadyRunning."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "run.lock"
    handle: IO[str] = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(f"prefstream run is already running (pid {holder}); stop it with Ctrl+C first") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@dataclass
class Stage:
    """A long-running child process of the pipeline, with its log file."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{self.name}.log").open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def pipeline_stages(settings: Settings) -> list[Stage]:
    """The processes `run` starts, in start order (stopped in reverse)."""
    del settings  # the stages read their settings from the same environment
    return []


def run_pipeline(settings: Settings, say: Callable[[str], None] = print) -> None:
    """Start the broker (unless external or already up), the topics and every stage; wait for Ctrl+C."""
    with run_lock(settings.home):
        broker = LocalBroker(settings)
        started_broker = False
        if not settings.external and broker.pid() is None:
            seconds = broker.start()
            started_broker = True
            say(f"Kafka {broker.status().version} ready on {broker.address} in {seconds:.1f} s")
        for topic, outcome in create_topics(settings).items():
            say(f"topic {topic}: {outcome}")
        stages = pipeline_stages(settings)
        logs = settings.home / "logs"
        try:
            for stage in stages:
                stage.start(logs)
                say(f"started {stage.name} (pid {stage.process.pid}), log: {logs / (stage.name + '.log')}")
            say("pipeline running; Ctrl+C stops everything this run started")
            while True:
                for stage in stages:
                    if stage.process is not None and stage.process.poll() is not None:
                        raise BrokerError(f"{stage.name} exited with code {stage.process.returncode}; see its log")
                time.sleep(0.5)
        except KeyboardInterrupt:
            say("stopping")
        finally:
            for stage in reversed(stages):
                stage.stop()
            if started_broker:
                broker.stop()
