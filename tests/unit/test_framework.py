"""The processor's hooks into Faust and aiokafka (processors/runtime/framework.py) fit the pinned versions:
table keys written as Faust's serializer writes them, the consumer built with the fetch window, every
upstream function a hook depends on unchanged since the hook was written, and the versions checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.runtime import framework
from processors.runtime.durable_table import encode_key


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

        async def handle(_batch: list) -> None: ...

        framework.install(worker, sources=("t",), handle=handle, batch_max=10, fetch_wait_ms=20, fetch_min_bytes=4096,
                          positioned=lambda generation, committed, earliest: None)
        consumer = worker.consumer._thread._create_worker_consumer(worker.transport)  # noqa: SLF001 (what Faust calls)
        return int(consumer._fetch_max_wait_ms), int(consumer._fetch_min_bytes)  # noqa: SLF001

    assert asyncio.run(build()) == (20, 4096)


def test_every_upstream_function_a_hook_depends_on_is_the_one_it_was_written_for() -> None:
    assert framework.changed_upstream() == []


def test_a_changed_upstream_function_is_named() -> None:
    changed = "faust.transport.consumer:Consumer._drain_messages"

    def source_of(name: str) -> str:
        source = framework.upstream_source(name)
        return source + "\n# a release changed this\n" if name == changed else source

    problems = framework.changed_upstream(source_of)
    assert len(problems) == 1 and problems[0].startswith(f"{changed}: its source changed")


def test_the_worker_refuses_other_framework_versions_in_one_line() -> None:
    framework.check_versions()  # the pinned ones are installed
    with pytest.raises(framework.FrameworkMismatch) as refused:
        framework.check_versions(lambda package: "0.16.0" if package == "faust-streaming" else framework.PINNED[package])
    message = str(refused.value)
    assert "\n" not in message and message.startswith("faust-streaming 0.16.0 is installed") and "0.15.3" in message
    assert refused.value.exit_code == 3
