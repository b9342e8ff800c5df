"""The JSON Lines file target: one document per delivery, appended; an erasure leaves no line of
the customer (no profile, no email, not even the id), every other line kept in its order; correct
when batches are delivered again, and a crash mid-rewrite leaves the old file or the new one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefstream.core.settings import PROJECT_ROOT
from sinks.delivery import Delivery, Source
from sinks.targets.file import FileTarget
from tests import sink_reference as reference


def _source(customer: str, offset: int) -> Source:
    return Source("customer-profiles", 0, offset, customer.encode(), b"", 0)


def upsert(customer: str, version: int, offset: int = 0) -> Delivery:
    """A projected profile holding the customer's email."""
    profile = {"customer_id": customer, "version": version, "updated_at": f"2026-03-01T12:{version:02d}:00.000Z",
               "contact_points": [{"kind": "EMAIL", "primary": True, "value": f"{customer}@example.com"}]}
    return Delivery(customer, version, profile, _source(customer, offset))


def left_filter(customer: str, version: int, offset: int = 0) -> Delivery:
    return Delivery(customer, version, None, _source(customer, offset))


def erasure(customer: str, offset: int = 0) -> Delivery:
    return Delivery(customer, None, None, _source(customer, offset), erased=True)


def line(customer: str, version: int) -> dict[str, Any]:
    """The document of `upsert(customer, version)`, written out."""
    return {"customer_id": customer, "version": version, "deleted": False, "erased": False,
            "profile": {"customer_id": customer, "version": version, "updated_at": f"2026-03-01T12:{version:02d}:00.000Z",
                        "contact_points": [{"kind": "EMAIL", "primary": True, "value": f"{customer}@example.com"}]}}


def deleted_line(customer: str, version: int) -> dict[str, Any]:
    return {"customer_id": customer, "version": version, "deleted": True, "erased": False, "profile": None}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_bytes().splitlines()]


def opened(path: Path) -> FileTarget:
    target = FileTarget(path)
    target.open()
    return target


# The history the crash tests start from, and the batch that erases ann while bob moves on.
BEFORE = [[upsert("ann", 1), upsert("bob", 1)], [upsert("ann", 2), upsert("cid", 1)]]
ERASING = [erasure("ann"), upsert("bob", 3)]
AFTER = [line("bob", 1), line("cid", 1), line("bob", 3)]


