"""`prefstream sink ...`: the business units' sinks."""

from __future__ import annotations

import typer
from rich.table import Table

from prefstream.cli.output import SETUP, UNREACHABLE, console, exit_codes
from prefstream.core.settings import load_settings

sink_app = typer.Typer(help="Business-unit sinks: customer-profiles to webhook, SQL, topic or file.", no_args_is_help=True)


@sink_app.command("list", epilog=exit_codes(SETUP))
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


@sink_app.command("run", epilog=exit_codes("1 the target did not open", SETUP, UNREACHABLE))
def sink_run(business_unit: str = typer.Argument(..., help="The business unit's name in the sinks config.")) -> None:
    """Deliver a business unit's profiles until SIGTERM/SIGINT (then flush and commit)."""
    from sinks.service import business_unit as find_unit
    from sinks.service import run_sink

    run_sink(find_unit(business_unit), load_settings(), say=console.print)
