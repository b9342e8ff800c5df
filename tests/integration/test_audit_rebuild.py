"""`prefstream rebuild` against the real broker: a worker of a new app id reprocesses the log, then stops."""

from __future__ import annotations

from pathlib import Path

from prefstream.settings import Settings
from prefstream.topics import PROFILES, create_topics
from processors.fold import fold, profile_bytes, profile_time
from tests import factories as f
from tests.conftest import free_port
from tests.integration.helpers import publish, read_latest
from tests.integration.test_audit import cli


def test_rebuild_reprocesses_the_log_under_a_new_app_id_and_stops_its_worker(kafka: Settings, unique: str, tmp_path: Path) -> None:
    create_topics(kafka)
    customer = f"{unique}-rebuilt"
    events = [f.event(customer, [f.consent("EMAIL", "OPTED_IN")], f.at(0)), f.event(customer, [f.topic("sale", True)], f.at(1))]
    publish(kafka, events)
    done = cli(kafka, "rebuild", "--app-id", f"rebuild-{unique}", "--web-port", str(free_port()),
               "--data-dir", str(tmp_path / "state"), "--timeout", "120")
    assert done.returncode == 0, done.stderr
    assert "caught up" in done.stdout and "was stopped" in done.stdout
    state = fold(customer, events)
    expected = profile_bytes(state, profile_time(state))
    latest = read_latest(kafka, PROFILES, lambda got: got.get(customer.encode()) == expected, timeout=30)
    assert latest.get(customer.encode()) == expected
