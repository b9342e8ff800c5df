"""`prefstream simulate`: wire the traffic generator and the driver to the running adapters."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from prefstream.core.settings import Settings
from prefstream.local.simulate.driver import ACCEPTED, FAILED, IGNORED, REJECTED, UNEXPECTED, Driver, Endpoints, Tally
from prefstream.local.simulate.traffic import Traffic


def link_signer(web_port: int) -> Callable[[str], str]:
    """customer id -> preference-center link token, signed with PREFSTREAM_WEB_SECRET (ConfigError without it)."""
    from producers.web.config import load_web_config, load_web_settings
    from producers.web.service import access_link

    config, web_settings = load_web_config(), load_web_settings(port=web_port)
    tokens: dict[str, str] = {}

    def sign(customer: str) -> str:
        if customer not in tokens:
            tokens[customer] = access_link(config, web_settings, customer, datetime.now(UTC)).rsplit("/p/", 1)[1]
        return tokens[customer]

    return sign


def simulate(settings: Settings, customers: int, rate: float, duration: float, seed: int, endpoints: Endpoints,
             web_port: int, metrics_port: int | None = None) -> Tally:
    """Drive every adapter for `duration` seconds (0: until SIGINT/SIGTERM) and return the tally.

    POS batches are published in this process; with `metrics_port` its publisher's Prometheus
    counters (source "pos") are served on 127.0.0.1.
    """
    from producers.pos_ingest import ingest
    from producers.publisher import Publisher

    sign = link_signer(web_port)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    publisher = Publisher(settings, "pos")

    def pos_ingest(path: Path) -> tuple[int, int]:
        report = ingest(publisher, path, "csv")
        return len(report.accepted), len(report.rejected)

    async def main() -> Tally:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        return await Driver(endpoints, sign, pos_ingest).run(Traffic(customers, seed), rate, duration, stop)

    try:
        return asyncio.run(main())
    finally:
        publisher.close()


def summary(tally: Tally, seconds: float) -> str:
    """One line per adapter and a total: accepted, ignored, rejected, failed, unexpected."""
    outcomes = (ACCEPTED, IGNORED, REJECTED, FAILED, UNEXPECTED)
    lines = [f"{'adapter':12}" + "".join(f"{name:>11}" for name in outcomes)]
    for adapter, counter in tally.counts.items():
        lines.append(f"{adapter:12}" + "".join(f"{counter[name]:>11,}" for name in outcomes))
    lines.append(f"{'total':12}" + "".join(f"{tally.total(name):>11,}" for name in outcomes))
    lines.append(f"{tally.sent:,} requests in {seconds:.1f} s ({tally.sent / max(seconds, 1e-9):,.0f}/s); "
                 "POS counts are lines, the others requests")
    lines += [f"  {count:,} x {what}" for what, count in tally.surprises.most_common(10)]
    return "\n".join(lines)
