"""`prefstream process`: one stream-processor worker."""

from __future__ import annotations

from pathlib import Path

import typer

from prefstream.cli.output import SETUP, UNREACHABLE, exit_codes
from prefstream.core import ports
from prefstream.core.settings import DEFAULT_FETCH_MIN_BYTES, DEFAULT_FETCH_WAIT_MS, load_settings
from prefstream.core.topics import create_topics, topic_specs


def process(
    web_port: int = typer.Option(ports.PROCESSOR, help="Port of this worker's query API and /metrics."),
    data_dir: Path = typer.Option(None, help="RocksDB state folder (default: <home>/processor-<web-port>)."),
    standbys: int = typer.Option(0, envvar="PREFSTREAM_STANDBYS", help="Standby replicas of every table."),
    app_id: str = typer.Option("prefstream-processor", envvar="PREFSTREAM_APP_ID", help="Faust app id (consumer group)."),
    fetch_wait_ms: int = typer.Option(DEFAULT_FETCH_WAIT_MS, envvar="PREFSTREAM_FETCH_WAIT_MS", min=1,
                                      help="Longest wait of a fetch at the broker: bounds the latency an idle partition adds."),
    fetch_min_bytes: int = typer.Option(DEFAULT_FETCH_MIN_BYTES, envvar="PREFSTREAM_FETCH_MIN_BYTES", min=1,
                                        help="A fetch returns early once it holds this much; fewer, fuller fetches at low rates."),
    log_level: str = typer.Option("warn", help="crit | error | warn | info | debug"),
) -> None:
    """Run one stream-processor worker: fold events into per-customer tables, emit profiles."""
    import faust

    from processors.runtime import framework
    from processors.runtime.app import ProcessorConfig, changelog_specs, create_app

    framework.check_versions()
    settings = load_settings()
    create_topics(settings, topic_specs(settings) + changelog_specs(settings, app_id))
    config = ProcessorConfig(app_id=app_id, web_port=web_port, data_dir=data_dir, standby_replicas=standbys,
                             fetch_wait_ms=fetch_wait_ms, fetch_min_bytes=fetch_min_bytes)
    worker = faust.Worker(create_app(settings, config), loglevel=log_level, quiet=True)
    # Without a spinner Faust keeps the root logger at `log_level`; with one it sets it to DEBUG
    # and every aiokafka/Faust debug call builds a record.
    worker.spinner = None
    worker.execute_from_commandline()


EPILOG = exit_codes(SETUP + " (a framework version other than the pinned one)", UNREACHABLE,
                    "75 an output was not acknowledged: restart, it re-reads from the last commit")
