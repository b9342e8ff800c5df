"""The sinks' TOML configuration: one table per business unit, each with a projection, an
optional filter and a target. The file is `sinks.toml` in the working directory, or the path in
`PREFSTREAM_SINKS`. See deploy/sinks.example.toml for a documented example.

A malformed file raises `prefstream.core.settings.ConfigError` with one line naming the problem.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefstream.core.settings import ConfigError
from prefstream.core.topics import PROFILES
from schemas.vocabulary import CHANNELS

SECTIONS = ("contact_points", "consents", "topics", "frequencies", "pauses", "quiet_hours", "attributes",
            "suppressions", "reachable")
TARGET_TYPES = ("webhook", "sql", "topic", "file")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class Filter:
    """Which profiles a business unit receives; a profile must pass every condition given.

    `reachable_on`: reachable, per the profile's `reachable`, on at least one of these channels.
    `consent`: holds an opt-in for this channel (and purpose, default marketing).
    """

    reachable_on: tuple[str, ...] = ()
    consent_channel: str | None = None
    consent_purpose: str = "marketing"


@dataclass(frozen=True)
class Retry:
    """Retry budget of a delivery: attempts, then exponential backoff with full jitter."""

    max_attempts: int = 8
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


@dataclass(frozen=True)
class SinkConfig:
    """One business unit: what it receives, where it goes, how it is batched."""

    name: str
    sections: tuple[str, ...]
    purposes: tuple[str, ...] | None
    include_provenance: bool
    filter: Filter
    target: dict[str, Any]
    retry: Retry
    batch_size: int
    batch_seconds: float
    metrics_port: int | None
    metrics_host: str
    session_timeout_seconds: float = 10.0
    max_poll_interval_seconds: float = 300.0
    instance_id: str | None = None
    source_topic: str = PROFILES

    @property
    def group_id(self) -> str:
        """The business unit's own consumer group."""
        return f"prefstream-sink-{self.name}"

    @property
    def dlq_topic(self) -> str:
        """The business unit's dead-letter topic."""
        return f"customer-profiles-dlq-{self.name}"


def config_path() -> Path:
    """The sinks file: `PREFSTREAM_SINKS`, else `sinks.toml` in the working directory."""
    return Path(os.environ.get("PREFSTREAM_SINKS", "sinks.toml"))


def load_sinks(path: Path | None = None) -> dict[str, SinkConfig]:
    """Every business unit of the sinks file, by name."""
    path = path or config_path()
    if not path.exists():
        raise ConfigError(f"sinks config {path} does not exist (set PREFSTREAM_SINKS or create sinks.toml; "
                          "see deploy/sinks.example.toml)")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"sinks config {path} is not valid TOML: {error}") from None
    return parse_sinks(data, str(path))


def parse_sinks(data: dict[str, Any], origin: str = "sinks config") -> dict[str, SinkConfig]:
    """Validate the parsed TOML; every problem is a ConfigError naming the setting."""
    units = data.get("business_units")
    if not isinstance(units, dict) or not units:
        raise ConfigError(f"{origin}: no [business_units.<name>] tables")
    defaults = _table(data.get("defaults", {}), "[defaults]", origin)
    source = data.get("source_topic", PROFILES)
    if not isinstance(source, str) or not source:
        raise ConfigError(f"{origin}: source_topic must be a topic name")
    return {name: _unit(name, _table(unit, f"[business_units.{name}]", origin), defaults, source, origin)
            for name, unit in units.items()}


