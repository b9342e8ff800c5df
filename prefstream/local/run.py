"""`prefstream run`: bring up the local pipeline, drive it with simulated traffic, show progress,
tear down what it started.

Order: broker (unless external or already up), topics, the processor, the four HTTP adapters, one
sink per business unit, then (once they answer) the simulator. Ctrl+C or SIGTERM, or the end of
`--duration`, stops the simulator, lets the processor and the sinks drain (so `prefstream verify`
finds the profiles complete; a second Ctrl+C skips that), then stops every stage by its PID, in
reverse order, and the broker if this run started it.

One run at a time per home folder: a second one is told so (an exclusive lock on `run.lock`)
instead of fighting the first over ports and state.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.live import Live

from prefstream.core.settings import Settings
from prefstream.core.topics import create_topics
from prefstream.errors import EXIT_SETUP, PrefstreamError
from prefstream.local import progress as run_progress
from prefstream.local.broker import BrokerError, LocalBroker
from prefstream.local.stages import Ports, Stage, Traffic, child_env, pipeline_stages, simulator_stage, sinks_config

SAMPLE_CUSTOMER = "sim-000000"
READY_TIMEOUT = 120.0
DRAIN_TIMEOUT = 180.0


class AlreadyRunning(PrefstreamError):
    """Another `prefstream run` holds the lock of this home folder."""

    exit_code = EXIT_SETUP


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


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM like Ctrl+C (KeyboardInterrupt) for the duration."""
    def interrupt(_number: int, _frame: object) -> None:
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def answers(url: str) -> bool:
    """Whether an HTTP endpoint answers 200 (or 404 for a query of an unknown key: the query API routes)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        return error.code == 404 and "/profiles/" in url
    except (OSError, ValueError):
        return False


def check_running(stages: list[Stage]) -> None:
    """Raise BrokerError naming the first stage that has exited."""
    for stage in stages:
        code = stage.exited()
        if code is not None:
            raise BrokerError(f"{stage.name} exited with code {code}; see its log")


def wait_ready(stages: list[Stage], ports: Ports, timeout: float = READY_TIMEOUT,
               say: Callable[[str], None] = print) -> float:
    """Seconds until the processor is ready and every stage's metrics endpoint answers; then up to
    60 s more until the processor's query API routes (the web center reads through it), else a warning."""
    began = time.monotonic()
    urls = [f"http://127.0.0.1:{ports.processor}/ready/"] + [stage.metrics for stage in stages if stage.metrics]
    while not all(answers(url) for url in urls):
        check_running(stages)
        if time.monotonic() - began > timeout:
            late = ", ".join(url for url in urls if not answers(url))
            raise BrokerError(f"not ready after {timeout:.0f} s: {late}; see the logs")
        time.sleep(1.0)
    query, routed = f"http://127.0.0.1:{ports.processor}/profiles/{SAMPLE_CUSTOMER}/", time.monotonic() + 60
    while not answers(query):
        check_running(stages)
        if time.monotonic() > routed:
            say("warning: the processor's query API does not answer yet; web sessions will get 503 until it does")
            break
        time.sleep(1.0)
    return time.monotonic() - began


class Lag:
    """The processor group's records still to process, from committed offsets (None when unreadable)."""

    def __init__(self, settings: Settings) -> None:
        from processors.audit.logread import LogReader

        self.settings = settings
        self.group = os.environ.get("PREFSTREAM_APP_ID", "prefstream-processor")
        self.reader = LogReader(settings)

    def __call__(self) -> int | None:
        from confluent_kafka import KafkaException

        from processors.audit.logread import Topics
        from processors.audit.rebuild import group_lag

        topics = Topics()
        try:
            return group_lag(self.settings, self.reader, self.group, [topics.events, topics.customer_events]).behind
        except KafkaException:
            return None

    def close(self) -> None:
        self.reader.close()


def sample_link(ports: Ports, env: dict[str, str]) -> str:
    """The preference-center link of the simulated sample customer."""
    from datetime import UTC, datetime

    from producers.web.config import WebSettings, load_web_config
    from producers.web.service import access_link

    web = WebSettings(secret=env["PREFSTREAM_WEB_SECRET"].encode(), processor_url=env["PREFSTREAM_PROCESSOR_URL"],
                      public_url=f"http://127.0.0.1:{ports.web}", dev=False)
    return access_link(load_web_config(), web, SAMPLE_CUSTOMER, datetime.now(UTC))


