"""`prefstream history|replay|export|verify|rebuild`: audits of the log with the processor's own fold."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from prefstream.cli.output import SETUP, UNREACHABLE, USAGE, console, errors, exit_codes, fail
from prefstream.core import ports
from prefstream.core.formats import parse_time
from prefstream.core.settings import load_settings
from prefstream.errors import EXIT_PROBLEM, EXIT_USAGE
from processors.audit import queries, render
from processors.audit.logread import LogReader, Topics
from schemas.subjects import identifier

AUDIT_EXIT_CODES = exit_codes("1 nothing found for the subject (for verify: differences found)",
                              USAGE + " (a malformed subject or time)", SETUP + " (a topic missing)", UNREACHABLE)
_SUBJECT = typer.Argument(None, help="A customer id, or an identifier subject: email:…, phone:…, loyalty:…, social:<platform>:<handle>.")
_EMAIL = typer.Option(None, "--email", help="An email address instead of CUSTOMER.")
_PHONE = typer.Option(None, "--phone", help="An E.164 phone number instead of CUSTOMER.")
_JSON = typer.Option(False, "--json", help="JSON instead of text.")


def subject_of(customer: str | None, email: str | None, phone: str | None) -> str:
    """The one subject named by CUSTOMER, --email or --phone (exit 2 unless exactly one, well formed)."""
    given = [s for s in (customer, email and identifier("email", email), phone and identifier("phone", phone)) if s]
    if len(given) != 1:
        fail("name exactly one of CUSTOMER, --email or --phone", EXIT_USAGE)
    return queries.check_subject(given[0])


def moment(text: str | None, option: str) -> datetime:
    """An ISO 8601 time given on the command line (now when absent); exit 2 when malformed."""
    if text is None:
        return datetime.now(UTC)
    try:
        return parse_time(text)
    except ValueError:
        fail(f"{option}: not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)", EXIT_USAGE)


def emit(as_json: bool, data: Callable[[], Any], text: Callable[[], Any]) -> None:
    """Print JSON or rich text."""
    if as_json:
        print(json.dumps(data(), indent=2, ensure_ascii=False))
    else:
        Console(soft_wrap=False).print(text())


def history(customer: str = _SUBJECT, email: str = _EMAIL, phone: str = _PHONE, as_json: bool = _JSON) -> None:
    """A customer's (or identifier's) events in time order, with touchpoint, actor, changes and proof.

    Read from the one partition that holds the key."""
    subject = subject_of(customer, email, phone)
    with LogReader(load_settings()) as reader:
        found = queries.history(reader, Topics(), subject)
    emit(as_json, lambda: render.history_json(found), lambda: render.history_text(found))


def replay(
    customer: str = _SUBJECT, email: str = _EMAIL, phone: str = _PHONE,
    as_of: str = typer.Option(None, "--as-of", help="ISO 8601 time, e.g. 2026-03-01T12:00:00Z (UTC when no offset); default now."),
    as_json: bool = _JSON,
) -> None:
    """The profile and reachable view as of a moment, each field with the event that set it.

    Folds the events that occurred at or before the moment, also those that reached the log later."""
    subject, at = subject_of(customer, email, phone), moment(as_of, "--as-of")
    with LogReader(load_settings()) as reader:
        result = queries.replay(reader, Topics(), subject, at)
    emit(as_json, lambda: render.replay_json(result), lambda: render.replay_text(result))


def export(customer: str = _SUBJECT, email: str = _EMAIL, phone: str = _PHONE) -> None:
    """A data-subject access export as JSON: the full history and the current profile."""
    subject, now = subject_of(customer, email, phone), datetime.now(UTC)
    with LogReader(load_settings()) as reader:
        found, current = queries.export(reader, Topics(), subject, now)
    print(json.dumps(render.export_json(found, current, now), indent=2, ensure_ascii=False))


def verify(
    as_json: bool = _JSON,
    events_topic: str = typer.Option("preference-events", hidden=True),
    customer_events_topic: str = typer.Option("prefstream-customer-events", hidden=True),
    profiles_topic: str = typer.Option("customer-profiles", hidden=True),
) -> None:
    """Rebuild every profile from the whole log with the processor's fold and compare with customer-profiles.

    Prints the differences."""
    topics = Topics(events_topic, customer_events_topic, profiles_topic)
    columns = (TextColumn("replaying the log"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with LogReader(load_settings()) as reader, Progress(*columns, console=errors, transient=True) as bar:
        task = bar.add_task("verify", total=None)
        result = queries.verify(reader, topics, lambda done, total: bar.update(task, completed=done, total=total))
    emit(as_json, lambda: render.verification_json(result), lambda: render.verification_text(result))
    if result.differences:
        raise typer.Exit(EXIT_PROBLEM)


def rebuild(
    app_id: str = typer.Option(..., "--app-id", help="The new Faust app id (a new app version: its own group, tables, changelogs)."),
    web_port: int = typer.Option(ports.PROCESSOR + 1, help="The new worker's query API port."),
    data_dir: Path = typer.Option(None, help="The new worker's RocksDB folder (default: <home>/rebuild-<app-id>)."),
    timeout: float = typer.Option(3600.0, help="Seconds to wait until it has caught up."),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the new worker running once caught up."),
) -> None:
    """Reprocess the whole log into fresh processor state under a new app id, for when the fold changes.

    Starts `prefstream process --app-id NEW`, waits until its committed offsets reach the end of
    preference-events and prefstream-customer-events, then stops it (SIGTERM, by PID). The profiles
    it re-emits are harmless: sinks upsert guarded by version."""
    from processors.audit.rebuild import RebuildFailed, start_worker, stop_worker, wait_caught_up

    settings = load_settings()
    state = data_dir or settings.home / f"rebuild-{app_id}"
    log = settings.home / "logs" / f"rebuild-{app_id}.log"
    worker = start_worker(settings, app_id, web_port, state, log)
    try:
        with Progress(TextColumn(f"rebuilding as {app_id}"), BarColumn(), MofNCompleteColumn(), console=errors, transient=True) as bar:
            task = bar.add_task("rebuild", total=None)
            seconds = wait_caught_up(settings, worker, app_id, Topics(), timeout,
                                     lambda lag: bar.update(task, completed=lag.total - lag.behind, total=lag.total), log)
    except RebuildFailed as error:
        stop_worker(worker)
        fail(f"{error} (log: {log})")
    except BaseException:
        stop_worker(worker)
        raise
    if keep_running:
        console.print(f"{app_id} caught up in {seconds:.1f} s; worker pid {worker.pid} keeps running (state {state}, log {log})")
        return
    stop_worker(worker)
    console.print(f"{app_id} caught up in {seconds:.1f} s and was stopped (state {state}, log {log})")


REBUILD_EXIT_CODES = exit_codes("1 the worker exited or did not catch up in time", UNREACHABLE)
