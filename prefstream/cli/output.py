"""What every command prints with: the console, one-line errors, and the exit codes' wording."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from prefstream.errors import EXIT_PROBLEM, EXIT_SETUP, EXIT_UNREACHABLE, EXIT_USAGE

console = Console()
errors = Console(stderr=True)

USAGE = f"{EXIT_USAGE} bad usage"
SETUP = f"{EXIT_SETUP} bad setup or configuration"
UNREACHABLE = f"{EXIT_UNREACHABLE} Kafka unreachable"


def exit_codes(*codes: str) -> str:
    """A command's help epilog: `Exit codes: 0 ok; ...`."""
    return "Exit codes: " + "; ".join(("0 ok", *codes)) + "."


def fail(message: str, code: int = EXIT_PROBLEM) -> NoReturn:
    """One line on stderr, then exit with `code`."""
    errors.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
