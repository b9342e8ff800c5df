"""Every business unit receives each customer's latest profile with its projection and nothing
else, on real targets: an aiohttp webhook, SQLite, PostgreSQL, a compacted Kafka topic and a
JSON Lines file. A tombstone deletes everywhere; a profile leaving a filter is deleted too."""

from __future__ import annotations

import json
import sqlite3
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg

from prometheus_client import REGISTRY

from prefstream.settings import Settings
from prefstream.topics import describe_topics
from schemas.codec import decode_profile
from sinks.config import SinkConfig
from sinks.delivery import Delivery, Source
from sinks.projection import passes, project
from sinks.targets.sql import SqlTarget
from tests.integration.helpers import read_latest
from tests.integration.postgres import postgres  # noqa: F401  (session fixture)
from tests.integration.sinkkit import history, produce, running, settle, source_topic, unit, wait_until
from tests.integration.webhook_receiver import Receiver

SECRET = "test-secret"


def expected_documents(config: SinkConfig, latest: dict[str, bytes | None]) -> dict[str, dict[str, Any]]:
    """What the business unit must hold per customer: its projection, or a delete."""
    documents = {}
    for customer, value in latest.items():
        if value is None:
            documents[customer] = {"customer_id": customer, "deleted": True, "erased": True, "profile": None}
            continue
        profile = decode_profile(value)
        projected = project(profile, config) if passes(profile, config.filter) else None
        documents[customer] = {"customer_id": customer, "version": profile["version"],
                               "deleted": projected is None, "erased": False, "profile": projected}
    return documents


