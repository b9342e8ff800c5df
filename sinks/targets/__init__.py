"""Where a business unit's profiles go: webhook, SQL, Kafka topic, JSON Lines file."""

from __future__ import annotations

from prefstream.core.settings import Settings
from sinks.config import SinkConfig
from sinks.targets.base import Failure, Target


def make_target(config: SinkConfig, settings: Settings) -> Target:
    """The target a business unit's config names (imports only the one it needs)."""
    kind = config.target["type"]
    if kind == "webhook":
        from sinks.targets.webhook import WebhookTarget
        return WebhookTarget(config)
    if kind == "sql":
        from sinks.targets.sql import SqlTarget
        return SqlTarget(config.target["dsn"], config.target["table"])
    if kind == "topic":
        from sinks.targets.topic import TopicTarget
        return TopicTarget(settings, config.target["topic"])
    from sinks.targets.file import FileTarget
    return FileTarget(config.target["path"])


__all__ = ["Failure", "Target", "make_target"]
