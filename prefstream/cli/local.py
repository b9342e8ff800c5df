"""`prefstream run` (the local pipeline with simulated traffic) and `prefstream simulate`."""

from __future__ import annotations

import typer

from prefstream.cli.output import SETUP, UNREACHABLE, console, exit_codes
from prefstream.core import ports
from prefstream.core.settings import load_settings
from prefstream.errors import EXIT_PROBLEM


def simulate_command(
    customers: int = typer.Option(1000, min=1, help="Simulated customers (ids sim-000000 ...)."),
    rate: float = typer.Option(50.0, min=0.1, help="Requests per second over all adapters (a POS file counts as one)."),
    duration: float = typer.Option(60.0, min=0.0, help="Seconds to run; 0 runs until Ctrl+C."),
    seed: int = typer.Option(0, help="Seed of the traffic generator (same seed, same traffic)."),
    web_port: int = typer.Option(ports.WEB, help="Port of `prefstream serve web` (links are signed with PREFSTREAM_WEB_SECRET)."),
    call_center_port: int = typer.Option(ports.CALL_CENTER, help="Port of `prefstream serve call-center`."),
    social_port: int = typer.Option(ports.SOCIAL, help="Port of `prefstream serve social`."),
    sms_port: int = typer.Option(ports.SMS, help="Port of `prefstream serve sms`."),
    metrics_port: int = typer.Option(None, help="Serve this process's /metrics (the POS publisher's counters) on 127.0.0.1."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Drive every adapter with mixed traffic and print accepted and rejected counts per adapter.

    Web sessions, POS late files, agent calls, social, SMS STOP/START, duplicates, malformed input."""
    import json
    import time

    from prefstream.local.simulate.command import simulate, summary
    from prefstream.local.simulate.driver import FAILED, UNEXPECTED, Endpoints

    endpoints = Endpoints(*(ports.local_url(port) for port in (web_port, call_center_port, social_port, sms_port)))
    began = time.monotonic()
    tally = simulate(load_settings(), customers, rate, duration, seed, endpoints, web_port, metrics_port)
    seconds = time.monotonic() - began
    if as_json:
        console.print_json(json.dumps({"seconds": round(seconds, 1), **tally.as_dict()}))
    else:
        console.print(summary(tally, seconds), highlight=False)
    if tally.total(UNEXPECTED) or tally.total(FAILED):
        raise typer.Exit(EXIT_PROBLEM)


SIMULATE_EXIT_CODES = exit_codes("1 an adapter answered against expectation (rejected valid input, accepted malformed) or failed",
                                 UNREACHABLE)


def run(
    customers: int = typer.Option(1000, min=1, envvar="PREFSTREAM_RUN_CUSTOMERS", help="Simulated customers."),
    rate: float = typer.Option(50.0, min=0.1, envvar="PREFSTREAM_RUN_RATE", help="Simulated requests per second."),
    duration: float = typer.Option(0.0, min=0.0, envvar="PREFSTREAM_RUN_DURATION",
                                   help="Stop (after draining) this many seconds after the traffic starts; 0: at Ctrl+C."),
    base_port: int = typer.Option(None, envvar="PREFSTREAM_RUN_BASE_PORT",
                                  help="Put the stages' 8 ports at N, N+1, ... (default 6066, 8080-8083, 9201, 9202, 9209)."),
) -> None:
    """Run the local pipeline with simulated traffic and live progress until Ctrl+C (or --duration).

    Drains, then stops everything it started, by PID."""
    from prefstream.local.run import run_pipeline
    from prefstream.local.stages import Ports, Traffic

    chosen = Ports.from_base(base_port) if base_port else Ports()
    run_pipeline(load_settings(), say=lambda text: console.print(text, soft_wrap=True, highlight=False), ports=chosen,
                 traffic=Traffic(customers, rate, duration), console=console)


RUN_EXIT_CODES = exit_codes("1 a stage failed", SETUP + " (no Java, a port in use, a second run)", UNREACHABLE)
