"""The pipeline's topics (docs/architecture.md), created explicitly with their configs, idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from prefstream.core.kafka import admin_config, quiet_logger
from prefstream.core.settings import Settings
from prefstream.errors import EXIT_UNREACHABLE, PrefstreamError

EVENTS = "preference-events"
DLQ = "preference-events-dlq"
PROFILES = "customer-profiles"
CUSTOMER_EVENTS = "prefstream-customer-events"
IDENTITY_LINKS = "prefstream-identity-links"

DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000


class KafkaUnreachable(PrefstreamError):
    """Kafka did not answer a metadata request in time."""

    exit_code = EXIT_UNREACHABLE
    hint = "is the broker running? `prefstream broker start`, or check KAFKA_BOOTSTRAP"


@dataclass(frozen=True)
class TopicSpec:
    """A topic and the configs it is created with."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The pipeline's topics: the event log (kept forever), the DLQ, the compacted profiles."""
    partitions = settings.partitions
    return [
        TopicSpec(EVENTS, partitions, {"cleanup.policy": "delete", "retention.ms": "-1"}),
        TopicSpec(DLQ, partitions, {"cleanup.policy": "delete", "retention.ms": str(DLQ_RETENTION_MS)}),
        TopicSpec(PROFILES, partitions, {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}),
        # The processor's own: events re-keyed by customer once their identifier is resolved
        # (kept forever like the log they come from), and identifier -> customer links.
        TopicSpec(CUSTOMER_EVENTS, partitions, {"cleanup.policy": "delete", "retention.ms": "-1"}),
        TopicSpec(IDENTITY_LINKS, partitions, {"cleanup.policy": "compact"}),
    ]


def admin_client(settings: Settings, timeout: float = 10.0) -> AdminClient:
    """An admin client for a cluster that has answered a metadata request within `timeout`."""
    admin = AdminClient(admin_config(settings) | {"logger": quiet_logger()})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        raise KafkaUnreachable(
            f"Kafka at {settings.bootstrap_servers} did not answer within {timeout:.0f} s"
        ) from None
    return admin


def create_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> dict[str, str]:
    """Create the topics that do not exist yet; returns topic -> 'created' | 'exists'."""
    admin = admin_client(settings)
    specs = specs if specs is not None else topic_specs(settings)
    replication = settings.replication
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, replication, config=s.config) for s in specs],
        operation_timeout=30,
    )
    outcome: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result()
            outcome[name] = "created"
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            outcome[name] = "exists"
    return outcome


@dataclass(frozen=True)
class TopicDescription:
    """What the cluster says about one topic."""

    name: str
    partitions: int
    replication: int
    config: dict[str, str]


def describe_topics(settings: Settings, names: list[str]) -> list[TopicDescription]:
    """Partition count, replication and the non-default configs of existing topics."""
    admin = admin_client(settings)
    metadata = admin.list_topics(timeout=10).topics
    missing = [n for n in names if n not in metadata]
    if missing:
        raise KeyError(", ".join(missing))
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    configs = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
    result = []
    for name in names:
        partitions = metadata[name].partitions
        explicit = {
            key: entry.value
            for key, entry in configs[name].items()
            if not entry.is_default and entry.source == 1  # DYNAMIC_TOPIC_CONFIG
        }
        replication = len(next(iter(partitions.values())).replicas) if partitions else 0
        result.append(TopicDescription(name, len(partitions), replication, explicit))
    return result
