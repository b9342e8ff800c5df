"""Live progress of `prefstream run`, read from the stages' Prometheus /metrics endpoints.

A Snapshot holds the counters at one moment; the difference of two gives the rates. The view is
a rich table on a terminal, and one plain line otherwise (CI logs).
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.table import Table
from rich.text import Text

ACCEPTED = "prefstream_producer_events_accepted_total"
REJECTED = "prefstream_producer_rejected_total"
PROFILES = "prefstream_processor_profiles_emitted_total"
FOLDED = "prefstream_processor_events_folded_total"
DELIVERED = "prefstream_sink_delivered_total"
SINK_LAG = "prefstream_sink_consumer_lag"


def scrape(url: str, timeout: float = 2.0) -> list[tuple[str, dict[str, str], float]]:
    """The samples (name, labels, value) of one /metrics endpoint; empty when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            text = answer.read().decode()
    except (OSError, ValueError):
        return []
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


@dataclass
class Snapshot:
    """The pipeline's counters at `at` (monotonic seconds)."""

    at: float = field(default_factory=time.monotonic)
    accepted: float = 0.0
    rejected: float = 0.0
    folded: float = 0.0
    profiles: float = 0.0
    processor_lag: int | None = None
    delivered: dict[str, float] = field(default_factory=dict)
    sink_lag: dict[str, float] = field(default_factory=dict)
    answering: int = 0

    def add(self, samples: Iterable[tuple[str, dict[str, str], float]]) -> None:
        """Fold one endpoint's samples in."""
        samples = list(samples)
        self.answering += bool(samples)
        for name, labels, value in samples:
            if name == ACCEPTED:
                self.accepted += value
            elif name == REJECTED:
                self.rejected += value
            elif name == FOLDED:
                self.folded += value
            elif name == PROFILES:
                self.profiles += value
            elif name == DELIVERED:
                self.delivered[labels.get("business_unit", "?")] = value
            elif name == SINK_LAG:
                self.sink_lag[labels.get("business_unit", "?")] = value


class Scraper:
    """Scrapes endpoints, keeping each one's last answer (a stage that has exited still counts)."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.last: dict[str, list[tuple[str, dict[str, str], float]]] = {url: [] for url in urls}

    def take(self, processor_lag: int | None) -> Snapshot:
        """A snapshot of every endpoint now."""
        snapshot = Snapshot(processor_lag=processor_lag)
        for url in self.last:
            self.last[url] = scrape(url) or self.last[url]
            snapshot.add(self.last[url])
        return snapshot


def rate(now: Snapshot, before: Snapshot | None, attribute: str) -> float:
    """Per-second change of a counter between two snapshots."""
    if before is None or now.at <= before.at:
        return 0.0
    return (getattr(now, attribute) - getattr(before, attribute)) / (now.at - before.at)


def line(now: Snapshot, before: Snapshot | None) -> str:
    """One plain line: rates, totals, lag and deliveries."""
    deliveries = ", ".join(f"{unit} {count:,.0f}" for unit, count in sorted(now.delivered.items())) or "-"
    lag = "?" if now.processor_lag is None else f"{now.processor_lag:,}"
    return (f"accepted {now.accepted:,.0f} ({rate(now, before, 'accepted'):,.0f}/s), rejected {now.rejected:,.0f} "
            f"({rate(now, before, 'rejected'):,.0f}/s), folded {now.folded:,.0f}, processor lag {lag}, "
            f"profiles emitted {now.profiles:,.0f}, delivered: {deliveries}")


def view(now: Snapshot, before: Snapshot | None, header: list[str], status: str) -> Group:
    """The terminal view: what runs where, then a table of the figures."""
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("")
    table.add_column("total", justify="right")
    table.add_column("per second", justify="right")
    table.add_row("events accepted by the adapters", f"{now.accepted:,.0f}", f"{rate(now, before, 'accepted'):,.0f}")
    table.add_row("inputs rejected (4xx + DLQ)", f"{now.rejected:,.0f}", f"{rate(now, before, 'rejected'):,.0f}")
    table.add_row("events folded by the processor", f"{now.folded:,.0f}", f"{rate(now, before, 'folded'):,.0f}")
    table.add_row("processor lag (records)", "?" if now.processor_lag is None else f"{now.processor_lag:,}", "")
    table.add_row("profiles emitted", f"{now.profiles:,.0f}", f"{rate(now, before, 'profiles'):,.0f}")
    for unit, count in sorted(now.delivered.items()):
        per_second = 0.0
        if before is not None and unit in before.delivered and now.at > before.at:
            per_second = (count - before.delivered[unit]) / (now.at - before.at)
        table.add_row(f"delivered to {unit} (lag {now.sink_lag.get(unit, 0):,.0f})", f"{count:,.0f}", f"{per_second:,.0f}")
    return Group(*(Text(text, overflow="fold") for text in header), table, Text(status, style="dim"))