def test_an_erasure_removes_every_line_of_the_customer_and_keeps_the_others_in_order(tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    target = opened(path)
    for batch in [*BEFORE, [left_filter("bob", 2)], ERASING]:
        assert target.write(batch) == []
    target.close()
    assert lines(path) == [line("bob", 1), line("cid", 1), deleted_line("bob", 2), line("bob", 3)]
    assert b"ann" not in path.read_bytes()  # not the email, not the profile, not the id


def test_an_erasure_delivered_again_changes_nothing_more(tmp_path: Path) -> None:
    """A crash before the commit redelivers the batch, or a longer one from the last commit."""
    path = tmp_path / "archive.jsonl"
    target = opened(path)
    for batch in [*BEFORE, ERASING, ERASING, [upsert("ann", 2), *ERASING]]:
        target.write(batch)
    target.close()
    assert lines(path) == [line("bob", 1), line("cid", 1), line("bob", 3), line("bob", 3), line("bob", 3)]
    assert b"ann" not in path.read_bytes()


def test_a_customer_erased_then_back_in_one_batch_keeps_only_what_came_after(tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    target = opened(path)
    target.write([upsert("ann", 1), upsert("bob", 1)])
    target.write([upsert("ann", 2), erasure("ann"), upsert("ann", 4), upsert("bob", 2)])
    target.close()
    assert lines(path) == [line("bob", 1), line("ann", 4), line("bob", 2)]


def test_a_torn_last_line_from_a_crash_is_dropped_before_the_next_write(tmp_path: Path) -> None:
    """A crash mid-append leaves part of a line its batch never acknowledged; it is redelivered."""
    path = tmp_path / "archive.jsonl"
    target = opened(path)
    target.write([upsert("ann", 1)])
    target.close()
    with path.open("ab") as handle:
        handle.write(b'{"customer_id":"bob","deleted":false,"erased":false,"profile":{"customer_id":"b')
    target = opened(path)
    target.write([upsert("bob", 1), erasure("cid")])
    target.close()
    assert lines(path) == [line("ann", 1), line("bob", 1)]


def test_the_rewrite_is_synced_before_it_replaces_the_file_and_the_folder_after(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash (power loss included) leaves the old file or the new one, never a half file."""
    path = tmp_path / "archive.jsonl"
    target = opened(path)
    for batch in BEFORE:
        target.write(batch)
    calls: list[tuple[str, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    def rename(source: str, destination: str) -> None:
        calls.append(("rename", str(source), str(destination)))
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", rename)
    monkeypatch.setattr(os, "rename", rename)
    target.write(ERASING)
    monkeypatch.setattr(os, "fsync", real_fsync)
    target.close()
    renames = [step for step in calls if step[0] == "rename"]
    assert len(renames) == 1 and renames[0][2] == str(path), calls
    temporary = renames[0][1]
    assert Path(temporary).parent == tmp_path  # the same folder: the rename is atomic
    where = calls.index(renames[0])
    assert ("fsync", temporary) in calls[:where], calls  # the new file's content is durable before it replaces
    assert ("fsync", str(tmp_path)) in calls[where:], calls  # and the rename itself is durable after
    assert lines(path) == AFTER


CRASH = """
import os, signal, sys
from pathlib import Path
from tests.unit.test_sink_file import ERASING
from sinks.targets.file import FileTarget

path, kill_at = Path(sys.argv[1]), sys.argv[2]
renamed = False

def die(event, args):
    global renamed
    if renamed and event != "os.kill":  # the first thing done after the rename into place
        os.kill(os.getpid(), signal.SIGKILL)
    if event == "os.rename" and Path(args[1]) == path:
        if kill_at == "before-rename":
            os.kill(os.getpid(), signal.SIGKILL)
        renamed = True

target = FileTarget(path)
target.open()
sys.addaudithook(die)
target.write(ERASING)
"""


@pytest.mark.parametrize("kill_at", ["before-rename", "after-rename"])
def test_kill_9_mid_rewrite_leaves_the_old_or_the_new_file_and_the_redelivery_completes_it(tmp_path: Path,
                                                                                           kill_at: str) -> None:
    path = tmp_path / "archive.jsonl"
    target = opened(path)
    for batch in BEFORE:
        target.write(batch)
    target.close()
    old = path.read_bytes()
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(path), kill_at], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=60)
    assert crashed.returncode == -signal.SIGKILL, f"the rewrite never renamed a file into place: {crashed.stderr}"
    if kill_at == "before-rename":
        assert path.read_bytes() == old
    else:
        assert lines(path) == [line("bob", 1), line("cid", 1)]  # the old lines but ann's; the batch not appended yet
    target = opened(path)  # the restart: the uncommitted batch is delivered again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.jsonl"]  # no half-written copy left behind
    target.write(ERASING)
    target.close()
    assert lines(path) == AFTER


# A partition's log: each record a customer's next step.
UPSERT, LEFT_FILTER, ERASE = "upsert", "left-filter", "erase"
steps = st.lists(st.tuples(st.sampled_from(["ann", "bob", "cid"]),
                           st.sampled_from([UPSERT, UPSERT, UPSERT, LEFT_FILTER, ERASE])), min_size=1, max_size=30)
# How it is delivered: batches of `size` records; a crash before the commit redelivers from the last commit.
batches = st.lists(st.tuples(st.integers(1, 8), st.booleans()), max_size=12)


@settings(max_examples=80, deadline=None)
@given(log_steps=steps, deliveries=batches, runner_collapses=st.booleans())
def test_at_least_once_delivery_of_the_log_leaves_each_customers_latest_and_nothing_before_an_erasure(
        log_steps: list[tuple[str, str]], deliveries: list[tuple[int, bool]], runner_collapses: bool) -> None:
    log = []
    for offset, (customer, kind) in enumerate(log_steps):  # `offset + 1` is a version unique in the log
        log.append({UPSERT: upsert, LEFT_FILTER: left_filter}[kind](customer, offset + 1, offset) if kind != ERASE
                   else erasure(customer, offset))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "archive.jsonl"
        target = opened(path)
        committed = 0
        for size, crashed in [*deliveries, (len(log), False)]:  # the last batch reaches the end of the log
            batch = log[committed:committed + size]
            target.write(reference.collapse(batch) if runner_collapses else batch)
            if crashed:  # killed before the commit: the restarted sink opens the file again
                target.close()
                target = opened(path)
            else:
                committed += len(batch)
        target.close()
        found = lines(path)
    for customer in ("ann", "bob", "cid"):
        records = [(offset, d) for offset, d in enumerate(log) if d.customer_id == customer]
        erased_at = max((offset for offset, d in records if d.erased), default=-1)
        mine = [document for document in found if document["customer_id"] == customer]
        assert all(document["version"] > erased_at + 1 for document in mine), "a line from before an erasure remains"
        if not records or records[-1][1].erased:
            assert mine == []
            continue
        last_offset, last = records[-1]
        assert mine, f"{customer}'s latest line is missing"
        assert mine[-1] == (line(customer, last_offset + 1) if last.profile is not None
                            else deleted_line(customer, last_offset + 1))
