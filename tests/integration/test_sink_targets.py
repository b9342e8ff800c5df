"""Every business unit receives each customer's latest profile with its projection and nothing
else, on real targets: an aiohttp webhook, SQLite, PostgreSQL, a compacted Kafka topic and a
JSON Lines file. A tombstone deletes everywhere (the file keeps no line of the customer); a
profile leaving a filter is deleted too. Expected documents come from tests/sink_reference.py
or are written out, never from sinks/."""

from __future__ import annotations

import json
import sqlite3
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from prometheus_client import REGISTRY

from prefstream.core.settings import Settings
from prefstream.core.topics import describe_topics
from sinks.delivery import Delivery, Source
from sinks.targets.sql import SqlTarget
from tests.integration.helpers import read_all, read_latest
from tests.integration.sinkkit import (
    committed,
    erased_then_back,
    expected_documents,
    history,
    produce,
    running,
    settle,
    source_topic,
    unit,
    wait_until,
)
from tests.integration.webhook_receiver import Receiver

if TYPE_CHECKING:  # pytest imports it first, as a plugin (below), and rewrites its asserts
    from tests.integration.postgres import PostgresServer

pytest_plugins = ["tests.integration.postgres"]  # its fixtures: `postgres` (the session's server) and `postgres_server`

SECRET = "test-secret"
ALL_SECTIONS = ["contact_points", "consents", "topics", "frequencies", "pauses", "quiet_hours", "attributes",
                "suppressions", "reachable"]
# What each business unit asks for, as written in sinks.toml.
SETTINGS: dict[str, dict[str, Any]] = {
    "webhook": {"sections": ["consents", "topics", "frequencies", "reachable"], "filter": {"reachable_on": ["EMAIL"]}},
    "sqlite": {"sections": ["contact_points", "consents"], "purposes": ["service"]},
    "postgres": {"sections": ["contact_points", "consents"], "purposes": ["service"]},
    "file": {"sections": ALL_SECTIONS, "include_provenance": True},
    "topic": {"sections": ["contact_points", "attributes", "reachable"], "filter": {"consent": {"channel": "EMAIL"}}},
}
NOT_REACHABLE = [{"channel": channel, "allowed": False, "reason": "NO_CONSENT"}
                 for channel in ("SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP")]
REACHABLE_BY_EMAIL = [{"channel": "EMAIL", "allowed": True, "reason": "OK"}, *NOT_REACHABLE]


def sql_rows(dsn: str, table: str) -> dict[str, tuple[int, Any]]:
    """Every row of a SQL target's table: customer id -> (version, profile); none before the sink created it."""
    query = f"SELECT customer_id, version, profile FROM {table}"
    if dsn.startswith("sqlite:///"):
        with sqlite3.connect(dsn.removeprefix("sqlite:///")) as connection:
            try:
                found = connection.execute(query).fetchall()
            except sqlite3.OperationalError as error:
                if "no such table" not in str(error):
                    raise
                return {}
        return {c: (v, json.loads(p)) for c, v, p in found}
    with psycopg.connect(dsn) as connection:
        try:
            found = connection.execute(query).fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {c: (v, p) for c, v, p in found}


def rows_of(documents: dict[str, dict[str, Any]]) -> dict[str, tuple[int, Any]]:
    """The rows a SQL target holds for these documents: a delete leaves no row, not even the customer id."""
    return {c: (d["version"], d["profile"]) for c, d in documents.items() if not d["deleted"]}


