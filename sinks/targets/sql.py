"""SQL target: one row per customer, written in one transaction per batch, guarded by version and
fenced by source offsets.

Rules (the same on SQLite and PostgreSQL):
- a profile replaces the row only if its version is higher: a duplicate or older delivery never
  overwrites a newer row;
- a delete (erasure tombstone, or a profile that no longer passes the filter) deletes the row:
  nothing of the customer stays, not even the id;
- the batch's transaction also records, per source partition, the next offset it applied
  (`<table>_offsets`, no customer data). A record below that offset was applied already and is
  skipped, so a redelivery (a restart from an older commit, a member writing late after it lost
  its partitions) cannot bring an erased customer's older profile back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sinks.delivery import Delivery
from sinks.targets.base import Failure

_UPSERT = """
INSERT INTO {table} AS cur (customer_id, version, updated_at, profile) VALUES ({p}, {p}, {p}, {p})
ON CONFLICT (customer_id) DO UPDATE
SET version = excluded.version, updated_at = excluded.updated_at, profile = excluded.profile
WHERE excluded.version > cur.version
"""
_ERASE = "DELETE FROM {table} WHERE customer_id = {p}"
_DELETE = "DELETE FROM {table} WHERE customer_id = {p} AND version <= {p}"
_CREATE = """
CREATE TABLE IF NOT EXISTS {table} (
    customer_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    profile {json} NOT NULL
)
"""
_CREATE_OFFSETS = """
CREATE TABLE IF NOT EXISTS {table}_offsets (
    topic TEXT NOT NULL,
    source_partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (topic, source_partition)
)
"""
_CLAIM = "INSERT INTO {table}_offsets VALUES ({p}, {p}, 0) ON CONFLICT DO NOTHING"
_APPLIED = "SELECT next_offset FROM {table}_offsets WHERE topic = {p} AND source_partition = {p}"
_ADVANCE = "UPDATE {table}_offsets SET next_offset = {p} WHERE topic = {p} AND source_partition = {p}"


class SqlTarget:
    """Upserts projected profiles into `table` of a SQLite file or a PostgreSQL database."""

    name = "sql"

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn = dsn
        self.table = table
        self.postgres = dsn.startswith(("postgresql://", "postgres://"))
        self._connection: Any = None
        marker = "%s" if self.postgres else "?"
        statements = {"upsert": _UPSERT, "erase": _ERASE, "delete": _DELETE, "claim": _CLAIM, "advance": _ADVANCE,
                      "applied": _APPLIED + (" FOR UPDATE" if self.postgres else "")}
        self._sql = {name: sql.format(table=table, p=marker) for name, sql in statements.items()}

    def open(self) -> None:
        self._connect()
        with self._transaction() as cursor:
            cursor.execute(_CREATE.format(table=self.table, json="JSONB" if self.postgres else "TEXT"))
            cursor.execute(_CREATE_OFFSETS.format(table=self.table))

    def _connect(self) -> None:
        if self.postgres:
            import psycopg

            self._connection = psycopg.connect(self.dsn, connect_timeout=10)
            return
        path = Path(self.dsn.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        """Apply the batch in one transaction; raise (nothing applied) if the database fails.

        A PostgreSQL connection that failed is dropped and the next write opens a new one, so
        the sink resumes by itself once the server is back.
        """
        if self._connection is None:
            self._connect()
        try:
            with self._transaction() as cursor:
                self._apply(cursor, deliveries)
        except Exception:
            if self.postgres:
                self.close()
            raise
        return []

    def _apply(self, cursor: Any, deliveries: list[Delivery]) -> None:
        applied: dict[tuple[str, int], int] = {}
        for key in sorted({(d.source.topic, d.source.partition) for d in deliveries}):  # one lock order
            cursor.execute(self._sql["claim"], key)
            applied[key] = cursor.execute(self._sql["applied"], key).fetchone()[0]
        ends = dict(applied)
        for d in deliveries:
            key = (d.source.topic, d.source.partition)
            if d.source.offset < applied[key]:
                continue  # applied by an earlier transaction
            ends[key] = max(ends[key], d.source.offset + 1)
            if d.erased:
                cursor.execute(self._sql["erase"], (d.customer_id,))
            elif d.profile is None:
                cursor.execute(self._sql["delete"], (d.customer_id, d.version))
            else:
                cursor.execute(self._sql["upsert"], (d.customer_id, d.version, d.profile["updated_at"], _json(d)))
        for (topic, partition), end in ends.items():
            if end > applied[(topic, partition)]:
                cursor.execute(self._sql["advance"], (end, topic, partition))

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        connection = self._connection
        assert connection is not None, "open() first"
        if self.postgres:
            with connection.transaction(), connection.cursor() as cursor:
                yield cursor
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection.cursor()
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def interrupt(self) -> None:
        """Nothing to do: a write is bounded by the database's own timeouts."""

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


def _json(delivery: Delivery) -> str:
    return json.dumps(delivery.profile, separators=(",", ":"), sort_keys=True)
