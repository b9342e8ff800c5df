"""`prefstream sink run BU` as a process: metrics endpoint, signal handling, the runner."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from prometheus_client import start_http_server

from prefstream.core.settings import ConfigError, Settings
from sinks.config import SinkConfig, load_sinks
from sinks.runner import SinkRunner


def business_unit(name: str) -> SinkConfig:
    """The named business unit of the sinks file (ConfigError if there is none)."""
    units = load_sinks()
    if name not in units:
        raise ConfigError(f"no business unit {name!r} in the sinks config (known: {', '.join(sorted(units))})")
    return units[name]


def run_sink(config: SinkConfig, settings: Settings, say: Callable[[str], None] = print) -> None:
    """Run one business unit's sink until SIGTERM or SIGINT, then flush, commit and return."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runner = SinkRunner(config, settings)
    if config.metrics_port is not None:
        try:
            start_http_server(config.metrics_port, addr=config.metrics_host)
        except OSError as error:
            raise ConfigError(f"metrics port {config.metrics_host}:{config.metrics_port}: {error.strerror}") from None
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: runner.stop())
    metrics = f", metrics on {config.metrics_host}:{config.metrics_port}" if config.metrics_port is not None else ""
    say(f"sink {config.name}: {config.source_topic} -> {config.target['type']} (group {config.group_id}{metrics})")
    runner.run()
    say(f"sink {config.name}: stopped after flushing and committing")
