"""SQL target: one row per customer, upserted in one transaction per batch, guarded by version.

Rules (the same on SQLite and PostgreSQL):
- a profile replaces the row only if its version is higher: a duplicate or older delivery never
  overwrites a newer row;
- a delete (erasure tombstone, or a profile that no longer passes the filter) clears the row's
  profile and sets `deleted`, keeping the customer id and the highest version seen as a marker.
  A later redelivery of an older profile (version <= marker) therefore cannot bring it back,
  while a genuinely newer profile (the customer spoke again: versions only grow) does.
Readers select `WHERE NOT deleted`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from sinks.delivery import Delivery
from sinks.targets.base import Failure

_UPSERT = """
INSERT INTO {table} AS cur (customer_id, version, updated_at, deleted, profile)
VALUES ({p}, {p}, {p}, FALSE, {p})
ON CONFLICT (customer_id) DO UPDATE
SET version = excluded.version, updated_at = excluded.updated_at, deleted = FALSE, profile = excluded.profile
WHERE excluded.version > cur.version
"""
# A delete with a known version: the marker takes that version if it is newer.
_DELETE_VERSIONED = """
INSERT INTO {table} AS cur (customer_id, version, updated_at, deleted, profile)
VALUES ({p}, {p}, NULL, TRUE, NULL)
ON CONFLICT (customer_id) DO UPDATE
SET version = excluded.version, updated_at = NULL, deleted = TRUE, profile = NULL
WHERE excluded.version >= cur.version
"""
# An erasure always erases; the marker keeps the highest version known (the row's or the batch's).
_ERASE = """
INSERT INTO {table} AS cur (customer_id, version, updated_at, deleted, profile)
VALUES ({p}, {p}, NULL, TRUE, NULL)
ON CONFLICT (customer_id) DO UPDATE
SET updated_at = NULL, deleted = TRUE, profile = NULL,
    version = CASE WHEN excluded.version > cur.version THEN excluded.version ELSE cur.version END
"""
_CREATE = """
CREATE TABLE IF NOT EXISTS {table} (
    customer_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    updated_at TEXT,
    deleted BOOLEAN NOT NULL,
    profile {json}
)
"""


class SqlTarget:
    """Upserts projected profiles into `table` of a SQLite file or a PostgreSQL database."""

    name = "sql"

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn = dsn
        self.table = table
        self.postgres = dsn.startswith(("postgresql://", "postgres://"))
        self._connection: Any = None
        marker = "%s" if self.postgres else "?"
        self._sql = {name: sql.format(table=table, p=marker)
                     for name, sql in (("upsert", _UPSERT), ("delete", _DELETE_VERSIONED), ("erase", _ERASE))}

    def open(self) -> None:
        if self.postgres:
            import psycopg

            self._connection = psycopg.connect(self.dsn, connect_timeout=10)
        else:
            path = Path(self.dsn.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(path, isolation_level=None)
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
        self._execute_in_transaction([(_CREATE.format(table=self.table, json="JSONB" if self.postgres else "TEXT"), None)])

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        statements: list[tuple[str, tuple[Any, ...] | None]] = []
        for d in deliveries:
            if d.erased:
                statements.append((self._sql["erase"], (d.customer_id, d.version or 0)))
            elif d.profile is not None:
                statements.append((self._sql["upsert"], (d.customer_id, d.version, d.profile["updated_at"], _json(d))))
            else:
                statements.append((self._sql["delete"], (d.customer_id, d.version)))
        self._execute_in_transaction(statements)
        return []

    def _execute_in_transaction(self, statements: list[tuple[str, tuple[Any, ...] | None]]) -> None:
        connection = self._connection
        assert connection is not None, "open() first"
        if self.postgres:
            with connection.transaction(), connection.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute(sql, params)
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                connection.execute(sql, params or ())
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _json(delivery: Delivery) -> str:
    return json.dumps(delivery.profile, separators=(",", ":"), sort_keys=True)