def test_every_target_holds_each_customers_latest_projection(kafka: Settings, unique: str, tmp_path: Path,
                                                             postgres: str) -> None:
    """Two rounds: every customer's profiles; then, once every target shows them, two erasures (one
    customer comes back at once, in the same batch) that must remove what the targets hold."""
    topic = source_topic(kafka, f"profiles-{unique}")
    records: list[tuple[str, bytes | None]] = []
    for i in range(12):
        records += [(f"cust-{i}", profile) for profile in history(f"cust-{i}", 1 + i % 5)]
    records += [("cust-erased", p) for p in history("cust-erased", 3)]
    back = erased_then_back("cust-back")
    records += [("cust-back", p) for p in back[:2]]
    records += [("cust-optout", p) for p in history("cust-optout", 2, email="OPTED_OUT")]
    records += [("phone:+15550199", p) for p in history("phone:+15550199", 1)]
    erasures = [("cust-erased", None), *(("cust-back", p) for p in back[2:])]
    produce(kafka, topic, records)

    receiver = Receiver(SECRET).start()
    batch = {"batch_size": 7, "batch_seconds": 0.2}
    archive = tmp_path / "archive.jsonl"
    targets = {"webhook": {"type": "webhook", "url": receiver.url, "secret": SECRET},
               "sqlite": {"type": "sql", "dsn": f"sqlite:///{tmp_path}/support.db"},
               "postgres": {"type": "sql", "dsn": postgres, "table": f"support_{unique}"},
               "file": {"type": "file", "path": str(archive)},
               "topic": {"type": "topic"}}
    names = {"webhook": "marketing", "sqlite": "support", "postgres": "supportpg", "file": "archive", "topic": "stores"}
    units = {kind: unit(f"{names[kind]}-{unique}", topic, targets[kind], **SETTINGS[kind], **batch) for kind in SETTINGS}
    sqlite = units["sqlite"].target
    stores_topic = units["topic"].target["topic"]

    def file_lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in archive.read_bytes().splitlines()] if archive.exists() else []

    def file_latest() -> dict[str, Any]:
        return {document["customer_id"]: document for document in file_lines()}

    def topic_latest() -> dict[str, Any]:
        found = read_latest(kafka, stores_topic, lambda seen: len(seen) >= len(expected["topic"]), timeout=10)
        return {k.decode(): (json.loads(v) if v is not None else None) for k, v in found.items()}

    def settled(what: str) -> None:
        settle(receiver.latest, expected["webhook"], 60, f"the webhook's documents {what}")
        settle(lambda: sql_rows(sqlite["dsn"], sqlite["table"]), rows_of(expected["sqlite"]), 30, f"the SQLite rows {what}")
        settle(lambda: sql_rows(postgres, f"support_{unique}"), rows_of(expected["postgres"]), 30,
               f"the PostgreSQL rows {what}")
        settle(file_latest, {c: d for c, d in expected["file"].items() if not d["erased"]}, 30, f"the file's lines {what}")
        settle(topic_latest, {c: d["profile"] for c, d in expected["topic"].items()}, 60, f"the topic's records {what}")

    try:
        with ExitStack() as stack:
            for config in units.values():
                stack.enter_context(running(config, kafka))
            latest = dict(records)
            expected = {kind: expected_documents(SETTINGS[kind], latest) for kind in SETTINGS}
            settled("before the erasures")
            produce(kafka, topic, erasures)
            latest = dict(records + erasures)
            expected = {kind: expected_documents(SETTINGS[kind], latest) for kind in SETTINGS}
            settled("after the erasures")
    finally:
        receiver.stop()

    # Written out: what each business unit holds of cust-1 (two events: an email with its
    # marketing opt-in, then the news topic by email) and of phone:+15550199 (the first event).
    assert receiver.latest()["cust-1"] == {"customer_id": "cust-1", "version": 2, "deleted": False, "erased": False,
                                           "profile": {
        "customer_id": "cust-1", "version": 2, "updated_at": "2026-03-01T12:01:00.000Z",
        "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "contact_point": None,
                      "expires_at": None}],
        "topics": [{"topic": "news", "subscribed": True, "channels": ["EMAIL"]}],
        "frequencies": [], "reachable": REACHABLE_BY_EMAIL}}
    assert sql_rows(postgres, f"support_{unique}")["cust-1"] == (2, {
        "customer_id": "cust-1", "version": 2, "updated_at": "2026-03-01T12:01:00.000Z",
        "contact_points": [{"kind": "EMAIL", "value": "cust-1@example.com", "primary": True}], "consents": []})
    assert topic_latest()["cust-1"] == {
        "customer_id": "cust-1", "version": 2, "updated_at": "2026-03-01T12:01:00.000Z",
        "contact_points": [{"kind": "EMAIL", "value": "cust-1@example.com", "primary": True}], "attributes": [],
        "reachable": REACHABLE_BY_EMAIL}
    by_web = {"event_id": "phone:+15550199-e0", "occurred_at": "2026-03-01T12:00:00.000Z", "touchpoint": "WEB",
              "system": "web-preference-center", "actor_type": "CUSTOMER", "actor_id": None, "interaction_id": None,
              "proof": None}
    assert file_latest()["phone:+15550199"] == {"customer_id": "phone:+15550199", "version": 1, "deleted": False,
                                                "erased": False, "profile": {
        "customer_id": "phone:+15550199", "version": 1, "updated_at": "2026-03-01T12:00:00.000Z",
        "contact_points": [{"kind": "EMAIL", "value": "phone:+15550199@example.com", "primary": True,
                            "provenance": by_web}],
        "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "contact_point": None,
                      "expires_at": None, "provenance": by_web}],
        "topics": [], "frequencies": [], "pauses": [], "quiet_hours": None, "attributes": [], "suppressions": [],
        "reachable": REACHABLE_BY_EMAIL}}

    # The erasures: the file keeps no line of the erased customer, and of the one who came back
    # only what came after the erasure (the new email, never the old one).
    contents = archive.read_bytes()
    assert b"cust-erased" not in contents and b"cust-back@example.com" not in contents
    assert {d["version"] for d in file_lines() if d["customer_id"] == "cust-back"} == {4}
    # The webhook and the topic were told of the erasure before the return.
    assert [d["version"] for d in receiver.received["cust-back"]][-2:] == [None, 4]

    def tombstones_of_cust_back(found: list[Any]) -> list[bool]:
        return [m.value() is None for m in found if m.key() == b"cust-back"]

    stores = read_all(kafka, stores_topic, lambda found: tombstones_of_cust_back(found)[-2:] == [True, False], timeout=30)
    assert tombstones_of_cust_back(stores)[-2:] == [True, False]
    assert stores_topic == f"customer-profiles-stores-{unique}"
    assert describe_topics(kafka, [stores_topic])[0].config["cleanup.policy"] == "compact"

    # The projections really differ: marketing has no contact points, support only service consents.
    marketing = receiver.latest()["cust-4"]["profile"]
    assert set(marketing) == {"customer_id", "version", "updated_at", "consents", "topics", "frequencies", "reachable"}
    support = sql_rows(postgres, f"support_{unique}")["cust-4"][1]
    assert {c["purpose"] for c in support["consents"]} == {"service"} and support["contact_points"]
    assert receiver.latest()["cust-optout"]["deleted"]  # opted out of email: left marketing's filter
    assert receiver.bad_signatures == 0
    for documents in receiver.received.values():  # never regressed
        versions = [d["version"] for d in documents if d["version"] is not None]
        assert versions == sorted(versions)


