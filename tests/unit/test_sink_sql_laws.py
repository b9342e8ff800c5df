"""The version-guarded upsert on SQLite: any order and duplication of deliveries leaves each
customer's row at its highest version; an erasure is never undone by an older redelivery."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinks.delivery import Delivery, Source, latest_per_customer
from sinks.targets.sql import SqlTarget


def delivery(customer: str, version: int | None, deleted: bool = False) -> Delivery:
    """An upsert, a filter-delete (`deleted`), or an erasure (`version` None)."""
    profile = None if deleted or version is None else {"customer_id": customer, "version": version,
                                                        "updated_at": f"2026-03-01T12:{version:02d}:00.000Z"}
    source = Source("customer-profiles", 0, 0, customer.encode(), b"", 0)
    return Delivery(customer, version, profile, source, erased=version is None)


def rows(target: SqlTarget) -> dict[str, tuple[int, bool, Any]]:
    found = target._connection.execute(f"SELECT customer_id, version, deleted, profile FROM {target.table}").fetchall()
    return {c: (v, bool(d), json.loads(p) if p else None) for c, v, d, p in found}


def write_in_batches(target: SqlTarget, deliveries: list[Delivery], cuts: list[int]) -> None:
    edges = sorted({0, len(deliveries), *(c % (len(deliveries) + 1) for c in cuts)})
    for start, end in zip(edges, edges[1:]):
        target.write(deliveries[start:end])


def new_target(folder: str) -> SqlTarget:
    target = SqlTarget(f"sqlite:///{folder}/sink.db", "profiles_test")
    target.open()
    return target


# A customer's versions: each an upsert, or (rarely) a delete because the profile left the filter.
versioned = st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 12), st.integers(0, 5).map(lambda n: n == 0)),
                     min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(deliveries=versioned, cuts=st.lists(st.integers(0, 50), max_size=5), order=st.randoms())
def test_any_order_and_duplication_leaves_the_highest_version(deliveries: list[tuple[str, int, bool]], cuts: list[int],
                                                              order: Any) -> None:
    # One truth per (customer, version): a version is either an upsert or a filter-delete.
    truth = {(c, v): deleted for c, v, deleted in deliveries}
    shuffled = [delivery(c, v, truth[(c, v)]) for c, v, _ in deliveries]
    order.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as folder:
        target = new_target(folder)
        write_in_batches(target, shuffled, cuts)
        final = rows(target)
        target.close()
    for customer in {c for c, _, _ in deliveries}:
        top = max(v for c, v in truth if c == customer)
        version, deleted, profile = final[customer]
        assert version == top and deleted == truth[(customer, top)]
        assert (profile is None) == deleted and (deleted or profile["version"] == top)


@settings(max_examples=50, deadline=None)
@given(history=st.integers(1, 10), late=st.lists(st.integers(1, 10), max_size=10), order=st.randoms(),
       collapsed=st.booleans())
def test_erasure_survives_late_redelivery_of_older_profiles(history: int, late: list[int], order: Any,
                                                            collapsed: bool) -> None:
    in_order = [delivery("c", v) for v in range(1, history + 1)] + [delivery("c", None)]  # tombstone last
    redelivered = [delivery("c", min(v, history)) for v in late]
    order.shuffle(redelivered)
    with tempfile.TemporaryDirectory() as folder:
        target = new_target(folder)
        target.write(latest_per_customer(in_order) if collapsed else in_order)  # the runner collapses batches
        target.write(redelivered)
        assert rows(target)["c"] == (history, True, None)
        target.write([delivery("c", history + 1)])  # the customer speaks again after erasure
        assert rows(target)["c"][:2] == (history + 1, False)
        target.close()


def test_batch_is_one_transaction(tmp_path: Path) -> None:
    target = new_target(str(tmp_path))
    broken = Delivery("b", None, {"updated_at": "x"}, delivery("b", 1).source)  # NULL version: the row fails
    with pytest.raises(sqlite3.IntegrityError):
        target.write([delivery("a", 1), broken])
    assert rows(target) == {}  # "a", written first in the batch, was rolled back with it
    target.close()
