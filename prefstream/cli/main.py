"""The `prefstream` command. Subcommands live in small groups; errors print one line, no trace.

Exit codes: 0 success; 1 the command ran and found a problem; 2 bad usage;
3 bad setup or configuration (no Java, port in use, broken config); 4 Kafka unreachable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from prefstream.local.broker import BrokerError, LocalBroker, ensure_jars, kafka_version
from prefstream.local.run import AlreadyRunning, run_pipeline
from prefstream.core.settings import DEFAULT_FETCH_MIN_BYTES, DEFAULT_FETCH_WAIT_MS, ConfigError, Settings, load_settings
from prefstream.core.topics import KafkaUnreachable, admin_client, create_topics, describe_topics, topic_specs

EXIT_PROBLEM, EXIT_SETUP, EXIT_UNREACHABLE = 1, 3, 4

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
broker_app = typer.Typer(help="The local single-node Kafka (KRaft) for development.", no_args_is_help=True)
topics_app = typer.Typer(help="The pipeline's topics, created with their configs.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(topics_app, name="topics")
serve_app = typer.Typer(help="Touchpoint HTTP services (each on 127.0.0.1, with /openapi.json and /metrics).", no_args_is_help=True)
app.add_typer(serve_app, name="serve")
console = Console()


@broker_app.command("fetch")
def broker_fetch() -> None:
    """Resolve the pinned Kafka jars from Maven Central into the local lib folder (once)."""
    settings = load_settings()
    lib = ensure_jars(settings)
    console.print(f"Apache Kafka {kafka_version(lib)} jars in {lib}")


@broker_app.command("start")
def broker_start(timeout: float = typer.Option(60.0, help="Seconds to wait until it answers.")) -> None:
    """Fetch the jars if needed, format storage once, start the broker and wait until ready."""
    broker = LocalBroker(load_settings())
    seconds = broker.start(timeout=timeout)
    status = broker.status()
    console.print(f"Kafka {status.version} ready on {status.address} (pid {status.pid}) in {seconds:.1f} s")


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the broker this project started, by its PID."""
    stopped = LocalBroker(load_settings()).stop()
    console.print("broker stopped" if stopped else "no local broker was running")


@broker_app.command("status")
def broker_status() -> None:
    """Say whether the broker runs, on which address, and which Kafka version (exit 1 if not)."""
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


@topics_app.command("create")
def topics_create() -> None:
    """Create the pipeline's topics with their configs; existing ones are left as they are."""
    for name, outcome in create_topics(load_settings()).items():
        console.print(f"{name}: {outcome}")


@topics_app.command("describe")
def topics_describe() -> None:
    """Show partitions, replication and explicit configs of the pipeline's topics."""
    settings = load_settings()
    try:
        descriptions = describe_topics(settings, [spec.name for spec in topic_specs(settings)])
    except KeyError as missing:
        console.print(f"[red]error:[/] topics missing: {missing.args[0]} (run: prefstream topics create)")
        raise typer.Exit(EXIT_PROBLEM) from None
    table = Table("topic", "partitions", "replication", "config")
    for d in descriptions:
        table.add_row(d.name, str(d.partitions), str(d.replication), ", ".join(f"{k}={v}" for k, v in sorted(d.config.items())))
    console.print(table)