def test_postgres_keeps_the_laws_of_the_sql_target(postgres: str, unique: str) -> None:
    """The same laws as on SQLite, on the real server: duplicate and older deliveries never regress
    a row; an erasure deletes the row; a late writer's older batch cannot bring it back."""
    table = f"laws_{unique}"
    target = SqlTarget(postgres, table)
    target.open()

    def deliver(offset: int, version: int | None, customer: str = "c") -> Delivery:
        profile = None if version is None else {"version": version, "updated_at": f"v{version}"}
        return Delivery(customer, version, profile, Source("t", 0, offset, customer.encode(), b"", 0),
                        erased=version is None)

    try:
        target.write([deliver(0, 3), deliver(1, 1), deliver(2, 3), deliver(3, 2)])
        target.write([deliver(4, 2), deliver(5, 1)])  # older versions at newer offsets: the version guard
        assert sql_rows(postgres, table) == {"c": (3, {"version": 3, "updated_at": "v3"})}
        target.write([deliver(6, 4), deliver(7, 1, "other"), deliver(8, None)])  # the erasure
        assert sql_rows(postgres, table) == {"other": (1, {"version": 1, "updated_at": "v1"})}
        target.write([deliver(6, 4)])  # a late writer's older batch: below the fence
        assert "c" not in sql_rows(postgres, table)
        with psycopg.connect(postgres) as connection:
            assert connection.execute(f"SELECT * FROM {table}_offsets").fetchall() == [("t", 0, 9)]
        target.write([deliver(9, 1)])  # the customer speaks again
        assert sql_rows(postgres, table)["c"][0] == 1
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
        settle(lambda: {c: v for c, (v, _) in sql_rows(f"sqlite:///{database}", "crm").items()},
               {f"cust-{i}": 2 for i in range(20)}, 30, "the rows after the lock")


def test_postgres_down_while_the_sink_runs(kafka: Settings, unique: str, postgres_server: PostgresServer) -> None:
    """PostgreSQL stops (fast shutdown: the sink's connection is cut) while profiles and an erasure
    flow: nothing is committed past what was written, the batch is retried with a new connection,
    and once the server is back every customer's latest profile is there and the erasure applied."""
    topic = source_topic(kafka, f"profiles-{unique}")
    dsn = postgres_server.dsn
    config = unit(f"pgdown-{unique}", topic, {"type": "sql", "dsn": dsn, "table": "crm"}, sections=["consents"],
                  batch_size=20, batch_seconds=0.2, retry={"backoff_initial": 0.1, "backoff_max": 0.5})
    customers = [f"cust-{i}" for i in range(20)]
    histories = {c: history(c, 3) for c in customers}

    def versions() -> dict[str, int]:
        return {c: v for c, (v, _) in sql_rows(dsn, "crm").items()}

    def retried() -> float:
        return REGISTRY.get_sample_value("prefstream_sink_retried_total", {"business_unit": config.name}) or 0.0

    with running(config, kafka):
        produce(kafka, topic, [(c, histories[c][0]) for c in customers])
        settle(versions, {c: 1 for c in customers}, 30, "the first versions")
        wait_until(lambda: committed(kafka, config.group_id, topic) == len(customers), 10, "the first commit")
        postgres_server.stop()
        produce(kafka, topic, [(c, histories[c][v]) for v in (1, 2) for c in customers] + [("cust-0", None)])
        wait_until(lambda: retried() >= 2 * len(customers), 30, "two failed attempts at the batch")
        assert committed(kafka, config.group_id, topic) == len(customers)  # nothing unwritten was committed
        postgres_server.start()
        settle(versions, {c: 3 for c in customers[1:]}, 30, "every latest version after PostgreSQL returned")
        wait_until(lambda: committed(kafka, config.group_id, topic) == 3 * len(customers) + 1, 10, "the final commit")
