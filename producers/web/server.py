"""Run the preference center: `prefstream serve web` (127.0.0.1 only) and `prefstream web link`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from prefstream.core.settings import ConfigError, Settings
from prefstream.core.topics import admin_client
from producers.publisher import Publisher
from producers.web.app import create_app
from producers.web.config import load_web_config, load_web_settings
from producers.web.service import PreferenceCenter, access_link

HOST = "127.0.0.1"


def print_link(customer_id: str, days: int | None, port: int) -> str:
    """A signed link for `customer_id` with the configured secret (never a throwaway one)."""
    return access_link(load_web_config(), load_web_settings(port=port), customer_id, datetime.now(UTC), days)


def serve(settings: Settings, port: int, *, dev: bool, link_for: str | None, say: Callable[[str], None]) -> None:
    """Serve until Ctrl+C; checks configuration and Kafka first (ConfigError, KafkaUnreachable)."""
    config, web_settings = load_web_config(), load_web_settings(dev=dev, port=port)
    admin_client(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    publisher = Publisher(settings, "web")
    center = PreferenceCenter(config, web_settings, publisher)
    try:
        if link_for:
            say(f"link for {link_for}: {center.link(link_for)}")
        say(f"web preference center on http://{HOST}:{port}/ (query API {web_settings.processor_url}{', dev mode' if dev else ''})")
        web.run_app(create_app(center), host=HOST, port=port, print=None, access_log=None)
    except OSError as error:
        raise ConfigError(f"cannot listen on {HOST}:{port}: {error.strerror}") from None
    finally:
        publisher.close()
