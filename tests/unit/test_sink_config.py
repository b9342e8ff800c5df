"""The sinks TOML: the shipped example loads; every mistake is one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefstream.core.settings import PROJECT_ROOT, ConfigError
from sinks.config import load_sinks, parse_sinks


def test_the_shipped_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETING_WEBHOOK_SECRET", "s3cret")
    units = load_sinks(PROJECT_ROOT / "deploy" / "sinks.example.toml")
    assert {"marketing", "support"} <= set(units)
    assert {u.target["type"] for u in units.values()} >= {"webhook", "sql", "file"}
    marketing, support = units["marketing"], units["support"]
    assert marketing.group_id == "prefstream-sink-marketing"
    assert marketing.dlq_topic == "customer-profiles-dlq-marketing"
    assert marketing.target["secret"] == "s3cret"
    assert marketing.sections == ("consents", "topics", "frequencies", "reachable")
    assert support.sections == ("contact_points", "consents") and support.purposes == ("service",)
    assert marketing.batch_size == 500 and marketing.filter.reachable_on == ("EMAIL", "SMS")


def base(**unit: object) -> dict:
    return {"business_units": {"bu": {"sections": ["consents"], "target": {"type": "file", "path": "x"}, **unit}}}


@pytest.mark.parametrize(("data", "message"), [
    ({}, "no [business_units"),
    (base(sections=[]), "sections must be"),
    (base(sections=["consents", "ssn"]), "sections must be"),
    (base(target={"type": "ftp"}), "target.type must be one of"),
    (base(target={"type": "file"}), "file target needs path"),
    (base(target={"type": "webhook", "url": "ftp://x", "secret": "s"}), "url must start"),
    (base(target={"type": "webhook", "url": "http://x"}), "webhook secret missing"),
    (base(target={"type": "sql", "dsn": "mysql://x"}), "dsn must start"),
    (base(target={"type": "sql", "table": "x; drop table y"}), "plain SQL identifier"),
    (base(batch_size=0), "batch_size must be a positive integer"),
    (base(batch_seconds="soon"), "batch_seconds must be a positive number"),
    (base(filter={"reachable_on": ["FAX"]}), "reachable_on"),
    (base(filter={"consent": {"channel": "FAX"}}), "filter.consent"),
    (base(retry={"max_attempts": -1}), "retry.max_attempts"),
    (base(colour="red"), "unknown setting(s) colour"),
    (base(session_timeout_seconds=30, max_poll_interval_seconds=20), "max_poll_interval_seconds must be at least"),
    (base(target={"type": "sql", "table": "t" * 56}), "at most 55 characters"),
    ({"business_units": {"Bad Name": {}}}, "must be lowercase"),
])
def test_mistakes_are_one_clear_error(data: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFSTREAM_SINK_BU_SECRET", raising=False)
    with pytest.raises(ConfigError) as error:
        parse_sinks(data)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_defaults_apply_and_secret_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFSTREAM_SINK_BU_SECRET", "from-env")
    data = base(target={"type": "webhook", "url": "http://127.0.0.1:1/"}) | {"defaults": {"batch_size": 7}}
    unit = parse_sinks(data)["bu"]
    assert unit.batch_size == 7 and unit.target["secret"] == "from-env"
    sql = parse_sinks(base(target={"type": "sql"}))["bu"]
    assert sql.target["dsn"] == "sqlite:///prefstream-sink-bu.db" and sql.target["table"] == "profiles_bu"


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_sinks(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[business_units.x\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sinks(broken)
