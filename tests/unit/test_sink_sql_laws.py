"""The SQL target's laws on SQLite: upserts in any order leave each customer's highest version; a
partition's log delivered at least once (replays from earlier offsets, any batch cuts) leaves
exactly the state of that log applied once, after every batch; an erased customer's row is gone,
identifier included, and no redelivery brings it back."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from contextlib import closing
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinks.delivery import Delivery, Source
from sinks.targets.sql import SqlTarget
from tests import sink_reference as reference

UPSERT, LEFT_FILTER, ERASE = "upsert", "left-filter", "erase"


def delivery(customer: str, version: int | None, offset: int = 0, kind: str = UPSERT) -> Delivery:
    """An upsert, a filter-delete, or an erasure (no version) at `offset` of partition 0."""
    profile = {"customer_id": customer, "version": version, "updated_at": f"2026-03-01T12:{version or 0:02d}:00.000Z"}
    source = Source("customer-profiles", 0, offset, customer.encode(), b"", 0)
    if kind == ERASE:
        return Delivery(customer, None, None, source, erased=True)
    return Delivery(customer, version, profile if kind == UPSERT else None, source)


def rows(target: SqlTarget) -> dict[str, tuple[int, Any]]:
    """The table's rows, read on a connection of the test's own."""
    with closing(sqlite3.connect(target.dsn.removeprefix("sqlite:///"))) as database:
        found = database.execute(f"SELECT customer_id, version, profile FROM {target.table}").fetchall()
    return {c: (v, json.loads(p)) for c, v, p in found}


def new_target(folder: str) -> SqlTarget:
    target = SqlTarget(f"sqlite:///{folder}/sink.db", "profiles_test")
    target.open()
    return target


@settings(max_examples=60, deadline=None)
@given(versions=st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 12)), min_size=1, max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=5), order=st.randoms())
def test_upserts_in_any_order_and_duplication_leave_the_highest_version(versions: list[tuple[str, int]],
                                                                        cuts: list[int], order: Any) -> None:
    order.shuffle(versions)
    deliveries = [delivery(c, v, offset) for offset, (c, v) in enumerate(versions)]
    edges = sorted({0, len(deliveries), *(c % (len(deliveries) + 1) for c in cuts)})
    with tempfile.TemporaryDirectory() as folder:
        target = new_target(folder)
        for start, end in pairwise(edges):
            target.write(deliveries[start:end])
        final = rows(target)
        target.close()
    assert {c: v for c, (v, _) in final.items()} == {c: max(v for k, v in versions if k == c) for c, _ in versions}
    assert all(profile["version"] == version for version, profile in final.values())


def applied_once(log: list[Delivery]) -> dict[str, int]:
    """Each customer's version after applying the log once, in order (deleted customers absent)."""
    state: dict[str, int] = {}
    for d in log:
        if d.profile is None:
            state.pop(d.customer_id, None)
        else:
            state[d.customer_id] = d.version  # type: ignore[assignment]
    return state


# A partition's log: each record a customer's next step (an upsert, leaving the filter, an erasure).
steps = st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([UPSERT, UPSERT, UPSERT, LEFT_FILTER, ERASE])),
                 min_size=1, max_size=30)
# How it is delivered: batches of `size` records, each then rewound by `back` (a restart or a late writer).
replays = st.lists(st.tuples(st.integers(1, 8), st.integers(0, 10)), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None)
@given(log_steps=steps, deliveries=replays, collapsed=st.booleans())
def test_at_least_once_delivery_of_the_log_equals_applying_it_once(log_steps: list[tuple[str, str]],
                                                                   deliveries: list[tuple[int, int]],
                                                                   collapsed: bool) -> None:
    version = {c: 0 for c in "abc"}
    log = []
    for offset, (customer, kind) in enumerate(log_steps):
        version[customer] += kind != ERASE
        log.append(delivery(customer, version[customer], offset, kind))
    with tempfile.TemporaryDirectory() as folder:
        target = new_target(folder)
        position, furthest = 0, 0
        for size, back in [*deliveries, (len(log), 0)]:  # the last batch reaches the end of the log
            batch = log[position:position + size]
            target.write(reference.collapse(batch) if collapsed else batch)  # the runner collapses batches
            furthest = max(furthest, position + len(batch))
            assert {c: v for c, (v, _) in rows(target).items()} == applied_once(log[:furthest])
            position = max(0, position + len(batch) - back)
        target.close()


def test_an_erased_customer_leaves_no_trace_and_a_late_writer_cannot_bring_it_back(tmp_path: Path) -> None:
    target = new_target(str(tmp_path))
    log = [delivery("c", 1, 0), delivery("c", 2, 1), delivery("other", 1, 2), delivery("c", None, 3, ERASE)]
    target.write(log)
    database = sqlite3.connect(tmp_path / "sink.db")
    assert database.execute("SELECT customer_id FROM profiles_test").fetchall() == [("other",)]
    offsets = database.execute("SELECT * FROM profiles_test_offsets").fetchall()
    assert offsets == [("customer-profiles", 0, 4)]  # the fence holds offsets, never a customer id
    target.write(log[:2])  # a member that lost the partition writes its older batch late
    assert set(rows(target)) == {"other"}
    target.write([delivery("c", 1, 4)])  # the customer speaks again after the erasure: a new record
    assert rows(target)["c"][0] == 1
    target.close()


def test_batch_is_one_transaction(tmp_path: Path) -> None:
    target = new_target(str(tmp_path))
    broken = Delivery("b", None, {"updated_at": "x"}, delivery("b", 1, 1).source)  # NULL version: the row fails
    with pytest.raises(sqlite3.IntegrityError):
        target.write([delivery("a", 1, 0), broken])
    assert rows(target) == {}  # "a", written first in the batch, was rolled back with it
    target.write([delivery("a", 1, 0)])  # and its offset was not recorded as applied
    assert rows(target) == {"a": (1, delivery("a", 1).profile)}
    target.close()
