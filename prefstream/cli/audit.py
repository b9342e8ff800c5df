"""The audit commands behind `prefstream history|replay|verify|export`: arguments in, output and exit code out.

Exit codes: 0 ok; 1 nothing found for the subject, or verify found differences; 2 bad usage
(a malformed subject or time); 3 bad setup (a topic is missing); 4 Kafka unreachable (raised as
KafkaUnreachable for the CLI's own handler).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from prefstream.core.settings import load_settings
from processors.audit import queries as audit
from processors.audit import render as audit_render
from processors.audit.logread import LogReader, MissingTopic, Topics
from processors.audit.replay import parse_time
from schemas.subjects import identifier

EXIT_FOUND_NOTHING, EXIT_USAGE, EXIT_SETUP = 1, 2, 3
out = Console(soft_wrap=False)
err = Console(stderr=True)


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, then exit with `code`."""
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code)


def subject_of(customer: str | None, email: str | None, phone: str | None) -> str:
    """The one subject named by CUSTOMER, --email or --phone (exit 2 unless exactly one)."""
    given = [s for s in (customer, email and identifier("email", email), phone and identifier("phone", phone)) if s]
    if len(given) != 1:
        fail("name exactly one of CUSTOMER, --email or --phone", EXIT_USAGE)
    try:
        return audit.check_subject(given[0])
    except audit.BadSubject as error:
        fail(str(error), EXIT_USAGE)


def moment(text: str | None, option: str) -> datetime:
    """An ISO 8601 time given on the command line (now when absent); exit 2 when malformed."""
    if text is None:
        return datetime.now(UTC)
    try:
        return parse_time(text)
    except ValueError:
        fail(f"{option}: not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)", EXIT_USAGE)


@contextmanager
def reading() -> Iterator[LogReader]:
    """A log reader on the configured cluster; a missing topic or nothing found becomes its exit code."""
    try:
        with LogReader(load_settings()) as reader:
            yield reader
    except MissingTopic as error:
        fail(str(error), EXIT_SETUP)
    except audit.NotFound as error:
        fail(str(error), EXIT_FOUND_NOTHING)


def emit(as_json: bool, data: Callable[[], Any], text: Callable[[], Any]) -> None:
    """Print JSON or rich text."""
    if as_json:
        print(json.dumps(data(), indent=2, ensure_ascii=False))
    else:
        out.print(text())


def history(subject: str, as_json: bool, topics: Topics = Topics()) -> None:
    """Print a subject's events in time order."""
    with reading() as reader:
        found = audit.history(reader, topics, subject)
    emit(as_json, lambda: audit_render.history_json(found), lambda: audit_render.history_text(found))


def replay(subject: str, at: datetime, as_json: bool, topics: Topics = Topics()) -> None:
    """Print a subject's profile as of `at`, with provenance and the reachable view."""
    with reading() as reader:
        result = audit.replay(reader, topics, subject, at)
    emit(as_json, lambda: audit_render.replay_json(result), lambda: audit_render.replay_text(result))


def export(subject: str, topics: Topics = Topics()) -> None:
    """Print the data-subject access export as JSON."""
    now = datetime.now(UTC)
    with reading() as reader:
        found, current = audit.export(reader, topics, subject, now)
    print(json.dumps(audit_render.export_json(found, current, now), indent=2, ensure_ascii=False))


def verify(as_json: bool, topics: Topics = Topics()) -> None:
    """Rebuild every profile, print the differences; exit 1 when there is any."""
    columns = (TextColumn("replaying the log"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with reading() as reader, Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("verify", total=None)
        result = audit.verify(reader, topics, lambda done, total: bar.update(task, completed=done, total=total))
    emit(as_json, lambda: audit_render.verification_json(result), lambda: audit_render.verification_text(result))
    if result.differences:
        raise typer.Exit(EXIT_FOUND_NOTHING)
