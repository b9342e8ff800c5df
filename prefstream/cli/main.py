"""The `prefstream` command: every group and command, and the one place errors become exit codes.

An error prefstream raises on purpose (`PrefstreamError`) prints one line on stderr and exits with
its code; each command's help lists the codes it can give.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

import typer

from prefstream.cli import audit, local, process, serve
from prefstream.cli.broker import broker_app, topics_app
from prefstream.cli.output import errors
from prefstream.cli.pos import pos_app
from prefstream.cli.sink import sink_app
from prefstream.errors import PrefstreamError

app = typer.Typer(help="prefstream: customer communication preferences and consent, event-sourced on Kafka.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
for group, name in ((broker_app, "broker"), (topics_app, "topics"), (serve.serve_app, "serve"), (serve.web_app, "web"),
                    (sink_app, "sink"), (pos_app, "pos")):
    app.add_typer(group, name=name)
app.command("process", epilog=process.EPILOG)(process.process)
for command in (audit.history, audit.replay, audit.export, audit.verify):
    app.command(command.__name__, epilog=audit.AUDIT_EXIT_CODES)(command)
app.command("rebuild", epilog=audit.REBUILD_EXIT_CODES)(audit.rebuild)
app.command("simulate", epilog=local.SIMULATE_EXIT_CODES)(local.simulate_command)
app.command("run", epilog=local.RUN_EXIT_CODES)(local.run)


def _print_version(asked: bool) -> None:
    if asked:
        print(f"prefstream {version('prefstream')}")
        raise typer.Exit()


@app.callback()
def _options(_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                           help="Print the version and exit.")) -> None:
    """prefstream: customer communication preferences and consent, event-sourced on Kafka."""


def main() -> None:
    """Entry point: run the command; a PrefstreamError becomes one line on stderr and its exit code."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as done:
        code = done.exit_code
    except PrefstreamError as error:
        line = f"{error} ({error.hint})" if error.hint else str(error)
        errors.print(f"[red]error:[/] {line}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # click usage errors carry their own exit code
        code = getattr(error, "exit_code", None)
        if code is not None and hasattr(error, "show"):
            error.show()
            sys.exit(code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
