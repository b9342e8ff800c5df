"""`prefstream pos ingest`: publish a store export."""

from __future__ import annotations

from pathlib import Path

import typer

from prefstream.cli.output import UNREACHABLE, USAGE, console, exit_codes, fail
from prefstream.core.settings import load_settings
from prefstream.core.topics import admin_client
from prefstream.errors import EXIT_PROBLEM, EXIT_UNREACHABLE, EXIT_USAGE

pos_app = typer.Typer(help="Store (POS) exports.", no_args_is_help=True)


@pos_app.command("ingest", epilog=exit_codes("1 a line was rejected (it is on the DLQ) or the file is not UTF-8", USAGE,
                                               UNREACHABLE + " (re-run the file: it is idempotent)"))
def pos_ingest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The export file."),
    format: str = typer.Option(None, "--format", help="csv | jsonl (default: from the file's suffix)."),
) -> None:
    """Publish a store export; print accepted and rejected lines."""
    from rich.progress import Progress

    from producers.pos_ingest import count_lines, ingest
    from producers.publisher import Publisher, Unavailable

    form = format or ("jsonl" if file.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    if form not in ("csv", "jsonl"):
        fail("--format must be csv or jsonl", EXIT_USAGE)
    settings = load_settings()
    admin_client(settings)  # KafkaUnreachable (exit 4) before reading anything
    publisher = Publisher(settings, "pos")
    try:
        lines = count_lines(file)
        with Progress(console=console, transient=True, disable=lines < 1000) as progress:
            task = progress.add_task(f"ingesting {file.name}", total=lines)
            report = ingest(publisher, file, form, lambda n: progress.advance(task, n))
    except Unavailable as error:
        fail(f"{error} (nothing after the last acknowledged line is certain; re-run the file, it is idempotent)", EXIT_UNREACHABLE)
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text")
    finally:
        publisher.close()
    console.print(f"{file.name}: {len(report.accepted)} accepted, {len(report.rejected)} rejected")
    for number, reason, problems in report.rejected:
        console.print(f"  line {number}: {reason}: " + "; ".join(map(str, problems)), highlight=False)
    if report.rejected:
        raise typer.Exit(EXIT_PROBLEM)
