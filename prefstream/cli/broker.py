"""`prefstream broker ...` (the local single-node Kafka) and `prefstream topics ...`."""

from __future__ import annotations

import typer
from rich.table import Table

from prefstream.cli.output import SETUP, UNREACHABLE, console, exit_codes, fail
from prefstream.core.settings import Settings, load_settings
from prefstream.core.topics import KafkaUnreachable, admin_client, create_topics, describe_topics, topic_specs
from prefstream.errors import EXIT_PROBLEM, EXIT_UNREACHABLE
from prefstream.local.broker import LocalBroker, ensure_jars, kafka_version

broker_app = typer.Typer(help="The local single-node Kafka (KRaft) for development.", no_args_is_help=True)
topics_app = typer.Typer(help="The pipeline's topics, created with their configs.", no_args_is_help=True)


@broker_app.command("fetch", epilog=exit_codes(SETUP))
def broker_fetch() -> None:
    """Resolve the pinned Kafka jars from Maven Central into the local lib folder (once)."""
    lib = ensure_jars(load_settings())
    console.print(f"Apache Kafka {kafka_version(lib)} jars in {lib}")


@broker_app.command("start", epilog=exit_codes(SETUP))
def broker_start(timeout: float = typer.Option(60.0, help="Seconds to wait until it answers.")) -> None:
    """Fetch the jars if needed, format storage once, start the broker and wait until ready."""
    broker = LocalBroker(load_settings())
    seconds = broker.start(timeout=timeout)
    status = broker.status()
    console.print(f"Kafka {status.version} ready on {status.address} (pid {status.pid}) in {seconds:.1f} s")


@broker_app.command("stop", epilog=exit_codes(SETUP))
def broker_stop() -> None:
    """Stop the broker this project started, by its PID."""
    stopped = LocalBroker(load_settings()).stop()
    console.print("broker stopped" if stopped else "no local broker was running")


@broker_app.command("status", epilog=exit_codes("1 not running", UNREACHABLE + " (an external cluster)"))
def broker_status() -> None:
    """Say whether the broker runs, on which address, and which Kafka version."""
    settings = load_settings()
    if settings.external:
        reachable = _reachable(settings)
        console.print(f"external Kafka at {settings.bootstrap}: {'reachable' if reachable else 'unreachable'}")
        raise typer.Exit(0 if reachable else EXIT_UNREACHABLE)
    status = LocalBroker(settings).status()
    if status.running:
        console.print(f"running: Apache Kafka {status.version} on {status.address} (pid {status.pid})")
    else:
        console.print(f"not running (Apache Kafka {status.version or 'not fetched yet'}, would listen on {status.address})")
        raise typer.Exit(EXIT_PROBLEM)


def _reachable(settings: Settings) -> bool:
    try:
        admin_client(settings, timeout=5)
    except KafkaUnreachable:
        return False
    return True


@topics_app.command("create", epilog=exit_codes(SETUP, UNREACHABLE))
def topics_create() -> None:
    """Create the pipeline's topics with their configs; existing ones are left as they are."""
    for name, outcome in create_topics(load_settings()).items():
        console.print(f"{name}: {outcome}")


@topics_app.command("describe", epilog=exit_codes("1 a topic is missing", UNREACHABLE))
def topics_describe() -> None:
    """Show partitions, replication and explicit configs of the pipeline's topics."""
    settings = load_settings()
    try:
        descriptions = describe_topics(settings, [spec.name for spec in topic_specs(settings)])
    except KeyError as missing:
        fail(f"topics missing: {missing.args[0]} (run: prefstream topics create)")
    table = Table("topic", "partitions", "replication", "config")
    for d in descriptions:
        table.add_row(d.name, str(d.partitions), str(d.replication), ", ".join(f"{k}={v}" for k, v in sorted(d.config.items())))
    console.print(table)
