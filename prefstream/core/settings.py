"""Settings shared by every prefstream process.

Precedence: environment variables, then the config file, then defaults. The config file is
`prefstream.toml` in the working directory, or the path in `PREFSTREAM_CONFIG`.

    [kafka]
    bootstrap = "broker-1:9092,broker-2:9092"   # an external cluster: nothing is started locally
    partitions = 12
    replication = 3                               # replication factor of the topics prefstream creates

    [local]
    home = ".prefstream"                          # where the local broker keeps its data and logs
    port = 19092                                  # the broker; the controller listens on port + 1
    server_properties = "deploy/kafka/server.properties"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefstream.core import ports
from prefstream.errors import EXIT_SETUP, PrefstreamError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FETCH_WAIT_MS = 20  # the longest a processor fetch waits at the broker (Faust fixes 1,500)
DEFAULT_FETCH_MIN_BYTES = 1024 * 1024  # what lets a processor fetch return sooner (Faust fixes 1 byte)


class ConfigError(PrefstreamError):
    """A setting is missing or malformed; the message says which and how to fix it."""

    exit_code = EXIT_SETUP


@dataclass(frozen=True)
class Settings:
    """Everything a prefstream process needs to find Kafka and its local files."""

    home: Path
    bootstrap: str | None
    local_port: int
    controller_port: int
    partitions: int
    replication: int
    kafka_lib: Path
    kafka_properties: Path

    @property
    def external(self) -> bool:
        """True when an external cluster is configured and nothing is started locally."""
        return self.bootstrap is not None

    @property
    def bootstrap_servers(self) -> str:
        """The bootstrap address clients connect to: the external cluster or the local broker."""
        return self.bootstrap or f"127.0.0.1:{self.local_port}"


def _config_file() -> dict[str, Any]:
    path = Path(os.environ.get("PREFSTREAM_CONFIG", "prefstream.toml"))
    if not path.exists():
        if "PREFSTREAM_CONFIG" in os.environ:
            raise ConfigError(f"config file {path} (PREFSTREAM_CONFIG) does not exist")
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be positive, got {number}")
    return number


def load_settings() -> Settings:
    """Read the settings from the environment and the config file."""
    config = _config_file()
    kafka = config.get("kafka", {})
    local = config.get("local", {})
    env = os.environ
    home = Path(env.get("PREFSTREAM_HOME") or local.get("home") or PROJECT_ROOT / ".prefstream")
    port = _int(env.get("PREFSTREAM_KAFKA_PORT") or local.get("port") or ports.KAFKA, "the local Kafka port")
    controller = env.get("PREFSTREAM_CONTROLLER_PORT") or local.get("controller_port") or port + 1
    return Settings(
        home=home.resolve(),
        bootstrap=env.get("KAFKA_BOOTSTRAP") or kafka.get("bootstrap") or None,
        local_port=port,
        controller_port=_int(controller, "the local controller port"),
        partitions=_int(env.get("PREFSTREAM_PARTITIONS") or kafka.get("partitions") or 12, "partitions"),
        replication=_int(env.get("PREFSTREAM_REPLICATION") or kafka.get("replication") or 1, "replication"),
        kafka_lib=Path(env.get("PREFSTREAM_KAFKA_LIB") or PROJECT_ROOT / ".prefstream" / "kafka" / "lib"),
        kafka_properties=Path(
            env.get("PREFSTREAM_KAFKA_PROPERTIES")
            or local.get("server_properties")
            or PROJECT_ROOT / "deploy" / "kafka" / "server.properties"
        ),
    )