def watch(stages: list[Stage], simulator: Stage, scraper: run_progress.Scraper, lag: Lag, header: list[str],
          console: Console, say: Callable[[str], None]) -> None:
    """Show progress until the simulator exits (the end of --duration) or KeyboardInterrupt."""
    before: run_progress.Snapshot | None = None
    status = "Ctrl+C stops everything this run started"
    if console.is_terminal:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while simulator.exited() is None:
                check_running(stages)
                now = scraper.take(lag())
                live.update(run_progress.view(now, before, header, status))
                before = now
                time.sleep(1.0)
    else:
        for text in header:
            say(text)
        last = 0.0
        while simulator.exited() is None:
            check_running(stages)
            if time.monotonic() - last >= 10:
                now = scraper.take(lag())
                say(run_progress.line(now, before))
                before, last = now, time.monotonic()
            time.sleep(0.5)
    say(f"simulator finished (exit code {simulator.exited()}); its counts are in its log")


def drain(stages: list[Stage], scraper: run_progress.Scraper, lag: Lag, say: Callable[[str], None],
          timeout: float = DRAIN_TIMEOUT) -> None:
    """Wait until the processor has processed every record (twice in a row) and every sink has no lag."""
    say("draining: waiting for the processor and the sinks to catch up (Ctrl+C again stops at once)")
    began, zero_before = time.monotonic(), False
    while time.monotonic() - began < timeout:
        check_running(stages)
        behind = lag()
        snapshot = scraper.take(behind)
        zero = behind == 0 and not any(snapshot.sink_lag.values())
        if zero and zero_before:
            say(f"caught up in {time.monotonic() - began:.0f} s: {run_progress.line(snapshot, None)}")
            return
        zero_before = zero
        time.sleep(2.0)
    say(f"not caught up after {timeout:.0f} s; stopping anyway")


def run_pipeline(settings: Settings, say: Callable[[str], None] = print, ports: Ports | None = None,
                 traffic: Traffic | None = None, console: Console | None = None) -> None:
    """Start everything, drive it with the simulator, show progress; stop what it started (see the module doc)."""
    ports, traffic, console = ports or Ports(), traffic or Traffic(), console or Console()
    with run_lock(settings.home), sigterm_interrupts():
        broker = LocalBroker(settings)
        started_broker = False
        stages: list[Stage] = []
        simulator: Stage | None = None
        try:
            if not settings.external and broker.pid() is None:
                started_broker = True
                seconds = broker.start()
                say(f"Kafka {broker.status().version} ready on {broker.address} in {seconds:.1f} s")
            created = create_topics(settings)
            say(f"topics: {sum(outcome == 'created' for outcome in created.values())} created, {len(created)} in all")
            env = child_env(settings, ports, sinks_config(settings.home, ports))
            stages = pipeline_stages(settings, ports, env)
            logs = settings.home / "logs"
            for stage in stages:
                pid = stage.start(logs)
                say(f"started {stage.name} (pid {pid}), log {logs / (stage.name + '.log')}")
            say(f"every stage ready in {wait_ready(stages, ports, say=say):.0f} s")
            simulator = simulator_stage(ports, traffic, env)
            simulator.start(logs)
            lag = Lag(settings)
            try:
                header = [
                    f"simulating {traffic.customers:,} customers at {traffic.rate:g} requests/s"
                    + (f" for {traffic.duration:g} s" if traffic.duration else " until Ctrl+C"),
                    f"preference center of sample customer {SAMPLE_CUSTOMER}: {sample_link(ports, env)}",
                    "metrics: " + " ".join(stage.metrics for stage in [*stages, simulator] if stage.metrics),
                    f"logs: {logs}",
                ]
                scraper = run_progress.Scraper(stage.metrics for stage in [*stages, simulator] if stage.metrics)
                try:
                    watch(stages, simulator, scraper, lag, header, console, say)
                except KeyboardInterrupt:
                    say("stopping the simulator")
                simulator.stop()
                drain(stages, scraper, lag, say)
            finally:
                lag.close()
        except KeyboardInterrupt:
            say("stopping now")
        finally:
            for stage in reversed([*stages, *([simulator] if simulator else [])]):
                stage.stop()
            if stages:
                say(f"stopped {len(stages) + bool(simulator)} processes")
            if started_broker:
                broker.stop()
                say("broker stopped")
