"""What the processor does beside Faust's own machinery must match it: table keys written to
RocksDB and the changelog exactly as Faust's serializer writes them (its recovery and the query
views read them), and the consumer built with the processor's fetch window."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.durable_table import encode_key
from processors.fetching import tune_fetches


def app(tmp_path: Path) -> faust.App:
    return faust.App("prefstream-hooks-test", broker="kafka://127.0.0.1:1", store="memory://", datadir=str(tmp_path))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_table_keys_are_encoded_as_faust_encodes_them(key: str) -> None:
    table = faust.App("prefstream-keys-test", broker="kafka://127.0.0.1:1", store="memory://").Table(
        "profiles", key_type=str, value_type=bytes)
    assert encode_key(key) == table.changelog_topic.prepare_key(key, table.key_serializer)[0]


def test_the_consumer_is_built_with_the_tuned_fetch_window(tmp_path: Path) -> None:
    async def build() -> tuple[int, int]:
        worker = app(tmp_path)
        tune_fetches(worker, 20, 4096)
        thread = worker.consumer._thread
        consumer = thread._create_worker_consumer(worker.transport)
        return int(consumer._fetch_max_wait_ms), int(consumer._fetch_min_bytes)

    assert asyncio.run(build()) == (20, 4096)