def comparable(documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Documents without an erasure's version (the highest version its batch saw, if any)."""
    return {c: {k: v for k, v in d.items() if not (d["erased"] and k == "version")} for c, d in documents.items()}


def sql_rows(dsn: str, table: str) -> dict[str, tuple[int, bool, Any]]:
    if dsn.startswith("sqlite:///"):
        with sqlite3.connect(dsn.removeprefix("sqlite:///")) as connection:
            found = connection.execute(f"SELECT customer_id, version, deleted, profile FROM {table}").fetchall()
        return {c: (v, bool(d), json.loads(p) if p else None) for c, v, d, p in found}
    with psycopg.connect(dsn) as connection:
        found = connection.execute(f"SELECT customer_id, version, deleted, profile FROM {table}").fetchall()
    return {c: (v, d, p) for c, v, d, p in found}


def test_every_target_holds_each_customers_latest_projection(kafka: Settings, unique: str, tmp_path: Path,
                                                             postgres: str) -> None:  # noqa: F811
    topic = source_topic(kafka, f"profiles-{unique}")
    records: list[tuple[str, bytes | None]] = []
    for i in range(12):
        records += [(f"cust-{i}", profile) for profile in history(f"cust-{i}", 1 + i % 5)]
    records += [("cust-erased", p) for p in history("cust-erased", 3)] + [("cust-erased", None)]
    records += [("cust-optout", p) for p in history("cust-optout", 2, email="OPTED_OUT")]
    records += [("phone:+15550199", p) for p in history("phone:+15550199", 1)]
    latest = dict(records)
    produce(kafka, topic, records)

    receiver = Receiver(SECRET).start()
    batch = {"batch_size": 7, "batch_seconds": 0.2}
    units = {
        "webhook": unit(f"marketing-{unique}", topic, {"type": "webhook", "url": receiver.url, "secret": SECRET},
                        sections=["consents", "topics", "frequencies", "reachable"],
                        filter={"reachable_on": ["EMAIL"]}, **batch),
        "sqlite": unit(f"support-{unique}", topic, {"type": "sql", "dsn": f"sqlite:///{tmp_path}/support.db"},
                       sections=["contact_points", "consents"], purposes=["service"], **batch),
        "postgres": unit(f"supportpg-{unique}", topic, {"type": "sql", "dsn": postgres, "table": f"support_{unique}"},
                         sections=["contact_points", "consents"], purposes=["service"], **batch),
        "file": unit(f"archive-{unique}", topic, {"type": "file", "path": str(tmp_path / "archive.jsonl")},
                     sections=["contact_points", "consents", "topics", "frequencies", "pauses", "quiet_hours",
                               "attributes", "suppressions", "reachable"], include_provenance=True, **batch),
        "topic": unit(f"stores-{unique}", topic, {"type": "topic"}, sections=["contact_points", "attributes", "reachable"],
                      **batch),
    }
    expected = {kind: expected_documents(config, latest) for kind, config in units.items()}
    sql_expected = {kind: {c: (d.get("version", 3), d["deleted"], d["profile"]) for c, d in expected[kind].items()}
                    for kind in ("sqlite", "postgres")}  # the erasure's marker keeps the highest version, 3

    def file_latest() -> dict[str, Any]:
        path = tmp_path / "archive.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return {document["customer_id"]: document for document in lines}

    stores_topic = units["topic"].target["topic"]

    def topic_latest() -> dict[str, Any]:
        found = read_latest(kafka, stores_topic, lambda seen: len(seen) == len(latest), timeout=10)
        return {k.decode(): (json.loads(v) if v is not None else None) for k, v in found.items()}
    try:
        with ExitStack() as stack:
            for config in units.values():
                stack.enter_context(running(config, kafka))
            settle(lambda: comparable(receiver.latest()), expected["webhook"], 60, "the webhook's documents")
            sqlite = units["sqlite"].target
            settle(lambda: sql_rows(sqlite["dsn"], sqlite["table"]), sql_expected["sqlite"], 30, "the SQLite rows")
            settle(lambda: sql_rows(postgres, f"support_{unique}"), sql_expected["postgres"], 30, "the PostgreSQL rows")
            settle(lambda: comparable(file_latest()), expected["file"], 30, "the file's lines")
    finally:
        receiver.stop()

    assert describe_topics(kafka, [stores_topic])[0].config["cleanup.policy"] == "compact"

    # The projections really differ: marketing has no contact points, support only service consents.
    marketing = receiver.latest()["cust-4"]["profile"]
    assert set(marketing) == {"customer_id", "version", "updated_at", "consents", "topics", "frequencies", "reachable"}
    support = sql_rows(postgres, f"support_{unique}")["cust-4"][2]
    assert {c["purpose"] for c in support["consents"]} == {"service"} and support["contact_points"]
    assert receiver.latest()["cust-optout"]["deleted"]  # opted out of email: left marketing's filter
    assert receiver.bad_signatures == 0
    for documents in receiver.received.values():  # never regressed
        versions = [d["version"] for d in documents if d["version"] is not None]
        assert versions == sorted(versions)


def test_postgres_upsert_is_version_guarded(postgres: str, unique: str) -> None:  # noqa: F811
    """The same law as on SQLite, on the real server: late and duplicate deliveries never regress."""
    target = SqlTarget(postgres, f"laws_{unique}")
    target.open()

    def deliver(version: int | None, deleted: bool = False) -> Delivery:
        profile = None if deleted or version is None else {"version": version, "updated_at": f"v{version}"}
        return Delivery("c", version, profile, Source("t", 0, 0, b"c", b"", 0), erased=version is None)

    try:
        target.write([deliver(3), deliver(1), deliver(3), deliver(2)])
        target.write([deliver(2), deliver(1)])
        assert sql_rows(postgres, f"laws_{unique}")["c"] == (3, False, {"version": 3, "updated_at": "v3"})
        target.write([deliver(4, deleted=True), deliver(3)])
        assert sql_rows(postgres, f"laws_{unique}")["c"] == (4, True, None)
        target.write([deliver(None), deliver(2), deliver(4)])  # erasure, then late redeliveries
        assert sql_rows(postgres, f"laws_{unique}")["c"] == (4, True, None)
        target.write([deliver(5)])
        assert sql_rows(postgres, f"laws_{unique}")["c"][:2] == (5, False)
    finally:
        target.close()


def test_a_locked_database_pauses_the_sink_until_it_can_write(kafka: Settings, unique: str, tmp_path: Path) -> None:
    """The whole batch fails (SQLite locked by another writer): nothing is committed, consumption
    pauses, the batch is retried with backoff and lands once the lock is gone."""
    topic = source_topic(kafka, f"profiles-{unique}")
    database = tmp_path / "locked.db"
    config = unit(f"locked-{unique}", topic, {"type": "sql", "dsn": f"sqlite:///{database}", "table": "crm"},
                  sections=["consents"], batch_size=50, batch_seconds=0.2,
                  retry={"backoff_initial": 0.05, "backoff_max": 0.2})
    records = [(f"cust-{i}", p) for i in range(20) for p in history(f"cust-{i}", 2)]
    with running(config, kafka):
        wait_until(database.exists, 30, "the sink to create its table")
        blocker = sqlite3.connect(database, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        produce(kafka, topic, records)
        wait_until(lambda: (REGISTRY.get_sample_value("prefstream_sink_retried_total",
                                                      {"business_unit": config.name}) or 0) > 0, 30, "a failed batch")
        blocker.execute("COMMIT")
        blocker.close()
        settle(lambda: {c: v for c, (v, _, _) in sql_rows(f"sqlite:///{database}", "crm").items()},
               {f"cust-{i}": 2 for i in range(20)}, 30, "the rows after the lock")