def _table(value: Any, where: str, origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: {where} must be a table")
    return value


def _unit(name: str, unit: dict[str, Any], defaults: dict[str, Any], source: str, origin: str) -> SinkConfig:
    where = f"{origin}: business unit {name!r}"
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{origin}: business unit name {name!r} must be lowercase letters, digits, '-' or '_'")
    known = {"sections", "purposes", "include_provenance", "filter", "target", "retry", "batch_size",
             "batch_seconds", "metrics_port", "metrics_host", "session_timeout_seconds", "max_poll_interval_seconds",
             "instance_id"}
    unknown = sorted(set(unit) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    setting = {**defaults, **unit}
    sections = setting.get("sections")
    if not isinstance(sections, list) or not sections or any(s not in SECTIONS for s in sections):
        raise ConfigError(f"{where}: sections must be a non-empty list of {', '.join(SECTIONS)}")
    purposes = setting.get("purposes")
    if purposes is not None and (not isinstance(purposes, list) or not all(isinstance(p, str) for p in purposes)):
        raise ConfigError(f"{where}: purposes must be a list of strings")
    session_timeout = _positive(setting.get("session_timeout_seconds", 10.0), "session_timeout_seconds", where, float)
    max_poll_interval = _positive(setting.get("max_poll_interval_seconds", 300.0), "max_poll_interval_seconds", where, float)
    if max_poll_interval < session_timeout:
        raise ConfigError(f"{where}: max_poll_interval_seconds must be at least session_timeout_seconds")
    port = setting.get("metrics_port")
    if port is not None and (not isinstance(port, int) or not 0 <= port < 65536):
        raise ConfigError(f"{where}: metrics_port must be a port number")
    return SinkConfig(
        name=name,
        sections=tuple(sections),
        purposes=tuple(purposes) if purposes is not None else None,
        include_provenance=_bool(setting.get("include_provenance", False), "include_provenance", where),
        filter=_filter(_table(setting.get("filter", {}), "filter", where), where),
        target=_target(_table(setting.get("target"), "target", where) if "target" in setting else None, name, where),
        retry=_retry(_table(setting.get("retry", {}), "retry", where), where),
        batch_size=_positive(setting.get("batch_size", 500), "batch_size", where, int),
        batch_seconds=_positive(setting.get("batch_seconds", 1.0), "batch_seconds", where, float),
        metrics_port=port,
        metrics_host=str(setting.get("metrics_host", "127.0.0.1")),
        session_timeout_seconds=session_timeout,
        max_poll_interval_seconds=max_poll_interval,
        instance_id=str(unit["instance_id"]) if unit.get("instance_id") else None,
        source_topic=source,
    )


def _bool(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false")
    return value


def _positive(value: Any, key: str, where: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (kind is int and not isinstance(value, int)):
        raise ConfigError(f"{where}: {key} must be a positive {'integer' if kind is int else 'number'}, got {value!r}")
    return kind(value)


def _filter(table: dict[str, Any], where: str) -> Filter:
    unknown = sorted(set(table) - {"reachable_on", "consent"})
    if unknown:
        raise ConfigError(f"{where}: unknown filter setting(s) {', '.join(unknown)}")
    reachable_on = table.get("reachable_on", [])
    if not isinstance(reachable_on, list) or any(c not in CHANNELS for c in reachable_on):
        raise ConfigError(f"{where}: filter.reachable_on must be a list of {', '.join(CHANNELS)}")
    consent = table.get("consent")
    if consent is None:
        return Filter(tuple(reachable_on))
    if isinstance(consent, str):
        consent = {"channel": consent}
    if not isinstance(consent, dict) or consent.get("channel") not in CHANNELS:
        raise ConfigError(f"{where}: filter.consent must name a channel ({', '.join(CHANNELS)})")
    return Filter(tuple(reachable_on), consent["channel"], str(consent.get("purpose", "marketing")))


def _retry(table: dict[str, Any], where: str) -> Retry:
    unknown = sorted(set(table) - {"max_attempts", "backoff_initial", "backoff_max"})
    if unknown:
        raise ConfigError(f"{where}: unknown retry setting(s) {', '.join(unknown)}")
    return Retry(
        max_attempts=_positive(table.get("max_attempts", 8), "retry.max_attempts", where, int),
        backoff_initial=_positive(table.get("backoff_initial", 0.5), "retry.backoff_initial", where, float),
        backoff_max=_positive(table.get("backoff_max", 30.0), "retry.backoff_max", where, float),
    )


_REQUIRED = {"webhook": ("url",), "sql": (), "topic": (), "file": ("path",)}


def _target(table: dict[str, Any] | None, name: str, where: str) -> dict[str, Any]:
    if table is None:
        raise ConfigError(f"{where}: no [target] table")
    kind = table.get("type")
    if kind not in TARGET_TYPES:
        raise ConfigError(f"{where}: target.type must be one of {', '.join(TARGET_TYPES)}, got {kind!r}")
    missing = [key for key in _REQUIRED[kind] if not table.get(key)]
    if missing:
        raise ConfigError(f"{where}: {kind} target needs {', '.join(missing)}")
    target = dict(table)
    if kind == "webhook":
        if not str(target["url"]).startswith(("http://", "https://")):
            raise ConfigError(f"{where}: webhook url must start with http:// or https://")
        target["secret"] = _secret(target, name, where)
        target["timeout_seconds"] = _positive(target.get("timeout_seconds", 10.0), "target.timeout_seconds", where, float)
        target["concurrency"] = _positive(target.get("concurrency", 16), "target.concurrency", where, int)
    if kind == "sql":
        target.setdefault("dsn", f"sqlite:///prefstream-sink-{name}.db")
        target.setdefault("table", f"profiles_{name.replace('-', '_')}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,54}", str(target["table"])):  # + "_offsets" <= 63
            raise ConfigError(f"{where}: target.table must be a plain SQL identifier of at most 55 characters")
        if not str(target["dsn"]).startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError(f"{where}: target.dsn must start with sqlite:/// or postgresql://")
    if kind == "topic":
        target.setdefault("topic", f"customer-profiles-{name}")
    return target


def _secret(target: dict[str, Any], name: str, where: str) -> str:
    """The HMAC secret: `secret_env` names an environment variable (preferred), or `secret`."""
    env_name = target.get("secret_env") or f"PREFSTREAM_SINK_{name.upper().replace('-', '_')}_SECRET"
    secret = os.environ.get(env_name) or target.get("secret")
    if not secret:
        raise ConfigError(f"{where}: webhook secret missing (set ${env_name} or target.secret)")
    return str(secret)
