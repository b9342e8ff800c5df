"""The durable table's batch: reads see the batch's own writes at once, the databases only after
`write_pending`, and every write is logged to the changelog partition of its key as it is made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import rocksdict
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.runtime.durable_table import DurableTable, encode_key


class Sent:
    """Stands in for `Outputs`: records what would be produced."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, int | None]] = []

    def send(self, topic: str, key: bytes, value: bytes | None, partition: int | None = None) -> None:
        self.records.append((topic, key, value, partition))


def table_on(folder: Path) -> tuple[DurableTable, Callable[[int], Any], Sent]:
    """A DurableTable over real RocksDB databases, one per partition, as Faust's rocksdict store opens them."""
    databases: dict[int, Any] = {}

    def db_for_partition(partition: int) -> Any:
        if partition not in databases:
            options = rocksdict.Options(raw_mode=True)
            options.create_if_missing(True)
            databases[partition] = rocksdict.Rdict(str(folder / f"p{partition}"), options=options)
        return databases[partition]

    faust_table = SimpleNamespace(
        changelog_topic=SimpleNamespace(get_topic_name=lambda: "app-profiles-changelog"),
        data=SimpleNamespace(_db_for_partition=db_for_partition),
    )
    sent = Sent()
    return DurableTable(faust_table, sent), db_for_partition, sent  # type: ignore[arg-type]


def test_a_batch_reads_its_own_writes_and_the_database_gets_them_at_write_pending(tmp_path: Path) -> None:
    table, database, sent = table_on(tmp_path)
    table.set("c-1", b"v1", 3)
    assert table.get("c-1", 3) == b"v1"
    assert table.get("c-1", 4) is None  # another partition's database is another store
    assert database(3).get(encode_key("c-1")) is None  # not written yet
    table.set("c-1", b"v2", 3)
    table.write_pending()
    assert database(3).get(encode_key("c-1")) == b"v2"
    table.delete("c-1", 3)
    assert table.get("c-1", 3) is None  # the held deletion hides the stored value
    assert database(3).get(encode_key("c-1")) == b"v2"
    table.write_pending()
    assert database(3).get(encode_key("c-1")) is None
    database(3).put(encode_key("c-1"), b"restored")  # as Faust's recovery writes: after a batch, the store decides
    assert table.get("c-1", 3) == b"restored"
    key = encode_key("c-1")
    assert sent.records == [("app-profiles-changelog", key, b"v1", 3), ("app-profiles-changelog", key, b"v2", 3),
                            ("app-profiles-changelog", key, None, 3)]


OPERATIONS = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 2), st.one_of(st.none(), st.binary(max_size=8))),
                      max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(OPERATIONS, min_size=1, max_size=4))
def test_batched_writes_leave_what_writes_one_at_a_time_would(tmp_path_factory: Any, batches: list[Any]) -> None:
    table, database, _ = table_on(tmp_path_factory.mktemp("rocksdb"))
    model: dict[tuple[str, int], bytes] = {}
    for batch in batches:
        for key, partition, value in batch:
            if value is None:
                table.delete(key, partition)
                model.pop((key, partition), None)
            else:
                table.set(key, value, partition)
                model[(key, partition)] = value
            assert table.get(key, partition) == model.get((key, partition))
        table.write_pending()
    for key in "abc":
        for partition in range(3):
            assert database(partition).get(encode_key(key)) == model.get((key, partition))
