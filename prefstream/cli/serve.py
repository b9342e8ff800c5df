"""`prefstream serve ...` (the touchpoint HTTP services) and `prefstream web link`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from prefstream.cli.output import SETUP, UNREACHABLE, USAGE, console, exit_codes, fail
from prefstream.core import ports
from prefstream.core.settings import ConfigError, load_settings
from prefstream.core.topics import admin_client
from prefstream.errors import EXIT_USAGE

serve_app = typer.Typer(help="Touchpoint HTTP services (each on 127.0.0.1, with /openapi.json and /metrics).", no_args_is_help=True)
web_app = typer.Typer(help="The web preference center's signed links.", no_args_is_help=True)
SERVICE_EXIT_CODES = exit_codes(SETUP + " (a port in use, a bad setting)", UNREACHABLE)


def _serve(source: str, port: int, build: Callable[[Any], Any]) -> None:
    """Run one touchpoint service on 127.0.0.1:port with its own publisher."""
    from producers.http import run as run_service
    from producers.publisher import Publisher

    settings = load_settings()
    admin_client(settings)  # KafkaUnreachable (exit 4) before listening
    publisher = Publisher(settings, source)
    console.print(f"{source} on {ports.local_url(port)} (OpenAPI at /openapi.json, metrics at /metrics)")
    try:
        run_service(build(publisher), port)
    except OSError as error:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None


@serve_app.command("sms", epilog=SERVICE_EXIT_CODES)
def serve_sms(
    port: int = typer.Option(ports.SMS, help="Port on 127.0.0.1."),
    brand: str = typer.Option("prefstream", envvar="PREFSTREAM_BRAND", help="Brand name in the reply texts."),
) -> None:
    """The inbound SMS keyword webhook (POST /sms/inbound)."""
    from producers import sms

    _serve("sms", port, lambda publisher: sms.create_app(publisher, brand))


@serve_app.command("social", epilog=SERVICE_EXIT_CODES)
def serve_social(port: int = typer.Option(ports.SOCIAL, help="Port on 127.0.0.1.")) -> None:
    """The social messages and mentions webhook (POST /social/messages)."""
    from producers import social

    _serve("social", port, social.create_app)


@serve_app.command("call-center", epilog=SERVICE_EXIT_CODES)
def serve_call_center(
    port: int = typer.Option(ports.CALL_CENTER, help="Port on 127.0.0.1."),
    processor_url: str = typer.Option(ports.PROCESSOR_URL, envvar="PREFSTREAM_PROCESSOR_URL", help="The processor's query API."),
) -> None:
    """The agent-desktop API (POST /call-center/events; profile and store-summary reads)."""
    from producers import call_center

    _serve("call-center", port, lambda publisher: call_center.create_app(publisher, processor_url))


@serve_app.command("web", epilog=SERVICE_EXIT_CODES)
def serve_web(
    port: int = typer.Option(ports.WEB, help="Port on 127.0.0.1."),
    dev: bool = typer.Option(False, "--dev", help="Throwaway secret if none is set; email confirmation links shown on the page."),
    print_link: str = typer.Option(None, "--print-link", metavar="CUSTOMER", help="Print a signed link for CUSTOMER on start."),
) -> None:
    """The web preference center and its JSON API (PREFSTREAM_WEB_SECRET, PREFSTREAM_PROCESSOR_URL)."""
    from producers.web.server import serve

    serve(load_settings(), port, dev=dev, link_for=print_link, say=console.print)


@web_app.command("link", epilog=exit_codes(USAGE + " (not a customer id)", SETUP + " (no PREFSTREAM_WEB_SECRET)"))
def web_link(
    customer: str = typer.Argument(..., help="The customer id."),
    days: int = typer.Option(None, min=1, help="Days the link stays valid (default: the configured link_days)."),
    port: int = typer.Option(ports.WEB, help="Port of the service the link points to (unless PREFSTREAM_WEB_PUBLIC_URL)."),
) -> None:
    """Print a signed, expiring preference-center link for one customer."""
    from producers.web.server import print_link

    try:
        console.print(print_link(customer, days, port), soft_wrap=True, highlight=False)
    except ValueError:
        fail("not a customer id ([A-Za-z0-9._-], at most 128 characters)", EXIT_USAGE)