@app.command("process")
def process(
    web_port: int = typer.Option(6066, help="Port of this worker's query API and /metrics."),
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

    from processors.runtime.app import ProcessorConfig, changelog_specs, create_app

    settings = load_settings()
    create_topics(settings, topic_specs(settings) + changelog_specs(settings, app_id))
    config = ProcessorConfig(app_id=app_id, web_port=web_port, data_dir=data_dir, standby_replicas=standbys,
                             fetch_wait_ms=fetch_wait_ms, fetch_min_bytes=fetch_min_bytes)
    worker = faust.Worker(create_app(settings, config), loglevel=log_level, quiet=True)
    # Without a spinner Faust keeps the root logger at `log_level`; with one it sets it to DEBUG
    # and every aiokafka/Faust debug call builds a record (9 % of the worker's CPU, measured).
    worker.spinner = None
    worker.execute_from_commandline()


sink_app = typer.Typer(help="Business-unit sinks: customer-profiles to webhook, SQL, topic or file.", no_args_is_help=True)
app.add_typer(sink_app, name="sink")


@sink_app.command("list")
def sink_list() -> None:
    """List the business units of the sinks config (sinks.toml or PREFSTREAM_SINKS)."""
    from sinks.config import load_sinks

    table = Table("business unit", "target", "sections", "filter", "group")
    for unit in load_sinks().values():
        rule = unit.filter
        conditions = [f"reachable on {'/'.join(rule.reachable_on)}"] if rule.reachable_on else []
        conditions += [f"opted in to {rule.consent_channel} {rule.consent_purpose}"] if rule.consent_channel else []
        table.add_row(unit.name, unit.target["type"], ", ".join(unit.sections), "; ".join(conditions) or "-", unit.group_id)
    console.print(table)


@sink_app.command("run")
def sink_run(business_unit: str = typer.Argument(..., help="The business unit's name in the sinks config.")) -> None:
    """Deliver a business unit's profiles until SIGTERM/SIGINT (then flush and commit)."""
    from sinks.service import business_unit as find_unit
    from sinks.service import run_sink
    from sinks.targets.base import TargetError

    try:
        run_sink(find_unit(business_unit), load_settings(), say=console.print)
    except TargetError as error:
        _fail(str(error), EXIT_PROBLEM)


AUDIT_EXIT_CODES = (
    "Exit codes: 0 ok; 1 nothing found for the subject (or, for verify, differences found); "
    "2 bad usage (a malformed subject or time); 3 bad setup (a topic missing); 4 Kafka unreachable."
)
_SUBJECT = typer.Argument(None, help="A customer id, or an identifier subject: email:…, phone:…, loyalty:…, social:<platform>:<handle>.")
_EMAIL = typer.Option(None, "--email", help="An email address instead of CUSTOMER.")
_PHONE = typer.Option(None, "--phone", help="An E.164 phone number instead of CUSTOMER.")
_JSON = typer.Option(False, "--json", help="JSON instead of text.")


@app.command("history", help=f"A customer's (or identifier's) events in time order, with touchpoint, actor, changes and proof, read from the one partition that holds the key. {AUDIT_EXIT_CODES}")
def history_command(customer: str = _SUBJECT, email: str = _EMAIL, phone: str = _PHONE, as_json: bool = _JSON) -> None:
    from prefstream.cli import audit as audit_cli

    audit_cli.history(audit_cli.subject_of(customer, email, phone), as_json)


@app.command("replay", help=f"The profile and reachable view as of a moment (events that occurred at or before it), each field with the event that set it. {AUDIT_EXIT_CODES}")
def replay_command(
    customer: str = _SUBJECT, email: str = _EMAIL, phone: str = _PHONE,
    as_of: str = typer.Option(None, "--as-of", help="ISO 8601 time, e.g. 2026-03-01T12:00:00Z (UTC when no offset); default now."),
    as_json: bool = _JSON,
) -> None:
    from prefstream.cli import audit as audit_cli

    subject = audit_cli.subject_of(customer, email, phone)
    audit_cli.replay(subject, audit_cli.moment(as_of, "--as-of"), as_json)


@app.command("export", help=f"A data-subject access export as JSON: the full history and the current profile. {AUDIT_EXIT_CODES}")
def export_command(customer: str = _SUBJECT, email: str = _EMAIL, phone: str = _PHONE) -> None:
    from prefstream.cli import audit as audit_cli

    audit_cli.export(audit_cli.subject_of(customer, email, phone))


@app.command("verify", help=f"Rebuild every profile from the whole log with the processor's fold and compare with the latest records of customer-profiles; print the differences. {AUDIT_EXIT_CODES}")
def verify_command(
    as_json: bool = _JSON,
    events_topic: str = typer.Option("preference-events", hidden=True),
    customer_events_topic: str = typer.Option("prefstream-customer-events", hidden=True),
    profiles_topic: str = typer.Option("customer-profiles", hidden=True),
) -> None:
    from prefstream.cli import audit as audit_cli
    from processors.audit.logread import Topics

    audit_cli.verify(as_json, Topics(events_topic, customer_events_topic, profiles_topic))


@app.command("rebuild")
def rebuild_command(
    app_id: str = typer.Option(..., "--app-id", help="The new Faust app id (a new app version: its own group, tables, changelogs)."),
    web_port: int = typer.Option(6067, help="The new worker's query API port."),
    data_dir: Path = typer.Option(None, help="The new worker's RocksDB folder (default: <home>/rebuild-<app-id>)."),
    timeout: float = typer.Option(3600.0, help="Seconds to wait until it has caught up."),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the new worker running once caught up."),
) -> None:
    """Reprocess the whole log into fresh processor state under a new app id, for when the fold changes.

    Starts `prefstream process --app-id NEW`, waits until its committed offsets reach the end of
    preference-events and prefstream-customer-events, then stops it (SIGTERM, by PID). The profiles
    it re-emits are harmless: sinks upsert guarded by version. Exit codes: 0 caught up; 1 the worker
    exited or did not catch up in time; 4 Kafka unreachable.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from processors.audit.logread import Topics
    from processors.audit.rebuild import RebuildFailed, start_worker, stop_worker, wait_caught_up

    settings = load_settings()
    state = data_dir or settings.home / f"rebuild-{app_id}"
    log = settings.home / "logs" / f"rebuild-{app_id}.log"
    worker = start_worker(settings, app_id, web_port, state, log)
    try:
        with Progress(TextColumn(f"rebuilding as {app_id}"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("rebuild", total=None)
            seconds = wait_caught_up(settings, worker, app_id, Topics(), timeout,
                                     lambda lag: bar.update(task, completed=lag.total - lag.behind, total=lag.total), log)
    except RebuildFailed as error:
        stop_worker(worker)
        _fail(f"{error} (log: {log})", EXIT_PROBLEM)
    except BaseException:
        stop_worker(worker)
        raise
    if keep_running:
        console.print(f"{app_id} caught up in {seconds:.1f} s; worker pid {worker.pid} keeps running (state {state}, log {log})")
        return
    stop_worker(worker)
    console.print(f"{app_id} caught up in {seconds:.1f} s and was stopped (state {state}, log {log})")


pos_app = typer.Typer(help="Store (POS) exports.", no_args_is_help=True)
app.add_typer(pos_app, name="pos")


@pos_app.command("ingest")
def pos_ingest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The export file."),
    format: str = typer.Option(None, "--format", help="csv | jsonl (default: from the file's suffix)."),
) -> None:
    """Publish a store export; print accepted and rejected lines (exit 1 if any was rejected)."""
    from rich.progress import Progress

    from producers.pos_ingest import count_lines, ingest
    from producers.publisher import Publisher, Unavailable

    form = format or ("jsonl" if file.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    if form not in ("csv", "jsonl"):
        console.print("[red]error:[/] --format must be csv or jsonl")
        raise typer.Exit(2)
    settings = load_settings()
    admin_client(settings)  # KafkaUnreachable (exit 4) before reading anything
    publisher = Publisher(settings, "pos")
    try:
        lines = count_lines(file)
        with Progress(console=console, transient=True, disable=lines < 1000) as progress:
            task = progress.add_task(f"ingesting {file.name}", total=lines)
            report = ingest(publisher, file, form, lambda n: progress.advance(task, n))
    except Unavailable as error:
        _fail(f"{error} (nothing after the last acknowledged line is certain; re-run the file, it is idempotent)", EXIT_UNREACHABLE)
    except UnicodeDecodeError:
        _fail(f"{file} is not UTF-8 text", EXIT_PROBLEM)
    finally:
        publisher.close()
    console.print(f"{file.name}: {len(report.accepted)} accepted, {len(report.rejected)} rejected")
    for number, reason, problems in report.rejected:
        console.print(f"  line {number}: {reason}: " + "; ".join(map(str, problems)), highlight=False)
    if report.rejected:
        raise typer.Exit(EXIT_PROBLEM)


def _serve(source: str, port: int, build) -> None:
    """Run one touchpoint service on 127.0.0.1:port with its own publisher."""
    from producers.http import run as run_service
    from producers.publisher import Publisher

    settings = load_settings()
    admin_client(settings)  # KafkaUnreachable (exit 4) before listening
    publisher = Publisher(settings, source)
    console.print(f"{source} on http://127.0.0.1:{port} (OpenAPI at /openapi.json, metrics at /metrics)")
    try:
        run_service(build(publisher), port)
    except OSError as error:
        _fail(f"cannot listen on 127.0.0.1:{port}: {error.strerror}", EXIT_SETUP)


@serve_app.command("sms")
def serve_sms(
    port: int = typer.Option(8083, help="Port on 127.0.0.1."),
    brand: str = typer.Option("prefstream", envvar="PREFSTREAM_BRAND", help="Brand name in the reply texts."),
) -> None:
    """The inbound SMS keyword webhook (POST /sms/inbound)."""
    from producers import sms

    _serve("sms", port, lambda publisher: sms.create_app(publisher, brand))


@serve_app.command("social")
def serve_social(port: int = typer.Option(8082, help="Port on 127.0.0.1.")) -> None:
    """The social messages and mentions webhook (POST /social/messages)."""
    from producers import social

    _serve("social", port, social.create_app)


@serve_app.command("call-center")
def serve_call_center(
    port: int = typer.Option(8081, help="Port on 127.0.0.1."),
    processor_url: str = typer.Option("http://127.0.0.1:6066", envvar="PREFSTREAM_PROCESSOR_URL",
                                      help="The processor's query API."),
) -> None:
    """The agent-desktop API (POST /call-center/events; profile and store-summary reads)."""
    from producers import call_center

    _serve("call-center", port, lambda publisher: call_center.create_app(publisher, processor_url))


@app.command("simulate")
def simulate_command(
    customers: int = typer.Option(1000, min=1, help="Simulated customers (ids sim-000000 ...)."),
    rate: float = typer.Option(50.0, min=0.1, help="Requests per second over all adapters (a POS file counts as one)."),
    duration: float = typer.Option(60.0, min=0.0, help="Seconds to run; 0 runs until Ctrl+C."),
    seed: int = typer.Option(0, help="Seed of the traffic generator (same seed, same traffic)."),
    web_port: int = typer.Option(8080, help="Port of `prefstream serve web` (links are signed with PREFSTREAM_WEB_SECRET)."),
    call_center_port: int = typer.Option(8081, help="Port of `prefstream serve call-center`."),
    social_port: int = typer.Option(8082, help="Port of `prefstream serve social`."),
    sms_port: int = typer.Option(8083, help="Port of `prefstream serve sms`."),
    metrics_port: int = typer.Option(None, help="Serve this process's /metrics (the POS publisher's counters) on 127.0.0.1."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Drive every adapter with mixed traffic (web sessions, POS late files, agent calls, social, SMS
    STOP/START, duplicates, malformed input); print accepted and rejected counts. Exit 1 when an
    adapter answered against expectation (rejected valid input, accepted malformed) or failed."""
    import json
    import time

    from prefstream.local.simulate.command import simulate, summary
    from prefstream.local.simulate.driver import FAILED, UNEXPECTED, Endpoints

    local = "http://127.0.0.1:{}".format
    endpoints = Endpoints(local(web_port), local(call_center_port), local(social_port), local(sms_port))
    began = time.monotonic()
    tally = simulate(load_settings(), customers, rate, duration, seed, endpoints, web_port, metrics_port)
    seconds = time.monotonic() - began
    if as_json:
        console.print_json(json.dumps({"seconds": round(seconds, 1), **tally.as_dict()}))
    else:
        console.print(summary(tally, seconds), highlight=False)
    if tally.total(UNEXPECTED) or tally.total(FAILED):
        raise typer.Exit(EXIT_PROBLEM)


@app.command("run")
def run(
    customers: int = typer.Option(1000, min=1, envvar="PREFSTREAM_RUN_CUSTOMERS", help="Simulated customers."),
    rate: float = typer.Option(50.0, min=0.1, envvar="PREFSTREAM_RUN_RATE", help="Simulated requests per second."),
    duration: float = typer.Option(0.0, min=0.0, envvar="PREFSTREAM_RUN_DURATION",
                                   help="Stop (after draining) this many seconds after the traffic starts; 0: at Ctrl+C."),
    base_port: int = typer.Option(None, envvar="PREFSTREAM_RUN_BASE_PORT",
                                  help="Put the stages' 8 ports at N, N+1, ... (default 6066, 8080-8083, 9201, 9202, 9209)."),
) -> None:
    """Run the local pipeline with simulated traffic and live progress until Ctrl+C (or --duration);
    drains, then stops everything it started, by PID."""
    from prefstream.local.stages import Ports, Traffic

    ports = Ports.from_base(base_port) if base_port else Ports()
    say = lambda text: console.print(text, soft_wrap=True, highlight=False)  # noqa: E731
    run_pipeline(load_settings(), say=say, ports=ports, traffic=Traffic(customers, rate, duration), console=console)


web_app = typer.Typer(help="The web preference center's signed links.", no_args_is_help=True)
app.add_typer(web_app, name="web")


@serve_app.command("web")
def serve_web(
    port: int = typer.Option(8080, help="Port on 127.0.0.1."),
    dev: bool = typer.Option(False, "--dev", help="Throwaway secret if none is set; email confirmation links shown on the page."),
    print_link: str = typer.Option(None, "--print-link", metavar="CUSTOMER", help="Print a signed link for CUSTOMER on start."),
) -> None:
    """The web preference center and its JSON API (PREFSTREAM_WEB_SECRET, PREFSTREAM_PROCESSOR_URL)."""
    from producers.web.server import serve

    serve(load_settings(), port, dev=dev, link_for=print_link, say=console.print)


@web_app.command("link")
def web_link(
    customer: str = typer.Argument(..., help="The customer id."),
    days: int = typer.Option(None, min=1, help="Days the link stays valid (default: the configured link_days)."),
    port: int = typer.Option(8080, help="Port of the service the link points to (unless PREFSTREAM_WEB_PUBLIC_URL)."),
) -> None:
    """Print a signed, expiring preference-center link for one customer."""
    from producers.web.server import print_link

    try:
        console.print(print_link(customer, days, port), soft_wrap=True, highlight=False)
    except ValueError:
        _fail("not a customer id ([A-Za-z0-9._-], at most 128 characters)", 2)


def main() -> None:
    """Entry point: run the command; known failures become one clear line and an exit code."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as done:
        code = done.exit_code
    except (BrokerError, ConfigError, AlreadyRunning) as error:
        _fail(str(error), EXIT_SETUP)
    except KafkaUnreachable as error:
        _fail(f"{error} (is the broker running? `prefstream broker start`, or check KAFKA_BOOTSTRAP)", EXIT_UNREACHABLE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # click usage errors carry their own exit code
        code = getattr(error, "exit_code", None)
        if code is not None and hasattr(error, "show"):
            error.show()
            sys.exit(code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    Console(stderr=True).print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)
